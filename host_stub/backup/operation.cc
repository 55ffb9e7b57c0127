// The operations' names and descriptions (see operation.h).
#include "backup/operation.h"

#include <fmt/format.h>

#include "bkp/bkp_plugin.h"
#include "util/human_format.h"
#include "util/utc_time.h"

namespace hoststub {

const char* OperationKindName(OperationKind kind) {
  switch (kind) {
    case OperationKind::kBackup:
      return "backup";
    case OperationKind::kVerify:
      return "verify";
    case OperationKind::kDelete:
      return "delete";
    case OperationKind::kExpire:
      return "expire";
    case OperationKind::kRestore:
      return "restore";
    case OperationKind::kDrill:
      return "drill";
  }
  return "unknown";
}

const char* OperationStateName(OperationState state) {
  switch (state) {
    case OperationState::kRunning:
      return "running";
    case OperationState::kSucceeded:
      return "succeeded";
    case OperationState::kFailed:
      return "failed";
    case OperationState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string BackupPhaseName(uint32_t phase) {
  switch (phase) {
    case 0:
      return "starting";
    case BKP_PHASE_CONTROL_DB:
      return "control-db";
    case BKP_PHASE_LOG:
      return "log";
    case BKP_PHASE_EVENTS:
      return "events";
    case BKP_PHASE_SNAPSHOTS:
      return "snapshots";
    case BKP_PHASE_FINISHING:
      return "finishing";
    default:
      return fmt::format("phase-{}", phase);
  }
}

std::string BackupTypeName(uint32_t type) {
  switch (type) {
    case BKP_BACKUP_FULL:
      return "full";
    case BKP_BACKUP_INCREMENTAL:
      return "incremental";
    default:
      return fmt::format("type-{}", type);
  }
}

std::string OperationSnapshot::Describe() const {
  std::string text =
      fmt::format("operation {} ({} via provider '{}'", id, OperationKindName(kind), provider);
  if (!context.empty()) text += fmt::format(" of context '{}'", context);
  if (!backup_id.empty() && kind != OperationKind::kBackup) {
    text += fmt::format(" of backup '{}'", backup_id);
  }
  text += fmt::format(", started {}", FormatUtc(EpochMs(started), UtcFormat::kIso8601));
  if (running()) {
    text += fmt::format(", phase {}", BackupPhaseName(phase));
    if (bytes_total > 0) {
      text += fmt::format(", {} of {}", FormatBytes(bytes_done), FormatBytes(bytes_total));
    }
    if (files_total > 0) text += fmt::format(", {} of {} files", files_done, files_total);
    if (cancel_requested) text += ", cancel requested";
  } else {
    text += fmt::format(", {} after {:.1f} s", OperationStateName(state),
                        static_cast<double>(elapsed.count()) / 1000.0);
  }
  return text + ")";
}

}  // namespace hoststub
