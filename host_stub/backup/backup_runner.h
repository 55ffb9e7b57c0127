// Runs one backup or one restore through a provider: builds the backup
// source or restore sink, calls the provider's table, and turns its status
// and message into a Status that names the provider. The caller owns the
// operation handle (to cancel it or watch progress from another thread).
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
#include "storage/event_store.h"
#include "util/status.h"

namespace hoststub {

// What the runner needs of a loaded provider: its configured name, its
// (defensively copied) table and an open instance. Borrowed for the call.
struct ProviderRef {
  std::string_view name;
  const bkp_provider& table;
  bkp_instance* instance;
};

struct BackupOutcome {
  std::string backup_id;
  uint64_t files_listed = 0;  // items the source offered
  uint64_t bytes_listed = 0;
  uint64_t bytes_read = 0;    // as reported by the provider
  uint64_t bytes_stored = 0;  // as reported by the provider
  std::chrono::duration<double> elapsed{};
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

}  // namespace hoststub
