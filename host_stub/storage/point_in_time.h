// Cutting a stopped data directory back to a point in time: what makes a
// point-in-time restore exact whatever the provider fed. A restore to a
// token keeps, in the context named (or every context), the events up to
// that token; one to a time keeps, in every context, the events appended at
// or before it. Appends are atomic: a batch the target falls inside is cut
// whole, so the point kept is the last whole append at or before the target.
// The log is cut at the entry that carried the last event kept, snapshots
// with it, and the commit index is lowered to the last entry kept, so the
// invariants of docs/design.md §2.1 hold before recovery even opens the directory.
//
// Errors: IOError/Corruption naming the file; nothing is cut in a context
// whose segments cannot be read.
// Thread-safety: run on a directory no store has open (the restore's
// staging directory).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/status.h"

namespace hoststub {

struct RestoreTarget {
  enum class Kind { kNone, kToken, kTime };
  Kind kind = Kind::kNone;
  uint64_t token = 0;   // kToken: the last event wanted
  int64_t time_ms = 0;  // kTime: ms since the Unix epoch
  std::string context;  // kToken: empty for every context
  // The timeline to restore along (see bkp_restore_args.timeline); 0: the
  // newest. Any kind, also kNone (a backup as it is, on its timeline).
  uint32_t timeline = 0;

  bool set() const { return kind != Kind::kNone; }
  // "token 1234 in context 'orders'", "2026-11-30T10:00:00.000Z", ...
  std::string Describe() const;
};

// What one context holds after the cut.
struct CutReport {
  std::string context;
  bool cut = false;  // anything was removed
  // The context began after the target (nothing of it is kept, and the
  // restored control DB does not know it): its directory was removed.
  bool left_out = false;
  uint64_t last_log_index = 0;          // 0: no entry kept
  std::optional<uint64_t> last_token;   // the last event kept
  std::optional<int64_t> last_time_ms;  // when it was appended
  // The context's first event before the cut, and when it was appended:
  // a target before every context's first event restores nothing.
  std::optional<uint64_t> first_token;
  std::optional<int64_t> first_time_ms;
};

// Whether the cut left no event in any context although a target was set:
// such a target lies before any data (or nothing was restored at all).
// Returns why, naming the first event there was; empty when events remain.
std::string NothingLeftAfterCut(const std::vector<CutReport>& reports, const RestoreTarget& target);

Result<std::vector<CutReport>> CutToTarget(const std::filesystem::path& data_dir,
                                           const RestoreTarget& target);

}  // namespace hoststub
