// Cron fields as bit sets and the search for the next matching minute
// (see schedule_time.h).
#include "config/schedule_time.h"

#include <array>
#include <charconv>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace hoststub {
namespace {

struct FieldSpec {
  const char* name;
  int min;
  int max;
};

constexpr std::array<FieldSpec, 5> kFields = {{{"minute", 0, 59},
                                               {"hour", 0, 23},
                                               {"day of month", 1, 31},
                                               {"month", 1, 12},
                                               {"day of week", 0, 7}}};

// How far ahead Next may have to look: Feb 29 on a given weekday recurs
// within 28 years, so an expression matching nothing in 30 never matches.
constexpr int kSearchYears = 30;

bool ParseNumber(std::string_view text, int* out) {
  if (text.empty() || text.size() > 4) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t at = 0;
  while (true) {
    const size_t next = text.find(separator, at);
    parts.push_back(text.substr(at, next == std::string_view::npos ? next : next - at));
    if (next == std::string_view::npos) break;
    at = next + 1;
  }
  return parts;
}

// One field into `bits` (index = value); `*star` says whether it was `*`.
Status ParseField(std::string_view text, size_t index, std::vector<bool>* bits, bool* star) {
  const FieldSpec& spec = kFields[index];
  auto error = [&](std::string_view why) {
    return Status::InvalidArgument(
        fmt::format("cron field {} ({}) \"{}\": {}", index + 1, spec.name, text, why));
  };
  *star = text == "*";
  bits->assign(static_cast<size_t>(spec.max) + 1, false);
  for (std::string_view item : Split(text, ',')) {
    if (item.empty()) return error("an empty list item");
    int step = 1;
    bool has_step = false;
    if (const size_t slash = item.find('/'); slash != std::string_view::npos) {
      if (!ParseNumber(item.substr(slash + 1), &step) || step < 1) {
        return error("the step after '/' must be a positive number");
      }
      item = item.substr(0, slash);
      has_step = true;
    }
    int low = spec.min;
    int high = spec.max;
    if (item != "*") {
      const size_t dash = item.find('-');
      if (dash == std::string_view::npos) {
        if (!ParseNumber(item, &low)) {
          return error(fmt::format("\"{}\" is not a number, a range a-b or *", item));
        }
        // "5/15" means from 5 to the end in steps of 15, as in Vixie cron.
        high = has_step ? spec.max : low;
      } else if (!ParseNumber(item.substr(0, dash), &low) ||
                 !ParseNumber(item.substr(dash + 1), &high)) {
        return error(fmt::format("\"{}\" is not a range of two numbers a-b", item));
      }
    }
    if (low < spec.min || high > spec.max || low > spec.max || high < spec.min) {
      return error(fmt::format("values must be {} to {}", spec.min, spec.max));
    }
    if (low > high) return error(fmt::format("the range {}-{} is backwards", low, high));
    for (int v = low; v <= high; v += step) (*bits)[static_cast<size_t>(v)] = true;
  }
  return Status::OK();
}

}  // namespace

Result<CronExpression> CronExpression::Parse(std::string_view text) {
  std::vector<std::string_view> fields;
  size_t at = 0;
  while (at < text.size()) {
    const size_t start = text.find_first_not_of(" \t", at);
    if (start == std::string_view::npos) break;
    const size_t end = std::min(text.find_first_of(" \t", start), text.size());
    fields.push_back(text.substr(start, end - start));
    at = end;
  }
  if (fields.size() != 5) {
    return Status::InvalidArgument(fmt::format(
        "cron expression \"{}\" has {} field(s); it needs five: minute hour day-of-month month "
        "day-of-week (e.g. \"30 2 * * *\" for 02:30 UTC daily)",
        text, fields.size()));
  }
  CronExpression cron;
  cron.text_ = std::string(text);
  std::vector<bool> bits;
  bool star = false;
  HOSTSTUB_RETURN_IF_ERROR(ParseField(fields[0], 0, &bits, &star));
  for (size_t v = 0; v < 60; ++v) cron.minutes_[v] = bits[v];
  HOSTSTUB_RETURN_IF_ERROR(ParseField(fields[1], 1, &bits, &star));
  for (size_t v = 0; v < 24; ++v) cron.hours_[v] = bits[v];
  HOSTSTUB_RETURN_IF_ERROR(ParseField(fields[2], 2, &bits, &cron.month_day_star_));
  for (size_t v = 1; v < 32; ++v) cron.month_days_[v] = bits[v];
  HOSTSTUB_RETURN_IF_ERROR(ParseField(fields[3], 3, &bits, &star));
  for (size_t v = 1; v < 13; ++v) cron.months_[v] = bits[v];
  HOSTSTUB_RETURN_IF_ERROR(ParseField(fields[4], 4, &bits, &cron.week_day_star_));
  for (size_t v = 0; v < 8; ++v) {
    if (bits[v]) cron.week_days_[v % 7] = true;  // 7 is Sunday too
  }
  // A Feb 30 never comes: refuse it here rather than never run.
  const SystemTime epoch{};
  const auto probe = std::chrono::floor<std::chrono::days>(epoch);
  for (int d = 0; d < 366 * kSearchYears; ++d) {
    if (cron.FirstInDay(probe + std::chrono::days(d), 0)) return cron;
  }
  return Status::InvalidArgument(fmt::format(
      "cron expression \"{}\" matches no date (day of month and month never meet)", text));
}

bool CronExpression::DayMatches(int month_day, unsigned month, unsigned week_day) const {
  if (!months_[month]) return false;
  const bool by_month_day = month_days_[static_cast<size_t>(month_day)];
  const bool by_week_day = week_days_[week_day];
  // Vixie cron: with both day fields restricted, either one matching will do.
  if (!month_day_star_ && !week_day_star_) return by_month_day || by_week_day;
  return by_month_day && by_week_day;
}

std::optional<SystemTime> CronExpression::FirstInDay(std::chrono::sys_days day,
                                                     int from_minute) const {
  const std::chrono::year_month_day ymd(day);
  const std::chrono::weekday wd(day);
  if (!DayMatches(static_cast<int>(static_cast<unsigned>(ymd.day())),
                  static_cast<unsigned>(ymd.month()), wd.c_encoding())) {
    return std::nullopt;
  }
  for (int minute_of_day = from_minute; minute_of_day < 24 * 60; ++minute_of_day) {
    if (hours_[static_cast<size_t>(minute_of_day / 60)] &&
        minutes_[static_cast<size_t>(minute_of_day % 60)]) {
      return SystemTime(day) + std::chrono::minutes(minute_of_day);
    }
  }
  return std::nullopt;
}

SystemTime CronExpression::Next(SystemTime after) const {
  // The next whole minute strictly after `after`.
  const auto start = std::chrono::floor<std::chrono::minutes>(after) + std::chrono::minutes(1);
  const auto day = std::chrono::floor<std::chrono::days>(start);
  int from = static_cast<int>((start - day) / std::chrono::minutes(1));
  for (int d = 0; d < 366 * kSearchYears + 1; ++d) {
    if (auto found = FirstInDay(day + std::chrono::days(d), from)) return *found;
    from = 0;
  }
  return SystemTime::max();  // unreachable for a parsed expression
}

Result<std::chrono::seconds> ParseScheduleDuration(std::string_view text) {
  auto error = [&](std::string_view why) {
    return Status::InvalidArgument(fmt::format(
        "duration \"{}\": {} (write e.g. \"90s\", \"15m\", \"1h30m\", \"7d\")", text, why));
  };
  if (text.empty()) return error("it is empty");
  constexpr std::array<std::pair<char, int64_t>, 4> kUnits = {
      {{'d', 86'400}, {'h', 3'600}, {'m', 60}, {'s', 1}}};
  int64_t total = 0;
  size_t next_unit = 0;  // units must come in descending order, each once
  size_t at = 0;
  while (at < text.size()) {
    size_t digits = at;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == at) return error(fmt::format("expected a number at \"{}\"", text.substr(at)));
    if (digits == text.size()) return error("a number without a unit (s, m, h or d)");
    int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data() + at, text.data() + digits, n);
    if (ec != std::errc() || n > 100'000'000) return error("the number is too large");
    const char unit = text[digits];
    size_t u = next_unit;
    while (u < kUnits.size() && kUnits[u].first != unit) ++u;
    if (u == kUnits.size()) {
      return error(
          fmt::format("'{}' is not a unit here (s, m, h, d, largest first, each once)", unit));
    }
    total += n * kUnits[u].second;
    next_unit = u + 1;
    at = digits + 1;
  }
  return std::chrono::seconds(total);
}

std::string FormatScheduleDuration(std::chrono::seconds d) {
  int64_t left = d.count();
  if (left <= 0) return "0s";
  std::string text;
  for (const auto& [unit, size] : std::array<std::pair<char, int64_t>, 4>{
           {{'d', 86'400}, {'h', 3'600}, {'m', 60}, {'s', 1}}}) {
    if (left >= size) {
      text += std::to_string(left / size) + unit;
      left %= size;
    }
  }
  return text;
}

}  // namespace hoststub
