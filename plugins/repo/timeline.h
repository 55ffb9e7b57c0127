// Timelines (PostgreSQL's): every restore from a repository whose archive
// holds anything puts the restored host on a new timeline, so its archive
// goes on beside the history it came from instead of colliding with it.
// Timeline 1 is implicit (every repository from before timelines is wholly
// on it); each later one has a history object
//
//   timelines/<timeline, 8 digits>.json
//
// naming its parent and, per context, where it branched: one past the last
// log index, event token and snapshot token the restore kept. Its archive
// records sit beside the first timeline's, their keys carrying its number
// (archive.h). Reading timeline T's history means following parents down to
// 1: from each ancestor only what lies before the branch of its child.
//
// Errors: throws bkp::Error (BKP_E_CORRUPT for an unreadable history,
// BKP_E_NOT_FOUND for an unknown timeline, BKP_E_REFUSED_BY_POLICY for a
// second, different history of the same number).
// Thread-safety: plain values; the functions read or write the repository.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "repo/manifest.h"
#include "repo/repository.h"

namespace repo {

inline constexpr const char* kTimelinePrefix = "timelines/";

// Where a timeline's history begins in one context: one past the last log
// index, event token and snapshot token it shares with its parent.
struct BranchPoint {
  uint64_t log = 0;
  uint64_t events = 0;
  uint64_t snapshots = 0;
  uint64_t Of(uint32_t role) const;  // BKP_ROLE_LOG, _EVENTS or _SNAPSHOTS
};

struct TimelineHistory {
  uint32_t timeline = 1;
  uint32_t parent = 0;  // 0 for timeline 1
  int64_t created_ms = 0;
  std::string reason;
  // A context absent here did not exist at the branch: nothing of it is
  // shared with the parent.
  std::map<std::string, BranchPoint> contexts;
};

// Parses the JSON a host hands over (bkp_archive_args.timeline_history) or
// a stored history object; `what` names it in errors.
TimelineHistory DecodeTimelineHistory(const std::string& json, const std::string& what);
std::string EncodeTimelineHistory(const TimelineHistory& history);

// Every timeline the repository knows, by number; timeline 1 always.
std::map<uint32_t, TimelineHistory> LoadTimelines(StorageDriver& driver);
// The highest number (what "newest" means: like PostgreSQL, the latest
// timeline created, not the one holding the newest data).
uint32_t NewestTimeline(const std::map<uint32_t, TimelineHistory>& timelines);
// From timeline 1 up to `timeline`, each the parent of the next.
// BKP_E_NOT_FOUND naming the known ones when `timeline` is unknown;
// BKP_E_CORRUPT when a parent is missing or the parents loop.
std::vector<TimelineHistory> Lineage(const std::map<uint32_t, TimelineHistory>& timelines,
                                     uint32_t timeline);

// Stores `history` as its timeline's object if there is none yet; one that
// is there must say the same (else BKP_E_REFUSED_BY_POLICY: two restores
// chose the same number). Marks the repository format as holding
// timelines first, so that a reader that knows none refuses it instead of
// collecting the new timeline's objects as garbage.
void PublishTimeline(Repository& repository, const TimelineHistory& history);

// Whether a backup taken on `m.timeline` belongs to the history of the last
// timeline of `lineage`: its own timeline is in the lineage and, unless it
// is the last, everything it holds lies before the branch of the next one.
bool BackupOnLineage(const Manifest& m, const std::vector<TimelineHistory>& lineage);

}  // namespace repo
