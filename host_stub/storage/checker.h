// The consistency checker behind `hostd check`: verifies the invariants of
// docs/design.md §2.1 on a data directory without modifying it.
//
//  * commit index (control DB) <= last log index, per context;
//  * log indexes contiguous across all log segments, terms non-decreasing;
//  * event (and snapshot) tokens contiguous from the first to the last;
//  * every record whole: a bad record in a closed segment is a violation; in
//    the active segment it is reported as a torn tail that recovery truncates
//    (a hot backup's copy of an active segment may legitimately end in one);
//  * every event was applied from a log entry that exists or was compacted;
//  * segment names match the first index/token they hold.
//
// Thread-safety: CheckDataDir only reads; run it on a stopped host's directory
// (a live host may be mid-append, which shows as a torn tail).
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace hoststub {

struct CheckReport {
  // Each broken invariant, as "<file or context>: <what is wrong>".
  std::vector<std::string> violations;
  // Things worth knowing that are not violations (e.g. a torn active tail).
  std::vector<std::string> notes;
  // One line per context: indexes, tokens, commit index.
  std::vector<std::string> summary;
  bool ok() const { return violations.empty(); }
};

CheckReport CheckDataDir(const std::filesystem::path& data_dir);

// Prints the report in the format `hostd check` uses.
void PrintCheckReport(const CheckReport& report, std::ostream& out);

}  // namespace hoststub
