// The [[schedules]] reader and the timing of one schedule (see
// schedule_config.h).
#include "config/schedule_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace hoststub {
namespace {

using toml_schema::ErrorAt;
using toml_schema::Integer;
using toml_schema::Key;
using toml_schema::OneOf;
using toml_schema::Reader;
using toml_schema::Value;
using toml_schema::WalkTable;

// A period under a second is a busy loop, not a schedule.
constexpr std::chrono::seconds kMinEvery{1};

Reader DurationValue(std::chrono::seconds& out, uint32_t* line) {
  return [&out, line](const Value& v) -> Status {
    const toml::value<std::string>* s = v.node().as_string();
    if (s == nullptr) return v.TypeError("a duration string such as \"1h\"");
    Result<std::chrono::seconds> d = ParseScheduleDuration(s->get());
    if (!d.ok()) return v.Error("'" + v.path() + "': " + d.status().message());
    out = *d;
    *line = v.line();
    return Status::OK();
  };
}

Reader CronValue(std::optional<CronExpression>& out, uint32_t* line) {
  return [&out, line](const Value& v) -> Status {
    const toml::value<std::string>* s = v.node().as_string();
    if (s == nullptr) return v.TypeError("a string (a five-field cron expression)");
    Result<CronExpression> cron = CronExpression::Parse(s->get());
    if (!cron.ok()) return v.Error("'" + v.path() + "': " + cron.status().message());
    out = std::move(cron).value();
    *line = v.line();
    return Status::OK();
  };
}

Reader Text(std::string& out) {
  return [&out](const Value& v) -> Status {
    const toml::value<std::string>* s = v.node().as_string();
    if (s == nullptr) return v.TypeError("a string");
    if (s->get().empty()) return v.Error("'" + v.path() + "' must not be empty");
    out = s->get();
    return Status::OK();
  };
}

}  // namespace

const char* ScheduleKindName(ScheduleKind kind) {
  switch (kind) {
    case ScheduleKind::kFull:
      return "full";
    case ScheduleKind::kIncremental:
      return "incremental";
    case ScheduleKind::kDrill:
      return "drill";
  }
  return "unknown";
}

SystemTime ScheduleConfig::NextAfter(SystemTime after) const {
  if (cron) return cron->Next(after);
  return after + every;
}

std::string ScheduleConfig::DescribeWhen() const {
  std::string text = cron ? fmt::format("cron \"{}\" (UTC)", cron->text())
                          : fmt::format("every {}", FormatScheduleDuration(every));
  if (jitter.count() > 0) text += fmt::format(", jitter {}", FormatScheduleDuration(jitter));
  return text;
}

bool ScheduleConfig::SameAs(const ScheduleConfig& other) const {
  return name == other.name && provider == other.provider && kind == other.kind &&
         every == other.every && cron.has_value() == other.cron.has_value() &&
         (!cron || cron->text() == other.cron->text()) && jitter == other.jitter &&
         keep == other.keep;
}

namespace {

// With no [[schedules]] configured, `hostd config show` writes this: the
// keys with their meaning, commented out.
constexpr std::string_view kScheduleExample =
    "# [[schedules]]\n"
    "# name = \"nightly\"          # optional; default \"<provider>-<kind>\", unique\n"
    "# provider = \"local\"        # a [[providers]] name\n"
    "# kind = \"full\"             # \"full\", \"incremental\" (a full when there is no\n"
    "#                             # base yet) or \"drill\" (restore the newest backup\n"
    "#                             # into a scratch directory, check it, delete it)\n"
    "# cron = \"30 2 * * *\"       # five fields, UTC; or every = \"1h\" (at least 1s)\n"
    "# jitter = \"5m\"             # optional random delay after each due time\n"
    "# keep_last = 7              # retention after each backup (restic's meaning;\n"
    "# keep_daily = 14            # 0 or absent: the rule is off); also keep_hourly,\n"
    "# keep_weekly = 8            # keep_monthly. A kept incremental keeps its chain.\n";

std::string RenderSchedule(const ScheduleConfig& s) {
  std::string out = "[[schedules]]\n";
  out += "name = " + toml_schema::TomlString(s.name) + "\n";
  out += "provider = " + toml_schema::TomlString(s.provider) + "\n";
  out += fmt::format("kind = \"{}\"\n", ScheduleKindName(s.kind));
  if (s.cron) {
    out += "cron = " + toml_schema::TomlString(s.cron->text()) + "\n";
  } else {
    out += "every = " + toml_schema::TomlString(FormatScheduleDuration(s.every)) + "\n";
  }
  if (s.jitter.count() > 0) {
    out += "jitter = " + toml_schema::TomlString(FormatScheduleDuration(s.jitter)) + "\n";
  }
  const std::pair<const char*, uint32_t> keep[] = {{"keep_last", s.keep.last},
                                                   {"keep_hourly", s.keep.hourly},
                                                   {"keep_daily", s.keep.daily},
                                                   {"keep_weekly", s.keep.weekly},
                                                   {"keep_monthly", s.keep.monthly}};
  for (const auto& [key, n] : keep) {
    if (n > 0) out += fmt::format("{} = {}\n", key, n);
  }
  return out;
}

Reader ReadSchedules(std::vector<ScheduleConfig>& out) {
  return [&out](const Value& v) -> Status {
    const toml::array* array = v.node().as_array();
    if (array == nullptr || (!array->empty() && !array->is_array_of_tables())) {
      return v.TypeError("an array of tables ([[schedules]])");
    }
    constexpr int64_t kMaxKeep = std::numeric_limits<uint32_t>::max();
    for (const toml::node& element : *array) {
      const toml::table& entry = *element.as_table();
      ScheduleConfig s;
      s.source = std::string(v.source());
      s.line = entry.source().begin.line != 0 ? entry.source().begin.line : v.line();
      bool kind_set = false;
      uint32_t every_line = 0;
      uint32_t cron_line = 0;
      uint32_t jitter_line = 0;
      toml_schema::Field kind_field = OneOf(s.kind, {{"full", ScheduleKind::kFull},
                                                     {"incremental", ScheduleKind::kIncremental},
                                                     {"drill", ScheduleKind::kDrill}});
      std::vector<Key> keys = {
          {"name", Text(s.name)},
          {"provider", Text(s.provider)},
          {"kind", Reader([&](const Value& k) {
             kind_set = true;
             return kind_field.read(k);
           })},
          {"every", DurationValue(s.every, &every_line)},
          {"cron", CronValue(s.cron, &cron_line)},
          {"jitter", DurationValue(s.jitter, &jitter_line)},
          {"keep_last", Integer(s.keep.last, 0, kMaxKeep)},
          {"keep_hourly", Integer(s.keep.hourly, 0, kMaxKeep)},
          {"keep_daily", Integer(s.keep.daily, 0, kMaxKeep)},
          {"keep_weekly", Integer(s.keep.weekly, 0, kMaxKeep)},
          {"keep_monthly", Integer(s.keep.monthly, 0, kMaxKeep)},
      };
      HOSTSTUB_RETURN_IF_ERROR(WalkTable(entry, v.path(), v.source(), keys, "[[schedules]]"));
      if (s.provider.empty()) {
        return ErrorAt(v.source(), s.line,
                       "a [[schedules]] entry has no 'provider' (the [[providers]] name it runs "
                       "through)");
      }
      if (!kind_set) {
        return ErrorAt(v.source(), s.line,
                       "a [[schedules]] entry has no 'kind': \"full\", \"incremental\" or "
                       "\"drill\" (a restore drill)");
      }
      if (s.name.empty()) s.name = s.provider + "-" + ScheduleKindName(s.kind);
      if ((every_line != 0) == (cron_line != 0)) {
        return ErrorAt(v.source(), every_line != 0 ? cron_line : s.line,
                       fmt::format("schedule '{}' needs exactly one of 'every' (e.g. \"1h\") and "
                                   "'cron' (e.g. \"30 2 * * *\")",
                                   s.name));
      }
      if (every_line != 0 && s.every < kMinEvery) {
        return ErrorAt(v.source(), every_line,
                       fmt::format("schedule '{}': 'every' must be at least 1s", s.name));
      }
      if (s.kind == ScheduleKind::kDrill && s.keep.any()) {
        return ErrorAt(v.source(), s.line,
                       fmt::format("schedule '{}' is a restore drill: keep_* rules apply to "
                                   "backup schedules only",
                                   s.name));
      }
      for (const ScheduleConfig& earlier : out) {
        if (earlier.name == s.name) {
          return ErrorAt(v.source(), s.line,
                         fmt::format("schedule name '{}' is already used at line {}; give one "
                                     "of them a 'name'",
                                     s.name, earlier.line));
        }
      }
      out.push_back(std::move(s));
    }
    return Status::OK();
  };
}

}  // namespace

toml_schema::Field Schedules(std::vector<ScheduleConfig>& out) {
  toml_schema::Field field;
  field.read = ReadSchedules(out);
  field.render = [&out](const std::string&, bool) -> std::string {
    if (out.empty()) return std::string(kScheduleExample);
    std::string text;
    for (const ScheduleConfig& s : out) {
      if (!text.empty()) text += "\n";
      text += RenderSchedule(s);
    }
    return text;
  };
  return field;
}

Status CheckScheduleProviders(const std::vector<ScheduleConfig>& schedules,
                              const std::vector<std::string>& provider_names) {
  for (const ScheduleConfig& s : schedules) {
    if (std::find(provider_names.begin(), provider_names.end(), s.provider) !=
        provider_names.end()) {
      continue;
    }
    std::string names;
    for (const std::string& n : provider_names) names += (names.empty() ? "'" : ", '") + n + "'";
    return ErrorAt(s.source, s.line,
                   fmt::format("schedule '{}' names provider '{}', which is not configured "
                               "(configured: {})",
                               s.name, s.provider, names.empty() ? "none" : names));
  }
  return Status::OK();
}

}  // namespace hoststub
