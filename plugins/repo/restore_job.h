// Restore and verify: both resolve a backup's chain (chain.h) and stream
// every chunk of its files back through the LZ4 decoder, checking the
// frame, size and XXH3-64 against the manifest. Restore feeds the bytes to
// the host's sink in restore order (control DB, log, events, snapshots),
// decoding on a thread of its own so that decoding and the host's writes
// overlap; verify only checks, reporting each bad file and why.
//
// Errors: throw bkp::Error. Restore checks every object exists before it
// writes a byte, and stops at the first bad chunk: BKP_E_CORRUPT naming the
// backup, file and object, or BKP_E_BROKEN_CHAIN when the chunk belongs to
// an ancestor of an incremental; the host then discards what it staged.
// Thread-safety: one job per repository at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "chain.h"
#include "repository.h"

namespace repo {

struct RestoreStats {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

RestoreStats RunRestoreJob(Repository& repository, const std::string& backup_id,
                           const bkp::Sink& sink, const bkp::Operation& op);
// Restores a resolved state (a backup, perhaps extended with archived
// segments: point_in_time.h).
RestoreStats RunRestoreJob(Repository& repository, const BackupState& state, const bkp::Sink& sink,
                           const bkp::Operation& op);

struct VerifyProblem {
  bkp_status status = BKP_E_CORRUPT;
  std::string backup_id;
  std::string file;  // "<context>/<role>/<name>", or "manifest"
  std::string message;
};

// Verifies one backup, or every backup when `backup_id` is empty: each
// backup's chain must resolve, and every object it needs must decode to the
// recorded size and checksum (shared objects are decoded once, by `workers`
// threads). Calls `report` per problem, on the calling thread; returns how
// many. `op` may be null (offline use without progress).
uint64_t RunVerifyJob(Repository& repository, const std::string& backup_id,
                      const bkp::Operation* op, uint32_t workers,
                      const std::function<void(const VerifyProblem&)>& report);

}  // namespace repo
