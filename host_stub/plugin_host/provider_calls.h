// Every call the host makes into a provider's table once the instance is
// open (opening and closing are the registry's): backup, restore, list,
// verify, delete, expire, locks and unlock, archive and archive_status. Each
// checks the capability the call needs first (a provider lacking it has no
// such entry), hands the plugin an error buffer of kProviderErrorBufferSize,
// records the call in the provider call journal where a crash in it must
// disable the provider (provider_call_journal.h), copies what the plugin
// reports out of its versioned structs, and turns a failure into a Status
// that names the provider and what failed.
//
// These are the calls without any serialisation. The ABI allows one call at
// a time per provider instance: the caller orders them (the running host's
// BackupCoordinator and SegmentArchiver each own their calls; the offline
// `hostd` commands own their instance outright).
//
// Errors: Unsupported when the provider lacks the capability (naming it,
// its plugin and what it can do); InvalidArgument for a request no provider
// could serve (a delete without an id, retention with no rule); otherwise
// the provider's bkp_status mapped to the nearest Status code, with its
// message (abi_status.h).
// Thread-safety: each function is as safe as its provider instance (see
// above); the helpers are pure.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bkp/bkp_plugin.h"
#include "plugin_host/host_handles.h"
#include "plugin_host/provider_registry.h"
#include "storage/point_in_time.h"
#include "util/status.h"

namespace hoststub {

// The size of the error buffer every call hands a plugin: room for a
// message that names an object, a path and the reason.
inline constexpr size_t kProviderErrorBufferSize = 2048;

// A provider as a call needs it: its configured name, its (defensively
// copied) table and an open instance. Borrowed for the call.
struct ProviderRef {
  std::string_view name;
  const bkp_provider& table;
  bkp_instance* instance;
};

// The plugin's message in a caller-owned error buffer (never trusted to be
// terminated), or a placeholder when it left it empty.
std::string ProviderMessage(const char* err, size_t err_len);

// A failed provider call as a Status that names the provider and what failed,
// with the plugin's message from `err` (never trusted to be terminated; a
// placeholder when empty) and the status's name.
Status ProviderFailure(std::string_view provider, std::string_view what, bkp_status rc,
                       const char* err, size_t err_len);

// OK if `table` announces `capability`, else Unsupported naming the provider,
// its plugin and the capabilities it has.
Status RequireCapability(std::string_view provider, const bkp_provider& table, uint64_t capability,
                         std::string_view what);

// --- backup and restore -------------------------------------------------------

// OK if the provider can take a backup of `type` (BKP_BACKUP_FULL or
// _INCREMENTAL).
Status CheckBackup(std::string_view provider, const bkp_provider& table, uint32_t type);

// What a provider reported for a backup that succeeded.
struct BackupCallResult {
  std::string backup_id;      // never empty
  uint64_t bytes_read = 0;    // as reported by the provider
  uint64_t bytes_stored = 0;  // as reported by the provider
};

// The provider's backup of `source` on `timeline`. IOError when it reports
// success without a backup id.
Result<BackupCallResult> CallBackup(const ProviderRef& provider, bkp_source& source, uint32_t type,
                                    uint32_t timeline, bkp_operation& op);

// OK if the provider can restore `backup_id`, or, when that is empty, pick
// the backup for `point_in_time` itself (InvalidArgument when neither is
// given).
Status CheckRestore(std::string_view provider, const bkp_provider& table,
                    const std::string& backup_id, const RestoreTarget& point_in_time);

// The provider's restore of `backup_id` (see CheckRestore) into `sink`, cut
// at `point_in_time` if set. The sink holds what it was fed; committing it
// is the caller's.
Status CallRestore(const ProviderRef& provider, const std::string& backup_id, bkp_sink& sink,
                   const RestoreTarget& point_in_time, bkp_operation& op);

// --- the repository's backups ---------------------------------------------------

// One backup as a provider's list reports it.
struct BackupListing {
  std::string id;
  uint32_t type = 0;          // BKP_BACKUP_*
  std::string parent_id;      // empty for a full backup
  int64_t created_ms = 0;     // ms since the Unix epoch
  uint64_t bytes = 0;         // original size of its items
  uint64_t stored_bytes = 0;  // bytes it alone occupies in the repository
  uint64_t files = 0;
  std::string details;  // JSON text exactly as the provider gave it; may be empty
};

struct VerifyProblem {
  bkp_status status = BKP_E_CORRUPT;
  std::string backup_id;
  std::string file;
  std::string message;
};

struct VerifyReport {
  std::vector<VerifyProblem> problems;
  // The provider's summary when it found problems (its error message).
  std::string summary;
  bool ok() const { return problems.empty(); }
};

struct RetentionPolicy {
  uint32_t keep_last = 0;  // keep the newest N backups; 0: no count rule
  // Keep backups created less than this long ago; 0: no age rule. The
  // provider keeps a backup that either rule keeps, and always the newest.
  std::chrono::milliseconds keep_newer_than{0};
  // The tiers restic and borg have (see backup/retention_tiers.h): the
  // newest backup of each of the N most recent hours, days, ISO weeks,
  // months (UTC) with one; 0: no such rule. A provider's expire knows only
  // the two rules above: the coordinator decides these tiers itself and
  // removes what they do not keep one backup at a time.
  uint32_t keep_hourly = 0;
  uint32_t keep_daily = 0;
  uint32_t keep_weekly = 0;
  uint32_t keep_monthly = 0;
  // Say what would be removed, remove nothing.
  bool dry_run = false;
};

// The provider's complete backups, oldest first.
Result<std::vector<BackupListing>> ListProviderBackups(const LoadedProvider& provider);

// Re-checks one backup (all of them when `backup_id` is empty); `op` may be
// null. Problems found are a report, not an error; an error means the
// verify itself could not run (unknown backup, unreadable repository,
// cancelled).
Result<VerifyReport> VerifyProviderBackups(const LoadedProvider& provider,
                                           std::string_view backup_id, bkp_operation* op);

// OK if the provider can delete `backup_id` (InvalidArgument when it is
// empty).
Status CheckDelete(const LoadedProvider& provider, std::string_view backup_id);
// Deletes one backup and the data only it used.
Status DeleteProviderBackup(const LoadedProvider& provider, std::string_view backup_id);

// OK if the provider can apply `policy` (InvalidArgument when it has no
// rule: everything but the newest would go).
Status CheckRetention(const LoadedProvider& provider, const RetentionPolicy& policy);
// Applies a retention policy; returns what it removed. `now` is the clock
// the age rule counts from.
Result<std::vector<BackupListing>> ExpireProviderBackups(
    const LoadedProvider& provider, const RetentionPolicy& policy,
    std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// --- repository locks (BKP_CAP_LOCKS, ABI 1.2) ------------------------------------
// The provider owns what a lock is and when it is stale; the host only shows
// and asks (`hostd backup locks|unlock`). Safe beside operations of other
// processes on the repository.

struct RepositoryLockInfo {
  std::string id;
  bool exclusive = false;
  std::string operation;  // empty when the lock cannot be read
  std::string host;
  int64_t pid = 0;
  int64_t since_ms = 0;
  int64_t refreshed_ms = 0;
  std::string stale;  // why it is stale; empty when live
  bool removed = false;
};

// Every lock on the provider's repository; with `remove_stale`, each stale
// one is removed (removed = true), never a live one.
Result<std::vector<RepositoryLockInfo>> ProviderRepositoryLocks(const LoadedProvider& provider,
                                                                bool remove_stale);

// --- continuous archiving (BKP_CAP_ARCHIVE) ----------------------------------------

// Archives the segment `args` describes; `what` names it in a failure
// ("archive of context 'c' events segment ...").
Status CallArchive(const LoadedProvider& provider, const bkp_archive_args& args,
                   std::string_view what);

// Reports, through `fn`, how far the archive reaches in each stream.
Status CallArchiveStatus(const LoadedProvider& provider, bkp_archive_position_fn fn, void* user);

}  // namespace hoststub
