// BackupCoordinator: the one place a running host calls its backup providers
// from. It runs at most one *operation* per host at a time (backup, verify,
// delete, expire): a second request is refused with Busy naming the running
// one, so an operator never has two jobs racing on a repository or on the
// host's disks. A backup runs on a worker thread of its own and reports
// progress through its bkp_operation; verify, delete and expire run on the
// caller's thread but are registered as the operation all the same, so
// status shows them and cancel reaches them.
//
// Listing backups is not an operation (it is read-only and quick), but the
// ABI still allows one call at a time per provider instance, so every
// provider call, list included, marks that provider in use. A list on the
// provider the running operation uses is refused at once with Busy (it would
// wait for the whole backup); a list racing another list waits briefly.
//
// The calls themselves are plugin_host/provider_calls.h's; the offline
// `hostd backup` commands, which own their provider instance outright, make
// them without the coordinator.
//
// Thread-safety: every public member of BackupCoordinator may be called from
// any thread concurrently, except the destructor, which must not race other
// calls (stop the admin server first). The destructor cancels a running
// backup and joins its thread. Progress callbacks arrive on the plugin's
// threads and only update the snapshot under the coordinator's lock.
// Ownership: the EventStore and the ProviderRegistry are borrowed and must
// outlive the coordinator.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "backup/operation.h"
#include "backup/restore_drill.h"
#include "backup/restore_sink.h"
#include "bkp/bkp_plugin.h"
#include "config/host_config.h"
#include "plugin_host/host_handles.h"
#include "plugin_host/provider_calls.h"
#include "plugin_host/provider_registry.h"
#include "storage/event_store.h"
#include "storage/point_in_time.h"
#include "util/status.h"

namespace hoststub {

// What a per-context restore into the running host tells its continuous
// archivers (archive/segment_archiver.h, a layer above; hostd serve sets
// them). `hold` stops every archiver shipping and says what their archives
// hold; `resume` lets them go on, with true after the directory moved to a
// new timeline (they start over on it). Both are called on the restore's
// worker, in pairs.
struct ArchiveHold {
  size_t archivers = 0;
  uint32_t newest_timeline = 0;  // the highest any of their archives holds
  bool knows_context = false;    // any of them holds the context on the directory's timeline
};
struct RestoreArchiveHooks {
  std::function<ArchiveHold(const std::string& context)> hold;
  std::function<void(bool timeline_changed)> resume;
};

class BackupCoordinator {
 public:
  BackupCoordinator(EventStore& store, ProviderRegistry& providers,
                    OperationObserver observer = nullptr);
  // Cancels a running backup and waits for its thread.
  ~BackupCoordinator();
  BackupCoordinator(const BackupCoordinator&) = delete;
  BackupCoordinator& operator=(const BackupCoordinator&) = delete;

  // The configured providers (for listing them; calls go through the
  // members below).
  const ProviderRegistry& providers() const { return providers_; }

  // The provider named `name`; with an empty name, the only configured one.
  // NotFound / InvalidArgument name the configured providers.
  Result<std::shared_ptr<LoadedProvider>> ResolveProvider(std::string_view name) const;

  // Starts a backup (BKP_BACKUP_FULL or _INCREMENTAL) through the provider on
  // a worker thread and returns its first snapshot at once. While another
  // operation runs, waits up to `queue_wait` for it to end (0: not at all),
  // then Busy ("backup in progress: operation 3 (...)"); waiters are not
  // served in order, but each gets the slot only when it is free. NotFound
  // for an unknown provider; Unsupported when it cannot take that kind of
  // backup (both at once, without waiting).
  Result<OperationSnapshot> StartBackup(std::string_view provider, uint32_t type,
                                        std::chrono::milliseconds queue_wait = {});

  // Called with each operation's final snapshot before its end is visible
  // (before Current() or WaitIdle() show it ended and before the slot is
  // free), on the thread that finished it, outside the coordinator's lock:
  // so that a record of it (ops/operation_history.h) is written before a
  // client that waited for the end can look for it. Set before the first
  // operation starts.
  void set_recorder(OperationObserver recorder) { recorder_ = std::move(recorder); }

  // [backup] pacing (config/host_config.h). With kAuto (default kOff) each
  // backup's worker thread lowers itself to the CPU and I/O idle classes
  // before the provider's call (util/thread_priority.h), so the provider's
  // threads, started from it, inherit them and appends always come first.
  // Restores, verifies and the offline commands are not paced: a restore
  // holds its context unavailable, and an offline command has no host to
  // yield to. Set before the first operation starts.
  void set_pacing(BackupPacing pacing) { pacing_ = pacing; }
  BackupPacing pacing() const { return pacing_; }
  // Whether a backup is running now with its threads in the idle classes
  // (for /metrics).
  bool backup_in_background() const { return backup_in_background_.load(); }

  // Restores one context of a backup (or a point in time) into the running
  // host on a worker thread, and returns its first snapshot at once. The
  // context is marked as being restored for the operation's length (its
  // appends fail with Busy; reads and other contexts go on) and swapped in
  // atomically at the end (EventStore::InstallRestoredContext). Refused
  // before anything runs: Busy while another operation (or a restore of the
  // same context) runs, Refused when the context exists under the safe
  // policy, NotFound for an unknown provider, Unsupported when it cannot
  // restore that. Cancel leaves the host as it was.
  Result<OperationSnapshot> StartRestore(std::string_view provider, std::string_view backup_id,
                                         const ContextRestore& what, const RestoreTarget& point);

  // Set before the first restore (hostd serve, once its archivers run).
  void SetRestoreArchiveHooks(RestoreArchiveHooks hooks);

  // The running operation, else the last one; nullopt before the first.
  std::optional<OperationSnapshot> Current() const;

  // Asks the running operation to stop (the provider sees op_cancelled) and
  // returns its snapshot; it ends as soon as the provider notices. NotFound
  // when nothing runs.
  Result<OperationSnapshot> Cancel();

  // For a host that is stopping: every later request for an operation is
  // refused (Busy, "hostd is stopping"), requests queued behind the running
  // one give up at once instead of starting when it ends, and the running
  // one is cancelled (returned as Cancel() does).
  Result<OperationSnapshot> Shutdown();

  // Waits until no operation runs, or the timeout passes; returns Current().
  std::optional<OperationSnapshot> WaitIdle(std::chrono::milliseconds timeout) const;

  // Re-checks one backup (all of them when `backup_id` is empty), as the
  // operation, on the caller's thread. Problems found are a report, not an
  // error; an error means the verify itself could not run (unknown backup,
  // unreadable repository, cancelled).
  Result<VerifyReport> Verify(std::string_view provider, std::string_view backup_id);
  // Deletes one backup and the data only it used, as the operation.
  // `backup_id` (as for Verify) may be `latest` or a unique prefix
  // (backup/backup_ids.h); the snapshot then carries the full id.
  Status Delete(std::string_view provider, std::string_view backup_id);
  // What Delete would remove, removing nothing: the backup's listing, or
  // the error Delete would give (unknown or ambiguous id, a backup that
  // incrementals still need). Not an operation (a list, like List).
  Result<BackupListing> PlanDelete(std::string_view provider, std::string_view backup_id);
  // Applies a retention policy, as the operation; returns what it removed
  // (with policy.dry_run: what it would remove, removing nothing). The
  // tiers and the dry run are decided here from the listing
  // (backup/retention_tiers.h), the removal made one backup at a time,
  // children first, then the provider's expire drops archived segments
  // older than the oldest backup kept.
  Result<std::vector<BackupListing>> Expire(std::string_view provider,
                                            const RetentionPolicy& policy);
  // A restore drill of the provider's newest backup (backup/restore_drill.h)
  // under `scratch_root`, as the operation. An error only when it could not
  // start (Busy, unknown provider, no restore capability); a drill that ran
  // and failed is a result with ok == false (and the operation failed).
  Result<DrillResult> Drill(std::string_view provider, const std::filesystem::path& scratch_root);
  // The provider's complete backups, oldest first. Not an operation. While
  // the running operation uses the provider, the list is made through a
  // second instance of it, opened for the list and closed after (the ABI
  // allows one call per instance at a time, and a list must not wait for a
  // whole backup); Busy only when that instance cannot be opened.
  Result<std::vector<BackupListing>> List(std::string_view provider);

 private:
  struct Running;

  // A restore's swap (EventStore::InstallRestoredContext) with the
  // archivers held around it, on a new timeline when their archives know
  // the context (backup/timeline_history.h). `source`: the provider read.
  Result<std::filesystem::path> InstallWithArchivers(ContextSwapPlan plan,
                                                     const std::string& source);

  // Marks a provider instance in use for its life: the ABI allows one call
  // per instance at a time. A flag under mu_ rather than a mutex per
  // provider, so that waiting for it (a list behind another list) is a
  // bounded condition-variable wait.
  class ProviderLease;

  // What an operation asks for. Every operation (backup, verify, delete,
  // expire) takes the one path: Begin (resolve the provider, check it can
  // serve the request, claim the slot, announce the start), then Conclude
  // (call the provider under its lease, record and announce the end).
  struct OperationRequest {
    OperationKind kind = OperationKind::kBackup;
    std::string_view provider;  // empty: the only configured one
    uint32_t backup_type = 0;   // backups only
    std::string_view backup_id;
    // How long to wait for a running operation to end (0: refuse at once).
    std::chrono::milliseconds queue_wait{0};
    // What the resolved provider must be able to do (a capability, a
    // well-formed request). Checked before the slot is claimed: a request
    // that cannot work must not replace the last operation, which an
    // operator may still want to look at.
    std::function<Status(const LoadedProvider&)> check;
  };
  // An operation that holds the slot.
  struct Begun {
    std::shared_ptr<Running> running;
    std::shared_ptr<LoadedProvider> provider;
    OperationSnapshot first;  // as announced
  };
  // The provider call an operation makes; returns how the operation ended.
  using OperationCall = std::function<Status(const LoadedProvider&, bkp_operation&)>;

  // Resolve, check, claim, announce. NotFound / InvalidArgument from the
  // resolution, the check's refusal, or Busy naming the running operation;
  // nothing is announced or replaced then.
  Result<Begun> Begin(const OperationRequest& request);
  // Runs `call` under the provider's lease, on the calling thread, and
  // finishes the operation with its status (an exception from the host's
  // side of the call fails the operation rather than leaving the slot held).
  // Returns that status.
  Status Conclude(const Begun& begun, const OperationCall& call);
  // Begin, then Conclude on the caller's thread (verify, delete, expire):
  // the refusal, or the operation's status.
  Status RunOperation(const OperationRequest& request, const OperationCall& call);
  // Claims the host's operation slot, or Busy naming the holder.
  Result<std::shared_ptr<Running>> Claim(const OperationRequest& request,
                                         const LoadedProvider& provider);
  void Finish(const std::shared_ptr<Running>& running, const Status& status);
  // Within an operation's call: `spec` resolved against the provider's
  // listing (backup/backup_ids.h), and recorded as the operation's backup.
  Result<std::string> ResolveIdOfCurrent(const LoadedProvider& provider, std::string_view spec);
  static OperationSnapshot SnapshotLocked(const Running& running);
  void Notify(const OperationSnapshot& snapshot) const;

  EventStore& store_;
  ProviderRegistry& providers_;
  OperationObserver observer_;
  OperationObserver recorder_;                // set before the first operation
  BackupPacing pacing_ = BackupPacing::kOff;  // set before the first operation
  std::atomic<bool> backup_in_background_{false};
  mutable std::mutex mu_;
  RestoreArchiveHooks archive_hooks_;  // guarded by mu_
  mutable std::condition_variable idle_;
  std::condition_variable provider_released_;
  // The providers a call is in (guarded by mu_).
  std::set<const LoadedProvider*> providers_in_use_;
  std::shared_ptr<Running> current_;  // guarded by mu_: running or last
  uint64_t next_id_ = 1;              // guarded by mu_
  bool stopping_ = false;             // guarded by mu_: Shutdown() was called
  std::thread worker_;                // the last backup's thread
};

}  // namespace hoststub
