// UTC times (see utc_time.h).
#include "repo/utc_time.h"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace repo {
namespace {

std::tm Broken(int64_t seconds) {
  const std::time_t t = static_cast<std::time_t>(seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return tm;
}

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string FormatUtc(int64_t ms) {
  const std::tm tm = Broken(ms / 1000);
  char out[32];
  std::strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return out;
}

std::string FormatUtc(std::chrono::system_clock::time_point t) {
  return FormatUtc(static_cast<int64_t>(std::chrono::system_clock::to_time_t(t)) * 1000);
}

std::string FormatUtcCompact(int64_t ms) {
  const std::tm tm = Broken(ms / 1000);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  char out[40];
  std::snprintf(out, sizeof out, "%s%03dZ", stamp, static_cast<int>(ms % 1000));
  return out;
}

std::optional<int64_t> ParseUtcMs(const std::string& text) {
  // Digits at fixed places, then an optional fraction, then 'Z'.
  static const char kShape[] = "dddd-dd-ddTdd:dd:dd";
  const size_t n = sizeof kShape - 1;
  if (text.size() < n + 1) return std::nullopt;
  for (size_t i = 0; i < n; ++i) {
    const bool digit = std::isdigit(static_cast<unsigned char>(text[i])) != 0;
    if (kShape[i] == 'd' ? !digit : text[i] != kShape[i]) return std::nullopt;
  }
  auto num = [&](size_t at, size_t len) { return std::stoi(text.substr(at, len)); };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(5, 2) - 1;
  tm.tm_mday = num(8, 2);
  tm.tm_hour = num(11, 2);
  tm.tm_min = num(14, 2);
  tm.tm_sec = num(17, 2);
  size_t at = n;
  int64_t fraction_ms = 0;
  if (text[at] == '.') {
    int64_t scale = 1000;
    for (++at; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at])); ++at) {
      scale /= 10;
      fraction_ms += (text[at] - '0') * scale;
    }
  }
  if (at + 1 != text.size() || text[at] != 'Z' || tm.tm_mon > 11 || tm.tm_mday < 1 ||
      tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  return static_cast<int64_t>(timegm(&tm)) * 1000 + fraction_ms;
}

}  // namespace repo
