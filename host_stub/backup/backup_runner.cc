// Drives a provider's backup and restore callbacks.
#include "backup/backup_runner.h"

#include <array>
#include <cstring>

#include <fmt/format.h>

#include "backup/backup_source.h"
#include "backup/timeline_history.h"
#include "plugin_host/abi_status.h"
#include "plugin_host/plugin_library.h"
#include "plugin_host/provider_call_journal.h"

namespace hoststub {
namespace {

constexpr size_t kErrorBufferSize = 2048;

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

Result<BackupOutcome> RunBackup(EventStore& store, const ProviderRef& provider, uint32_t type,
                                bkp_operation& op) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name, provider.table, BKP_CAP_BACKUP, "take backups"));
  if (type == BKP_BACKUP_INCREMENTAL) {
    HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name, provider.table, BKP_CAP_INCREMENTAL,
                                               "take incremental backups"));
  }
  const auto started = std::chrono::steady_clock::now();
  auto source = bkp_source::Create(store, store.options().data_dir / ".backup-tmp");
  if (!source.ok()) return source.status();

  bkp_backup_args args{};
  args.struct_size = sizeof args;
  args.type = type;
  args.op = &op;
  args.source = source->get();
  auto timeline = DataDirTimeline(store.options().data_dir);
  if (!timeline.ok()) return timeline.status();
  args.timeline = timeline->timeline;
  bkp_backup_result result{};
  result.struct_size = sizeof result;
  std::array<char, kErrorBufferSize> err{};
  bkp_status rc;
  {
    const ProviderCallJournal::Call call(provider.name, "backup");
    rc = provider.table.backup(provider.instance, &args, &result, err.data(), err.size());
  }
  if (rc != BKP_OK) return ProviderFailure(provider.name, "backup", rc, err.data(), err.size());

  result.backup_id[sizeof result.backup_id - 1] = '\0';  // never trust a plugin's NUL
  BackupOutcome outcome;
  outcome.backup_id = result.backup_id;
  outcome.files_listed = (*source)->files_listed();
  outcome.bytes_listed = (*source)->bytes_listed();
  outcome.bytes_read = result.bytes_read;
  outcome.bytes_stored = result.bytes_stored;
  outcome.elapsed = std::chrono::steady_clock::now() - started;
  if (outcome.backup_id.empty()) {
    return Status::IOError(
        fmt::format("provider '{}': backup reported success but gave no backup id", provider.name));
  }
  return outcome;
}

Result<RestoreReport> RunRestore(const ProviderRef& provider, const std::string& backup_id,
                                 const std::filesystem::path& target, RestorePolicy policy,
                                 const StorageOptions& options, bkp_operation& op,
                                 const RestoreTarget& point_in_time) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name, provider.table, BKP_CAP_RESTORE, "restore"));
  if (backup_id.empty()) {
    if (!point_in_time.set()) {
      return Status::InvalidArgument("a restore needs a backup id or a point in time");
    }
    HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name, provider.table, BKP_CAP_POINT_IN_TIME,
                                               "restore to a point in time without a backup id"));
  }
  auto sink = bkp_sink::Create(target, policy, point_in_time);
  if (!sink.ok()) return sink.status();

  bkp_restore_args args{};
  args.struct_size = sizeof args;
  args.backup_id = backup_id.empty() ? nullptr : backup_id.c_str();
  args.op = &op;
  args.sink = sink->get();
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
  std::array<char, kErrorBufferSize> err{};
  bkp_status rc;
  {
    const ProviderCallJournal::Call call(provider.name, "restore");
    rc = provider.table.restore(provider.instance, &args, err.data(), err.size());
  }
  if (rc != BKP_OK) return ProviderFailure(provider.name, "restore", rc, err.data(), err.size());
  return (*sink)->Commit(options);
}

}  // namespace hoststub
