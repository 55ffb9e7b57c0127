// A restore drill: proof that the newest backup restores. It restores the
// backup into a scratch directory (the same RunRestore as `hostd restore`,
// whose sink checks the restore order on every call and recovers the
// result), runs the consistency checker (storage/checker.h) over what came
// back, records how long the restore took, and deletes the scratch copy
// whatever happened. The coordinator runs it as an operation
// (BackupCoordinator::Drill); the scheduler runs it on a `kind = "drill"`
// schedule.
//
// Thread-safety: RunRestoreDrill is as RunRestore (the caller serialises
// calls into one provider instance). DrillResult is a plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

#include "bkp/bkp_plugin.h"
#include "plugin_host/provider_calls.h"
#include "storage/options.h"

namespace hoststub {

struct DrillResult {
  std::string schedule;  // the schedule that ran it; empty when asked by hand
  std::string provider;
  std::string backup_id;  // what was restored; empty when none could be picked
  std::chrono::system_clock::time_point started;
  std::chrono::system_clock::time_point finished;
  // From the first call into the provider until the restored directory was
  // recovered and committed: the time a real restore would take.
  std::chrono::milliseconds restore_time{0};
  // The checker's run over the restored copy.
  std::chrono::milliseconds check_time{0};
  uint64_t files = 0;
  uint64_t bytes = 0;
  bool ok = false;
  // Why it failed: names the provider, the backup and the step.
  std::string error;
};

// Restores `backup_id` into a fresh directory under `scratch_root` (made if
// missing), checks it and deletes it; fills `result` (backup_id, times,
// sizes, ok, error). `options` are the running store's, for the segment
// sizes recovery expects. Never throws; a failure is result.ok == false.
void RunRestoreDrill(const ProviderRef& provider, const std::string& backup_id,
                     const std::filesystem::path& scratch_root, const StorageOptions& options,
                     bkp_operation& op, DrillResult& result);

}  // namespace hoststub
