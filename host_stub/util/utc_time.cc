// UTC time stamps: one gmtime_r and one strftime pattern per format.
#include "util/utc_time.h"

#include <ctime>
#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace hoststub {

int64_t EpochMs(std::chrono::system_clock::time_point time) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
}

int64_t NowMs() { return EpochMs(std::chrono::system_clock::now()); }

std::string FormatUtc(int64_t epoch_ms, UtcFormat format) {
  // Floor division: -1 ms is 23:59:59.999 of the day before, not 00:00:00.
  int64_t seconds = epoch_ms / 1000;
  int64_t millis = epoch_ms % 1000;
  if (millis < 0) {
    millis += 1000;
    seconds -= 1;
  }
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  // gmtime_r fails only past year 2^31, which no int64_t of ms reaches;
  // should it fail anyway, say what the number is rather than a wrong date.
  if (gmtime_r(&t, &utc) == nullptr) return fmt::format("{} ms since the epoch", epoch_ms);
  const char* pattern = "%Y-%m-%d %H:%M:%S UTC";  // kHuman
  switch (format) {
    case UtcFormat::kHuman:
      break;
    case UtcFormat::kIso8601:
      pattern = "%Y-%m-%dT%H:%M:%SZ";
      break;
    case UtcFormat::kIso8601Millis:
      pattern = "%Y-%m-%dT%H:%M:%S";  // the milliseconds and Z follow
      break;
    case UtcFormat::kCompact:
      pattern = "%Y%m%dT%H%M%SZ";
      break;
  }
  char text[64];
  const size_t n = std::strftime(text, sizeof text, pattern, &utc);
  std::string out(text, n);
  if (format == UtcFormat::kIso8601Millis) out += fmt::format(".{:03d}Z", millis);
  return out;
}

std::optional<int64_t> ParseUtcMs(const std::string& text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
    try {
      return std::stoll(text);
    } catch (const std::out_of_range&) {
      return std::nullopt;
    }
  }
  std::tm tm{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  int64_t ms = 0;
  if (*rest == '.') {
    ++rest;
    int digits = 0;
    for (; *rest >= '0' && *rest <= '9'; ++rest) {
      if (digits++ < 3) ms = ms * 10 + (*rest - '0');
    }
    for (; digits < 3; ++digits) ms *= 10;
  }
  if (std::string(rest) != "Z") return std::nullopt;
  return static_cast<int64_t>(timegm(&tm)) * 1000 + ms;
}

}  // namespace hoststub
