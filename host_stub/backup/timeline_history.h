// The history a restore records when it puts a data directory on a new
// timeline (PostgreSQL's .history files): the new timeline's number, the
// timeline it branched from, when and why, and per context where the new
// history begins (one past the last log index, event token and snapshot
// token the restore kept). The host keeps it in the control DB and hands it
// to the archiving provider with every segment, which stores it once beside
// the archive (docs/repository-format.md, "Timelines").
//
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/control_db.h"
#include "storage/event_store.h"

namespace hoststub {

// The JSON object, as docs/repository-format.md describes it.
std::string EncodeTimelineHistory(uint32_t timeline, uint32_t parent, int64_t created_ms,
                                  const std::string& reason,
                                  const std::vector<ContextState>& branch_points);

// The timeline a per-context restore of `context` into the running `store`
// moves its directory to: number `newest` + 1 (newest: the highest any
// archive of the directory or the restore's source holds), branching from
// the directory's timeline at the other contexts' ends now. The restored
// context is not listed: its history is the restore's, shared with nothing
// the old timeline archived, so a point in time after the restore needs a
// backup taken on the new timeline (docs/operations.md).
Result<TimelineInfo> TimelineForContextRestore(EventStore& store, const std::string& context,
                                               uint32_t newest, const std::string& reason);

// The timeline of a data directory (read through a connection of its own,
// so a running host's directory can be asked too).
Result<TimelineInfo> DataDirTimeline(const std::filesystem::path& data_dir);

}  // namespace hoststub
