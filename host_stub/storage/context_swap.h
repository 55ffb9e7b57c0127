// Swapping one context of a data directory for a restored copy: the on-disk
// protocol that makes a per-context restore all-or-nothing across a crash
// (docs/storage-format.md, "Per-context restore").
//
// A restore stages the context under DATA/.context-restore/, recovered and
// checked. The swap is decided by one durable file, the marker
// DATA/.context-restore/swap, which names the context, the staged copy,
// where the old context goes (force) and the control-DB rows the restored
// context takes. Once the marker is durable the swap only rolls forward:
// old context set aside, staged copy renamed into DATA/contexts/<C>, rows
// replaced in one transaction, the directory's new timeline recorded (when
// the plan starts one), marker removed. Each step is a rename or a
// transaction and each is idempotent, so finishing it again after a crash
// (RecoverContextSwap, which EventStore::Open runs) ends in the restored
// context. Without a marker, anything under .context-restore/ is an
// abandoned staging and is removed: the old context was never touched.
//
// Thread-safety: functions of the file system and a ControlDb; the caller
// keeps the context from being written or opened meanwhile (a stopped host
// holding the directory's lock, or the store with the context closed).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "storage/control_db.h"
#include "util/status.h"

namespace hoststub {

// Under the data directory: staging and the marker.
inline constexpr const char* kContextRestoreDir = ".context-restore";
// Under the data directory: old contexts a forced restore kept.
inline constexpr const char* kSetAsideDir = "set-aside";

struct ContextSwapPlan {
  std::string context;
  // The restored context's directory (log/, events/, snapshots/), recovered
  // and checked, somewhere under DATA/.context-restore/.
  std::filesystem::path staged;
  // Force: an existing context is moved to DATA/set-aside/<C>.before-
  // restore-<time> rather than refused.
  bool keep_old_aside = false;
  // What the control DB says of the restored context.
  ContextRows rows;
  // Set: the directory moves to this timeline as part of the swap (the
  // restored context's history is not the one its archive holds, so the
  // archive must go on beside it; archive/segment_archiver.h). The history
  // is one line of JSON. Unset: the directory's timeline is left alone.
  std::optional<TimelineInfo> timeline;
  // The newest timeline the repository the restore read from holds (its
  // sink_timeline call; 0: it named none), so that a new timeline's number
  // is above it too.
  uint32_t source_newest_timeline = 0;
};

// Whether `context` exists in `data_dir`: a directory under contexts/ or a
// row in the control DB.
bool ContextExists(const std::filesystem::path& data_dir, ControlDb& db,
                   const std::string& context);

// Writes the marker and carries the swap out. Refused ("context C already
// exists; use --as NEW or --policy force") when the context exists and
// `keep_old_aside` is false; nothing is changed then. Returns where the old
// context was set aside (empty when there was none). An error after the
// marker is durable leaves it for RecoverContextSwap to finish.
Result<std::filesystem::path> SwapInContext(const std::filesystem::path& data_dir, ControlDb& db,
                                            const ContextSwapPlan& plan);

// Finishes a swap a crash interrupted, or removes an abandoned staging.
// Appends what it did to `notes`. Run before any context is opened.
Status RecoverContextSwap(const std::filesystem::path& data_dir, ControlDb& db,
                          std::vector<std::string>* notes);

}  // namespace hoststub
