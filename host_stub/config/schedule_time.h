// When a schedule runs: a five-field cron expression ("m h dom mon dow",
// evaluated in UTC) or a fixed period ("every = 1h30m"), and the duration
// syntax both `every` and `jitter` use. Parse errors say which field is
// wrong and why; the config reader (schedule_config.h) prefixes file:line.
//
// Cron, as Vixie cron reads it: each field is `*`, a number, a range
// `a-b`, any of those with a step `/n`, or a comma-separated list of them.
// Minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7
// (0 and 7 are Sunday). When both day fields are restricted (neither is
// `*`), a day matches if either does. No names (jan, mon), no @macros.
//
// Thread-safety: pure functions; the types are plain values.
#pragma once

#include <bitset>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "util/status.h"

namespace hoststub {

using SystemTime = std::chrono::system_clock::time_point;

class CronExpression {
 public:
  // InvalidArgument "cron field 2 (hour) ..." naming the field and the
  // value; also refused: an expression no date ever matches ("0 0 30 2 *").
  static Result<CronExpression> Parse(std::string_view text);

  // The first minute strictly after `after` that matches (seconds zero),
  // in UTC. Always found for an expression Parse accepted.
  SystemTime Next(SystemTime after) const;

  const std::string& text() const { return text_; }

 private:
  bool DayMatches(int month_day, unsigned month, unsigned week_day) const;
  std::optional<SystemTime> FirstInDay(std::chrono::sys_days day, int from_minute) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> month_days_;  // bit 0 unused
  std::bitset<13> months_;      // bit 0 unused
  std::bitset<7> week_days_;    // 0 = Sunday
  bool month_day_star_ = false;
  bool week_day_star_ = false;
};

// "90s", "15m", "1h", "1h30m", "7d": whole seconds, units s, m, h, d, each
// at most once and in that descending order. InvalidArgument on anything
// else (no bare numbers: "60" could be seconds or minutes).
Result<std::chrono::seconds> ParseScheduleDuration(std::string_view text);

// The shortest text ParseScheduleDuration reads back as `d`: "1h30m", "0s".
std::string FormatScheduleDuration(std::chrono::seconds d);

}  // namespace hoststub
