// The restore sink a provider writes a backup into: the host's
// implementation of the ABI's bkp_sink (plugin_host/host_handles.h).
// It enforces the restore order of docs/design.md §2 instead of trusting each
// plugin: exactly one control DB first, then log segments, then event
// segments, then snapshot segments, each context's stream in ascending base,
// one item open at a time, every item exactly as long as announced, and each
// item named as plugin_host/restore_rules.h says. The first violation makes the sink
// unusable.
//
// Files go to a staging directory beside the target. Only Commit (after the
// provider's restore returned BKP_OK) recovers the staged directory (which
// truncates torn tails and aligns log and events), runs the consistency
// checker on it, records its timeline (a new one when the provider said
// the restore came from a continuous archive), and then makes it the
// target directory. A failed or
// abandoned restore leaves the target as it was.
//
// Ownership: created by the host for one restore operation. Thread-safety:
// calls are serialised internally, but a plugin must still feed one item at
// a time in order.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bkp/bkp_plugin.h"
#include "plugin_host/host_handles.h"
#include "storage/checker.h"
#include "storage/context_swap.h"
#include "storage/options.h"
#include "storage/point_in_time.h"
#include "util/background_syncer.h"
#include "util/file.h"
#include "util/status.h"

namespace hoststub {

enum class RestorePolicy {
  // Refuse a target directory that exists and is not empty (the default).
  kSafe,
  // Restore anyway; the previous directory is kept aside, not deleted.
  kForce,
};

// A per-context restore: only `context` is taken from the backup (its
// control-DB rows, its log, its events), restored as `as`.
struct ContextRestore {
  std::string context;
  std::string as;  // empty: under its own name
  RestorePolicy policy = RestorePolicy::kSafe;
  const std::string& name() const { return as.empty() ? context : as; }
};

// Makes a staged, recovered and checked context live (storage/
// context_swap.h's SwapInContext, on a stopped directory or in the running
// store). Returns where the old context was set aside (empty: there was
// none); Refused when it exists and the plan does not keep it aside.
using ContextInstaller = std::function<Result<std::filesystem::path>(const ContextSwapPlan& plan)>;

struct RestoreReport {
  std::filesystem::path data_dir;
  // A per-context restore: the context made live (its --as name).
  std::string context;
  // Where the previous content of data_dir was moved (force policy), if any.
  std::filesystem::path previous_moved_to;
  uint64_t files = 0;
  uint64_t bytes = 0;
  std::vector<std::string> recovery_notes;
  CheckReport check;
  // A point-in-time restore: what each context holds after the cut.
  std::vector<CutReport> cut;
  // The timeline the restored directory is on, and, when the restore
  // started it (the provider called sink_timeline), the one it branched from.
  uint32_t timeline = 1;
  std::optional<uint32_t> branched_from;
  // Where the time went after the provider fed the last byte: waiting for
  // the disk, cutting to the point in time, recovery, the check. For the
  // operator's report of a slow restore.
  std::chrono::duration<double> sync_time{}, cut_time{}, recovery_time{}, check_time{};
};

class RestoreSink final : public bkp_sink {
 public:
  // Checks the policy against `target` (Refused: not empty under kSafe;
  // Busy: a running host holds it) and prepares an empty staging directory.
  // With a point in time set, Commit cuts what was fed back to it.
  static Result<std::unique_ptr<RestoreSink>> Create(const std::filesystem::path& target,
                                                     RestorePolicy policy,
                                                     const RestoreTarget& point_in_time = {});
  // A per-context restore into `data_dir` (which need not exist): staging
  // under DATA/.context-restore/, items of other contexts read and dropped.
  // The caller keeps other restores and, offline, other hosts away.
  static Result<std::unique_ptr<RestoreSink>> CreateForContext(
      const std::filesystem::path& data_dir, ContextRestore what,
      const RestoreTarget& point_in_time = {});
  // Removes the staging directory unless Commit succeeded.
  ~RestoreSink() override;

  // See bkp_host_services.sink_begin / sink_write / sink_end.
  bkp_status Begin(const bkp_item& item, std::string* error) override;
  bkp_status Write(const void* data, size_t len, std::string* error) override;
  bkp_status End(std::string* error) override;
  // See bkp_host_services.sink_timeline: Commit puts the restored directory
  // on timeline `newest` + 1, branching from `restored`.
  bkp_status Timeline(uint32_t restored, uint32_t newest, std::string* error) override;

  // Cuts the staged directory back to the point in time (if one is set),
  // recovers and checks it with `options` (data_dir is replaced by the
  // staging path), then swaps it in as the target. Fails,
  // leaving the target untouched, if any item is open, the sink was misused,
  // no control DB arrived, recovery fails, or the checker finds a violation.
  Result<RestoreReport> Commit(StorageOptions options);
  // The per-context commit: the staged directory narrowed to the context
  // (renamed to its --as name), cut, recovered and checked as Commit does
  // (the timeline of the live directory is left alone), then handed to
  // `install`. NotFound when the backup holds no such context.
  Result<RestoreReport> CommitContext(StorageOptions options, const ContextInstaller& install);

  const std::filesystem::path& staging_dir() const { return staging_; }

 private:
  RestoreSink(std::filesystem::path target, std::filesystem::path staging, RestorePolicy policy,
              RestoreTarget point_in_time)
      : target_(std::move(target)),
        staging_(std::move(staging)),
        policy_(policy),
        point_in_time_(std::move(point_in_time)) {}
  bkp_status Refuse(bkp_status code, std::string why, std::string* error);
  // `st`'s message, with what the operator can do about it when the disk
  // is full. Under mu_.
  std::string WhatToDo(const Status& st) const;
  // As WhatToDo, for a failed sync of a restored file.
  std::string NotDurable(const Status& st) const;
  // Commit's checks of the sink's use, under mu_.
  Status CheckComplete() const;
  // Syncs, (per context: narrows), cuts, recovers, (whole: records the
  // timeline) and checks the staging. Under mu_.
  Status Prepare(StorageOptions options, RestoreReport* report);
  // Per context: drops every other context from the staging and renames it.
  Status NarrowToContext();

  std::mutex mu_;
  const std::filesystem::path target_;
  const std::filesystem::path staging_;
  const RestorePolicy policy_;
  const RestoreTarget point_in_time_;
  std::optional<ContextRestore> context_;  // set: a per-context restore
  bool item_open_ = false;
  bool discarding_ = false;  // the open item is another context's
  bool committed_ = false;
  std::string poisoned_;  // non-empty: why the sink is unusable
  bool have_control_db_ = false;
  uint32_t role_ = 0;  // role of the last item begun
  // Last base begun per (context, role): bases must ascend.
  std::map<std::pair<std::string, uint32_t>, uint64_t> last_base_;
  // The open item.
  std::unique_ptr<File> file_;
  std::string open_name_;
  uint64_t expected_ = 0;
  uint64_t written_ = 0;
  uint64_t written_back_ = 0;  // write-back started up to here
  // Syncs each file once it is whole (see End).
  BackgroundSyncer syncer_;
  uint64_t files_ = 0;
  uint64_t bytes_ = 0;
  // From sink_timeline: 0 when the provider did not call it.
  uint32_t restored_timeline_ = 0;
  uint32_t newest_timeline_ = 0;
};

}  // namespace hoststub
