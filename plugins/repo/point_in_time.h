// Point-in-time restore: which backup to start from, and which archived
// segments to add, to reach a target (a token, or a time). The provider
// only chooses what to feed; the host cuts what it receives at the target
// (whole appends, the log at the matching index), so feeding a little past
// the target is harmless and feeding less than it is not.
//
// The backup: the given one, else the newest whose state lies wholly at or
// before the target (its events end at or before the target token; it was
// created at or before the target time), else the oldest one (which holds
// the target and more). Then, stream by stream, the archived segments that
// follow the backup's, up to the first that reaches the target; and all of
// the log and snapshot streams the archive holds (the host cuts them where
// the events kept end). Every context of the backup or the archive is
// extended: one created after the backup comes from the archive alone.
//
// Errors: throws bkp::Error: BKP_E_MISSING_FULL_BACKUP with no backup at all;
// BKP_E_INVALID_ARGUMENT when the backup given was taken after a time
// target (a backup is rolled forward in time, never back);
// BKP_E_BROKEN_CHAIN when the archive has a gap before the target (naming
// the missing range and the newest point that can be restored);
// BKP_E_NOT_FOUND for a token target beyond everything archived.
// Along a timeline (timeline.h): only backups of its history are picked
// (a backup of an ancestor only if it lies wholly before the branch), and
// the archive is read along its lineage; BKP_E_NOT_FOUND for an unknown
// timeline, BKP_E_INVALID_ARGUMENT for a named backup off its history.
// Thread-safety: reads the repository only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "bkp/bkp_plugin.h"
#include "repo/chain.h"
#include "repo/repository.h"

namespace repo {

struct RestoreTarget {
  uint32_t kind = BKP_TARGET_NONE;  // BKP_TARGET_*
  uint64_t token = 0;               // BKP_TARGET_TOKEN: the last event wanted
  int64_t time_ms = 0;              // BKP_TARGET_TIME
  std::string context;              // BKP_TARGET_TOKEN: empty for every context
  uint32_t timeline = 0;            // the timeline to restore along; 0: the newest
};

// What `stored_by` says of a chunk that comes from the archive.
inline constexpr const char* kArchiveOrigin = "archive";

// `*timeline` receives the timeline the state lies on: the one asked for
// (the newest when none was), or for a backup restored as it is, the
// backup's own.
BackupState StateForTarget(Repository& repository, const std::optional<std::string>& backup_id,
                           const RestoreTarget& target, uint32_t* timeline);

}  // namespace repo
