// Runs one backup or one restore through a provider: builds the backup
// source or restore sink around the provider's call (plugin_host/
// provider_calls.h makes the call itself), and for a restore commits the
// sink. The caller owns the operation handle (to cancel it or watch
// progress from another thread).
//
// Thread-safety: each call is independent; the provider instance must not be
// used by another operation at the same time (the caller serialises).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "backup/restore_sink.h"
#include "bkp/bkp_plugin.h"
#include "plugin_host/host_handles.h"
#include "plugin_host/provider_calls.h"
#include "storage/event_store.h"
#include "util/status.h"

namespace hoststub {

struct BackupOutcome {
  std::string backup_id;
  uint64_t files_listed = 0;  // items the source offered
  uint64_t bytes_listed = 0;
  uint64_t bytes_read = 0;    // as reported by the provider
  uint64_t bytes_stored = 0;  // as reported by the provider
  std::chrono::duration<double> elapsed{};
};

// A hot backup of `store` (BKP_BACKUP_FULL or BKP_BACKUP_INCREMENTAL). The
// source's scratch space lives under <data_dir>/.backup-tmp for the call.
Result<BackupOutcome> RunBackup(EventStore& store, const ProviderRef& provider, uint32_t type,
                                bkp_operation& op);

// Restores `backup_id` into `target` (a stopped host's data directory) under
// `policy`; on success the target holds the recovered, checked data. With a
// point in time, the restored data is cut back to it; `backup_id` may then
// be empty for a provider with BKP_CAP_POINT_IN_TIME, which picks the backup
// (and archived segments) itself.
Result<RestoreReport> RunRestore(const ProviderRef& provider, const std::string& backup_id,
                                 const std::filesystem::path& target, RestorePolicy policy,
                                 const StorageOptions& options, bkp_operation& op,
                                 const RestoreTarget& point_in_time = {});

// Restores one context of `backup_id` into the data directory `data_dir`
// (see RestoreSink::CreateForContext): staged, cut, recovered and checked,
// then handed to `install`, which makes it live. The caller keeps the
// context from being written meanwhile.
Result<RestoreReport> RunContextRestore(const ProviderRef& provider, const std::string& backup_id,
                                        const std::filesystem::path& data_dir,
                                        const ContextRestore& what, const StorageOptions& options,
                                        bkp_operation& op, const RestoreTarget& point_in_time,
                                        const ContextInstaller& install);

}  // namespace hoststub
