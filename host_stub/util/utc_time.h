// Time stamps in UTC, the one place the host turns a point in time into
// text: the CLI's tables, the operation descriptions of the admin API, the
// restore target in messages and the name of a set-aside directory all
// format here, so they cannot drift apart.
//
// Thread-safety: pure functions (gmtime_r, no shared state).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace hoststub {

// `time` as ms since the Unix epoch (UTC), the unit every time stamp the
// host stores or sends is in. Never fails.
int64_t EpochMs(std::chrono::system_clock::time_point time);

// The wall clock now, as EpochMs.
int64_t NowMs();

enum class UtcFormat {
  kHuman,          // "2026-11-21 13:10:35 UTC": what people read (the CLI)
  kIso8601,        // "2026-11-21T13:10:35Z": machines and people (the API)
  kIso8601Millis,  // "2026-11-21T13:10:35.123Z": to the millisecond
  kCompact,        // "20261121T131035Z": no separators, for file names
};

// `epoch_ms` (ms since the Unix epoch, UTC) in `format`. The formats other
// than kIso8601Millis drop the milliseconds (round down: 13:10:35.999 is
// 13:10:35, also before 1970). Every int64_t value is a date (years up to
// about 292 million, with more than four digits then). Never fails.
std::string FormatUtc(int64_t epoch_ms, UtcFormat format);

// "2026-11-30T10:00:00Z", "2026-11-30T10:00:00.250Z" (to the ms; further
// digits dropped) or "1764496800250" (ms since the epoch) as ms since the
// epoch; nullopt for anything else. The restore commands' --to-time.
std::optional<int64_t> ParseUtcMs(const std::string& text);

}  // namespace hoststub
