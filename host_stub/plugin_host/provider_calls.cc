// The host's calls into a provider's table (see provider_calls.h).
#include "plugin_host/provider_calls.h"

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "plugin_host/abi_status.h"
#include "plugin_host/plugin_library.h"
#include "plugin_host/provider_call_journal.h"

namespace hoststub {
namespace {

using ErrorBuffer = std::array<char, kProviderErrorBufferSize>;

std::string Text(const char* text) { return text != nullptr ? text : ""; }

BackupListing ToListing(const bkp_backup_info& info) {
  BackupListing listing;
  listing.id = Text(info.id);
  listing.type = info.type;
  listing.parent_id = Text(info.parent_id);
  listing.created_ms = info.created_ms;
  listing.bytes = info.bytes;
  listing.stored_bytes = info.stored_bytes;
  listing.files = info.files;
  listing.details = Text(info.details);
  return listing;
}

// C callbacks: nothing may unwind through the plugin's frames.
bkp_status CollectListing(void* user, const bkp_backup_info* info) {
  try {
    static_cast<std::vector<BackupListing>*>(user)->push_back(ToListing(CopyVersioned(info)));
    return BKP_OK;
  } catch (...) {
    return BKP_E_INTERNAL;
  }
}

bkp_status CollectProblem(void* user, const bkp_verify_problem* given) {
  try {
    const bkp_verify_problem problem = CopyVersioned(given);
    static_cast<std::vector<VerifyProblem>*>(user)->push_back(
        {problem.status, Text(problem.backup_id), Text(problem.file), Text(problem.message)});
    return BKP_OK;
  } catch (...) {
    return BKP_E_INTERNAL;
  }
}

bkp_status CollectLock(void* user, const bkp_lock_info* given) {
  const bkp_lock_info info = CopyVersioned(given);
  auto text = [](const char* s) { return s != nullptr ? std::string(s) : std::string(); };
  static_cast<std::vector<RepositoryLockInfo>*>(user)->push_back(
      {text(info.id), info.exclusive != 0, text(info.operation), text(info.host), info.pid,
       info.since_ms, info.refreshed_ms, text(info.stale), info.removed != 0});
  return BKP_OK;
}

}  // namespace

std::string ProviderMessage(const char* err, size_t err_len) {
  const size_t len = err != nullptr ? strnlen(err, err_len) : 0;
  return len > 0 ? std::string(err, len) : "no message given";
}

Status ProviderFailure(std::string_view provider, std::string_view what, bkp_status rc,
                       const char* err, size_t err_len) {
  return FromBkpStatus(rc, fmt::format("provider '{}': {} failed: {}", provider, what,
                                       ProviderMessage(err, err_len)));
}

Status RequireCapability(std::string_view provider, const bkp_provider& table, uint64_t capability,
                         std::string_view what) {
  if ((table.capabilities & capability) != 0) return Status::OK();
  return Status::Unsupported(fmt::format(
      "provider '{}' (plugin {}) cannot {}: its capabilities are {}; use a provider whose "
      "plugin can (`hostd plugins` lists each provider's capabilities)",
      provider, table.name != nullptr ? table.name : "?", what,
      DescribeCapabilities(table.capabilities)));
}

// ---- backup and restore -----------------------------------------------------------

Status CheckBackup(std::string_view provider, const bkp_provider& table, uint32_t type) {
  HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider, table, BKP_CAP_BACKUP, "take backups"));
  if (type == BKP_BACKUP_INCREMENTAL) {
    HOSTSTUB_RETURN_IF_ERROR(
        RequireCapability(provider, table, BKP_CAP_INCREMENTAL, "take incremental backups"));
  }
  return Status::OK();
}

Result<BackupCallResult> CallBackup(const ProviderRef& provider, bkp_source& source, uint32_t type,
                                    uint32_t timeline, bkp_operation& op) {
  HOSTSTUB_RETURN_IF_ERROR(CheckBackup(provider.name, provider.table, type));
  bkp_backup_args args{};
  args.struct_size = sizeof args;
  args.type = type;
  args.op = &op;
  args.source = &source;
  args.timeline = timeline;
  bkp_backup_result result{};
  result.struct_size = sizeof result;
  ErrorBuffer err{};
  bkp_status rc;
  {
    const ProviderCallJournal::Call call(provider.name, "backup");
    rc = provider.table.backup(provider.instance, &args, &result, err.data(), err.size());
  }
  if (rc != BKP_OK) return ProviderFailure(provider.name, "backup", rc, err.data(), err.size());

  result.backup_id[sizeof result.backup_id - 1] = '\0';  // never trust a plugin's NUL
  BackupCallResult out;
  out.backup_id = result.backup_id;
  out.bytes_read = result.bytes_read;
  out.bytes_stored = result.bytes_stored;
  if (out.backup_id.empty()) {
    return Status::IOError(
        fmt::format("provider '{}': backup reported success but gave no backup id", provider.name));
  }
  return out;
}

Status CheckRestore(std::string_view provider, const bkp_provider& table,
                    const std::string& backup_id, const RestoreTarget& point_in_time) {
  HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider, table, BKP_CAP_RESTORE, "restore"));
  if (backup_id.empty()) {
    if (!point_in_time.set()) {
      return Status::InvalidArgument("a restore needs a backup id or a point in time");
    }
    HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider, table, BKP_CAP_POINT_IN_TIME,
                                               "restore to a point in time without a backup id"));
  }
  return Status::OK();
}

Status CallRestore(const ProviderRef& provider, const std::string& backup_id, bkp_sink& sink,
                   const RestoreTarget& point_in_time, bkp_operation& op) {
  HOSTSTUB_RETURN_IF_ERROR(CheckRestore(provider.name, provider.table, backup_id, point_in_time));
  bkp_restore_args args{};
  args.struct_size = sizeof args;
  args.backup_id = backup_id.empty() ? nullptr : backup_id.c_str();
  args.op = &op;
  args.sink = &sink;
  args.timeline = point_in_time.timeline;
  switch (point_in_time.kind) {
    case RestoreTarget::Kind::kNone:
      args.target = BKP_TARGET_NONE;
      break;
    case RestoreTarget::Kind::kToken:
      args.target = BKP_TARGET_TOKEN;
      args.target_token = point_in_time.token;
      args.target_context = point_in_time.context.empty() ? nullptr : point_in_time.context.c_str();
      break;
    case RestoreTarget::Kind::kTime:
      args.target = BKP_TARGET_TIME;
      args.target_time_ms = point_in_time.time_ms;
      break;
  }
  ErrorBuffer err{};
  bkp_status rc;
  {
    const ProviderCallJournal::Call call(provider.name, "restore");
    rc = provider.table.restore(provider.instance, &args, err.data(), err.size());
  }
  if (rc != BKP_OK) return ProviderFailure(provider.name, "restore", rc, err.data(), err.size());
  return Status::OK();
}

// ---- the repository's backups ---------------------------------------------------------

Result<std::vector<BackupListing>> ListProviderBackups(const LoadedProvider& provider) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name(), provider.table(), BKP_CAP_LIST, "list backups"));
  std::vector<BackupListing> listings;
  ErrorBuffer err{};
  // Journaled: a crash in it disables the provider (provider_call_journal.h).
  const bkp_status rc = [&] {
    const ProviderCallJournal::Call call(provider.name(), "list");
    return provider.table().list(provider.instance(), CollectListing, &listings, err.data(),
                                 err.size());
  }();
  if (rc != BKP_OK) return ProviderFailure(provider.name(), "list", rc, err.data(), err.size());
  return listings;
}

Result<VerifyReport> VerifyProviderBackups(const LoadedProvider& provider,
                                           std::string_view backup_id, bkp_operation* op) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name(), provider.table(), BKP_CAP_VERIFY, "verify backups"));
  const std::string id(backup_id);
  VerifyReport report;
  ErrorBuffer err{};
  // Journaled: a crash in it disables the provider (provider_call_journal.h).
  const bkp_status rc = [&] {
    const ProviderCallJournal::Call call(provider.name(), "verify");
    return provider.table().verify(provider.instance(), id.empty() ? nullptr : id.c_str(), op,
                                   CollectProblem, &report.problems, err.data(), err.size());
  }();
  if (rc == BKP_OK) return report;
  const std::string what = id.empty() ? "verify of all backups" : "verify of backup '" + id + "'";
  // CORRUPT is how a provider says "I found problems": the findings are the
  // result. Any other code means the verify could not do its job.
  if (rc != BKP_E_CORRUPT || (op != nullptr && op->cancel_requested.load())) {
    return ProviderFailure(provider.name(), what, rc, err.data(), err.size());
  }
  report.summary =
      fmt::format("provider '{}': {}", provider.name(), ProviderMessage(err.data(), err.size()));
  if (report.problems.empty()) {
    // Reported corrupt without saying where: keep the message as the problem.
    report.problems.push_back({rc, id, "", ProviderMessage(err.data(), err.size())});
  }
  return report;
}

Status CheckDelete(const LoadedProvider& provider, std::string_view backup_id) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name(), provider.table(), BKP_CAP_REMOVE, "delete backups"));
  if (backup_id.empty()) {
    return Status::InvalidArgument(
        fmt::format("delete via provider '{}' needs a backup id (list them with `hostctl backup "
                    "list --provider {}`)",
                    provider.name(), provider.name()));
  }
  return Status::OK();
}

Status DeleteProviderBackup(const LoadedProvider& provider, std::string_view backup_id) {
  HOSTSTUB_RETURN_IF_ERROR(CheckDelete(provider, backup_id));
  const std::string id(backup_id);
  ErrorBuffer err{};
  // Journaled: a crash in it disables the provider (provider_call_journal.h).
  const bkp_status rc = [&] {
    const ProviderCallJournal::Call call(provider.name(), "remove");
    return provider.table().remove(provider.instance(), id.c_str(), err.data(), err.size());
  }();
  if (rc != BKP_OK)
    return ProviderFailure(provider.name(), "delete of backup '" + id + "'", rc, err.data(),
                           err.size());
  return Status::OK();
}

Status CheckRetention(const LoadedProvider& provider, const RetentionPolicy& policy) {
  const bool tiers =
      policy.keep_hourly + policy.keep_daily + policy.keep_weekly + policy.keep_monthly > 0;
  if (tiers || policy.dry_run) {
    // The host decides from the listing and deletes one backup at a time
    // (backup/retention_tiers.h): a provider's expire knows no tiers, and
    // no dry run.
    HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name(), provider.table(), BKP_CAP_LIST,
                                               "decide a retention policy"));
    if (!policy.dry_run) {
      HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name(), provider.table(), BKP_CAP_REMOVE,
                                                 "apply retention tiers"));
    }
    if (tiers) return Status::OK();
  } else {
    HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name(), provider.table(), BKP_CAP_EXPIRE,
                                               "apply a retention policy"));
  }
  if (policy.keep_last == 0 && policy.keep_newer_than.count() <= 0) {
    return Status::InvalidArgument(fmt::format(
        "retention for provider '{}' needs keep_last or keep_newer_than (with neither, every "
        "backup but the newest would be removed)",
        provider.name()));
  }
  return Status::OK();
}

Result<std::vector<BackupListing>> ExpireProviderBackups(
    const LoadedProvider& provider, const RetentionPolicy& policy,
    std::chrono::system_clock::time_point now) {
  HOSTSTUB_RETURN_IF_ERROR(CheckRetention(provider, policy));
  bkp_retention retention{};
  retention.struct_size = sizeof retention;
  retention.keep_last = policy.keep_last;
  if (policy.keep_newer_than.count() > 0) {
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    // 0 would switch the age rule off: an age reaching back before the epoch
    // still keeps everything.
    retention.keep_newer_ms = std::max<int64_t>(1, now_ms - policy.keep_newer_than.count());
  }
  std::vector<BackupListing> removed;
  ErrorBuffer err{};
  // Journaled: a crash in it disables the provider (provider_call_journal.h).
  const bkp_status rc = [&] {
    const ProviderCallJournal::Call call(provider.name(), "expire");
    return provider.table().expire(provider.instance(), &retention, CollectListing, &removed,
                                   err.data(), err.size());
  }();
  if (rc != BKP_OK)
    return ProviderFailure(provider.name(), "retention", rc, err.data(), err.size());
  return removed;
}

// ---- repository locks -----------------------------------------------------------------

Result<std::vector<RepositoryLockInfo>> ProviderRepositoryLocks(const LoadedProvider& provider,
                                                                bool remove_stale) {
  HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name(), provider.table(), BKP_CAP_LOCKS,
                                             "show or remove repository locks"));
  std::vector<RepositoryLockInfo> locks;
  ErrorBuffer err{};
  const bkp_status rc =
      provider.table().locks(provider.instance(), remove_stale ? BKP_LOCKS_REMOVE_STALE : 0u,
                             CollectLock, &locks, err.data(), err.size());
  if (rc != BKP_OK) {
    return ProviderFailure(provider.name(), remove_stale ? "unlock" : "locks", rc, err.data(),
                           err.size());
  }
  return locks;
}

// ---- continuous archiving ----------------------------------------------------------------

Status CallArchive(const LoadedProvider& provider, const bkp_archive_args& args,
                   std::string_view what) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name(), provider.table(), BKP_CAP_ARCHIVE, "archive segments"));
  ErrorBuffer err{};
  bkp_status rc;
  {
    const ProviderCallJournal::Call call(provider.name(), "archive");
    rc = provider.table().archive(provider.instance(), &args, err.data(), err.size());
  }
  if (rc != BKP_OK) return ProviderFailure(provider.name(), what, rc, err.data(), err.size());
  return Status::OK();
}

Status CallArchiveStatus(const LoadedProvider& provider, bkp_archive_position_fn fn, void* user) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name(), provider.table(), BKP_CAP_ARCHIVE, "archive segments"));
  ErrorBuffer err{};
  bkp_status rc;
  {
    const ProviderCallJournal::Call call(provider.name(), "archive_status");
    rc = provider.table().archive_status(provider.instance(), fn, user, err.data(), err.size());
  }
  if (rc != BKP_OK) {
    return ProviderFailure(provider.name(), "archive_status (where the archive ends)", rc,
                           err.data(), err.size());
  }
  return Status::OK();
}

}  // namespace hoststub
