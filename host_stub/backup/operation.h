// The vocabulary of the host's operations (backup, verify, delete, expire,
// restore, drill): their kinds and states, the names the API, the CLI and
// the log print for them and for a backup's phase and type, and the
// snapshot of one operation that BackupCoordinator hands out
// (backup/coordinator.h).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "util/status.h"

namespace hoststub {

enum class OperationKind { kBackup, kVerify, kDelete, kExpire, kRestore, kDrill };
enum class OperationState { kRunning, kSucceeded, kFailed, kCancelled };

// "backup", "verify", "delete", "expire", "restore", "drill".
const char* OperationKindName(OperationKind kind);
// "running", "succeeded", "failed", "cancelled".
const char* OperationStateName(OperationState state);
// "starting" (0: nothing reported yet), "control-db", "log", "events",
// "snapshots", "finishing"; "phase-N" for a phase this host does not know.
std::string BackupPhaseName(uint32_t phase);
// "full", "incremental"; "type-N" otherwise.
std::string BackupTypeName(uint32_t type);
// A copy of one operation's state at one moment.
struct OperationSnapshot {
  uint64_t id = 0;  // 1, 2, ... per host process
  OperationKind kind = OperationKind::kBackup;
  std::string provider;
  uint32_t backup_type = 0;  // BKP_BACKUP_*; backups only
  // Verify, delete: the backup asked for (empty: verify all). Backup: the id
  // of the new backup once it succeeded.
  std::string backup_id;
  OperationState state = OperationState::kRunning;
  bool cancel_requested = false;

  // Progress as the provider last reported it. The *_done counters never go
  // backwards, even if a plugin's threads report out of order.
  uint32_t phase = 0;  // BKP_PHASE_*, 0 before the first report
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0: unknown
  uint64_t files_done = 0;
  uint64_t files_total = 0;  // 0: unknown

  std::chrono::system_clock::time_point started;
  std::chrono::system_clock::time_point finished;  // epoch while running
  std::chrono::milliseconds elapsed{0};            // so far, or in total

  // A succeeded backup: what the provider reported.
  uint64_t bytes_read = 0;
  uint64_t bytes_stored = 0;
  uint64_t files = 0;  // items the backup holds
  // A restore: the context restored (its --as name) and, once it
  // succeeded, where a forced restore set the old one aside (empty: none),
  // and the restored files and bytes in bytes_read / files.
  std::string context;
  std::string set_aside;
  // Failed or cancelled: why (names the provider and what to do).
  Status error;

  bool running() const { return state == OperationState::kRunning; }
  // "operation 3 (backup via provider 'nightly', started 2026-...Z, phase
  // events, 12.0 MiB of 40.0 MiB, 3 of 10 files)".
  std::string Describe() const;
};

// Called when an operation starts and when it ends, outside the
// coordinator's lock, on the thread that started or finished it. For the
// host's log.
using OperationObserver = std::function<void(const OperationSnapshot&)>;

}  // namespace hoststub
