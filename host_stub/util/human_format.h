// What the command-line tools show people: sizes, times, durations, and the
// table of backups that both hostctl (through the host) and hostd (offline)
// print, so the two never drift apart.
//
// Thread-safety: pure functions (PrintBackupTable writes to `out`).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace hoststub {

// "12.3 MiB".
std::string FormatBytes(uint64_t bytes);
// "2026-11-21 13:10:35 UTC" for ms since the epoch: FormatUtc's kHuman, by
// the name the command-line tools use.
std::string FormatEpochMs(int64_t ms);
// "7d", "12h", "30m", "45s", "500ms", "2w"; nullopt if not one of those or
// too large.
std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text);

struct BackupTableRow {
  std::string id;
  std::string type;
  int64_t created_ms = 0;
  uint64_t bytes = 0;
  uint64_t stored_bytes = 0;
  uint64_t files = 0;
  std::string parent;  // empty for none
  uint32_t timeline = 1;
};

// The timeline a provider's details JSON names (1 when it names none, as
// from a provider or repository from before timelines).
uint32_t TimelineOfDetails(std::string_view details);

// ID TYPE CREATED SIZE STORED FILES PARENT TIMELINE, columns aligned,
// numbers right.
void PrintBackupTable(std::ostream& out, const std::vector<BackupTableRow>& backups);

}  // namespace hoststub
