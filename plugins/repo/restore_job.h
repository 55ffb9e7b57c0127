// Restore: resolves a backup's chain (chain.h) and streams every chunk of
// its files back through the LZ4 decoder, checking the frame, size and
// XXH3-64 against the manifest, and feeds the bytes to the host's sink in
// restore order (control DB, log, events, snapshots), decoding on a thread
// of its own so that decoding and the host's writes overlap. (Verify, which
// only checks, is verify_job.h.)
//
// Errors: throw bkp::Error. Restore checks every object exists before it
// writes a byte, and stops at the first bad chunk: BKP_E_CORRUPT naming the
// backup, file and object, or BKP_E_BROKEN_CHAIN when the chunk belongs to
// an ancestor of an incremental; the host then discards what it staged.
// Thread-safety: one job per repository at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/chain.h"
#include "repo/repository.h"

namespace repo {

// The sink item a restore begins for `f` (borrowing its strings).
bkp_item RestoreItem(const FileEntry& f);

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

}  // namespace repo
