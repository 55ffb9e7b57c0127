// A backup or a restore around the provider's call: the source or sink it
// reads or writes, the timeline, and the restore's commit.
#include "backup/backup_runner.h"

#include "backup/backup_source.h"
#include "backup/timeline_history.h"

namespace hoststub {

Result<BackupOutcome> RunBackup(EventStore& store, const ProviderRef& provider, uint32_t type,
                                bkp_operation& op) {
  // Checked before the source pins compaction and makes its scratch space.
  HOSTSTUB_RETURN_IF_ERROR(CheckBackup(provider.name, provider.table, type));
  const auto started = std::chrono::steady_clock::now();
  HOSTSTUB_ASSIGN_OR_RETURN(auto source,
                            BackupSource::Create(store, store.options().data_dir / ".backup-tmp"));
  HOSTSTUB_ASSIGN_OR_RETURN(const auto timeline, DataDirTimeline(store.options().data_dir));
  HOSTSTUB_ASSIGN_OR_RETURN(const BackupCallResult result,
                            CallBackup(provider, *source, type, timeline.timeline, op));

  BackupOutcome outcome;
  outcome.backup_id = result.backup_id;
  outcome.files_listed = source->files_listed();
  outcome.bytes_listed = source->bytes_listed();
  outcome.bytes_read = result.bytes_read;
  outcome.bytes_stored = result.bytes_stored;
  outcome.elapsed = std::chrono::steady_clock::now() - started;
  return outcome;
}

Result<RestoreReport> RunRestore(const ProviderRef& provider, const std::string& backup_id,
                                 const std::filesystem::path& target, RestorePolicy policy,
                                 const StorageOptions& options, bkp_operation& op,
                                 const RestoreTarget& point_in_time) {
  // Checked before the sink looks at the target and makes its staging.
  HOSTSTUB_RETURN_IF_ERROR(CheckRestore(provider.name, provider.table, backup_id, point_in_time));
  HOSTSTUB_ASSIGN_OR_RETURN(auto sink, RestoreSink::Create(target, policy, point_in_time));
  HOSTSTUB_RETURN_IF_ERROR(CallRestore(provider, backup_id, *sink, point_in_time, op));
  return sink->Commit(options);
}

Result<RestoreReport> RunContextRestore(const ProviderRef& provider, const std::string& backup_id,
                                        const std::filesystem::path& data_dir,
                                        const ContextRestore& what, const StorageOptions& options,
                                        bkp_operation& op, const RestoreTarget& point_in_time,
                                        const ContextInstaller& install) {
  HOSTSTUB_RETURN_IF_ERROR(CheckRestore(provider.name, provider.table, backup_id, point_in_time));
  HOSTSTUB_ASSIGN_OR_RETURN(auto sink,
                            RestoreSink::CreateForContext(data_dir, what, point_in_time));
  HOSTSTUB_RETURN_IF_ERROR(CallRestore(provider, backup_id, *sink, point_in_time, op));
  return sink->CommitContext(options, install);
}

}  // namespace hoststub
