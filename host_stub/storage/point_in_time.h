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

  bool set() const { return kind != Kind::kNone; }
  // "token 1234 in context 'orders'", "2026-11-30T10:00:00.000Z", ...
  std::string Describe() const;
};

// What one context holds after the cut.
struct CutReport {
  std::string context;
  bool cut = false;                     // anything was removed
  uint64_t last_log_index = 0;          // 0: no entry kept
  std::optional<uint64_t> last_token;   // the last event kept
  std::optional<int64_t> last_time_ms;  // when it was appended
};

Result<std::vector<CutReport>> CutToTarget(const std::filesystem::path& data_dir,
                                           const RestoreTarget& target);

}  // namespace hoststub
