// [[schedules]] and the time syntax it uses: cron expressions against
// dates worked out by hand (calendar facts, not this parser's arithmetic),
// durations, and every config error naming its file:line.
#include "config/schedule_config.h"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "config/host_config.h"
#include "test_support.h"

using namespace hoststub;
using testing_support::Contains;
using namespace std::chrono;

namespace {

// A UTC date and time; sys_days is exact civil arithmetic.
SystemTime At(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0) {
  return sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi) + seconds(s);
}

SystemTime NextOf(const std::string& cron, SystemTime after) {
  Result<CronExpression> parsed = CronExpression::Parse(cron);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  return parsed->Next(after);
}

std::string ErrorOf(const std::string& toml) {
  Result<HostConfig> config = ParseHostConfig(toml, "host.toml");
  REQUIRE_FALSE(config.ok());
  return config.status().message();
}

const char* kProvider = "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n";

}  // namespace

TEST_CASE("schedule time: cron Next walks minutes, hours, days and month ends") {
  // 02:30 daily: before and after the time of day.
  CHECK(NextOf("30 2 * * *", At(2026, 3, 10, 1, 0)) == At(2026, 3, 10, 2, 30));
  CHECK(NextOf("30 2 * * *", At(2026, 3, 10, 2, 30)) == At(2026, 3, 11, 2, 30));
  // Every 15 minutes, from 10:07:59.
  CHECK(NextOf("*/15 * * * *", At(2026, 3, 10, 10, 7, 59)) == At(2026, 3, 10, 10, 15));
  // Lists and ranges: 9 and 17 on weekdays. 2026-03-14 is a Saturday.
  CHECK(NextOf("0 9,17 * * 1-5", At(2026, 3, 13, 17, 0)) == At(2026, 3, 16, 9, 0));
  // Sunday as 7 and as 0. 2026-03-15 is a Sunday.
  CHECK(NextOf("0 0 * * 7", At(2026, 3, 10)) == At(2026, 3, 15));
  CHECK(NextOf("0 0 * * 0", At(2026, 3, 10)) == At(2026, 3, 15));
  // The 31st skips the months without one; February 29 waits for a leap year.
  CHECK(NextOf("0 0 31 * *", At(2026, 4, 1)) == At(2026, 5, 31));
  CHECK(NextOf("0 12 29 2 *", At(2026, 3, 1)) == At(2028, 2, 29, 12, 0));
  // Both day fields restricted: either matches (the 1st, or a Monday).
  // 2026-06-01 is a Monday; after it, Monday 2026-06-08 comes before July 1.
  CHECK(NextOf("0 0 1 * 1", At(2026, 6, 1, 0, 0)) == At(2026, 6, 8));
  // A step from a start: minutes 5, 25, 45.
  CHECK(NextOf("5/20 * * * *", At(2026, 3, 10, 10, 26)) == At(2026, 3, 10, 10, 45));
  // Year end.
  CHECK(NextOf("0 0 1 1 *", At(2026, 12, 31, 23, 59)) == At(2027, 1, 1));
}

TEST_CASE("schedule time: bad cron expressions and durations say what is wrong") {
  auto error = [](const std::string& cron) {
    Result<CronExpression> parsed = CronExpression::Parse(cron);
    REQUIRE_FALSE(parsed.ok());
    return parsed.status().message();
  };
  CHECK(Contains(error("* * * *"), "has 4 field(s); it needs five"));
  CHECK(Contains(error("60 * * * *"), "cron field 1 (minute) \"60\": values must be 0 to 59"));
  CHECK(Contains(error("0 24 * * *"), "field 2 (hour)"));
  CHECK(Contains(error("0 0 0 * *"), "field 3 (day of month)"));
  CHECK(Contains(error("0 0 * 13 *"), "field 4 (month)"));
  CHECK(Contains(error("0 0 * * 8"), "field 5 (day of week)"));
  CHECK(Contains(error("0 5-2 * * *"), "backwards"));
  CHECK(Contains(error("*/0 * * * *"), "step"));
  CHECK(Contains(error("0 0 * jan *"), "\"jan\" is not a number"));
  CHECK(Contains(error("0 0 30 2 *"), "matches no date"));

  CHECK(ParseScheduleDuration("1h30m").value() == seconds(5400));
  CHECK(ParseScheduleDuration("7d").value() == seconds(7 * 86400));
  CHECK(ParseScheduleDuration("90s").value() == seconds(90));
  CHECK_FALSE(ParseScheduleDuration("60").ok());     // no unit
  CHECK_FALSE(ParseScheduleDuration("30m1h").ok());  // units out of order
  CHECK_FALSE(ParseScheduleDuration("1y").ok());
  CHECK_FALSE(ParseScheduleDuration("").ok());
  CHECK(FormatScheduleDuration(seconds(5400)) == "1h30m");
}

TEST_CASE("schedule config: entries are read whole and their timing follows them") {
  Result<HostConfig> config = ParseHostConfig(std::string(kProvider) + R"(
[[schedules]]
provider = "local"
kind = "incremental"
every = "1h"
jitter = "5m"
keep_last = 3
keep_daily = 7
keep_weekly = 4
keep_monthly = 6

[[schedules]]
name = "weekly-drill"
provider = "local"
kind = "drill"
cron = "0 3 * * 0"
)",
                                              "host.toml");
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  REQUIRE(config->schedules.size() == 2);
  const ScheduleConfig& hourly = config->schedules[0];
  CHECK(hourly.name == "local-incremental");
  CHECK(hourly.kind == ScheduleKind::kIncremental);
  CHECK(hourly.every == hours(1));
  CHECK(hourly.jitter == minutes(5));
  CHECK(hourly.keep == KeepRules{3, 0, 7, 4, 6});
  CHECK(hourly.NextAfter(At(2026, 3, 10, 10, 17)) == At(2026, 3, 10, 11, 17));
  CHECK(hourly.line == 5);
  const ScheduleConfig& drill = config->schedules[1];
  CHECK(drill.kind == ScheduleKind::kDrill);
  CHECK(drill.NextAfter(At(2026, 3, 10)) == At(2026, 3, 15, 3, 0));
  CHECK(drill.DescribeWhen() == "cron \"0 3 * * 0\" (UTC)");
  CHECK_FALSE(hourly.SameAs(drill));
}

TEST_CASE("schedule config: each mistake is refused with its file and line") {
  const std::string p = kProvider;
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nkind = 'full'\n"),
                 "host.toml:4: schedule 'local-full' needs exactly one of 'every'"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nkind = 'full'\nevery = '1h'\n"
                             "cron = '0 * * * *'\n"),
                 "host.toml:8: schedule 'local-full' needs exactly one"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nkind = 'full'\n"
                             "cron = '0 25 * * *'\n"),
                 "host.toml:7: 'schedules.cron': cron field 2 (hour)"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nkind = 'full'\nevery = '1x'\n"),
                 "host.toml:7: 'schedules.every': duration \"1x\""));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nkind = 'weekly'\n"),
                 "host.toml:6:"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nevery = '1h'\n"),
                 "host.toml:4: a [[schedules]] entry has no 'kind'"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nkind = 'full'\nevery = '1h'\n"),
                 "host.toml:4: a [[schedules]] entry has no 'provider'"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'remote'\nkind = 'full'\nevery = '1h'\n"),
                 "host.toml:4: schedule 'remote-full' names provider 'remote', which is not "
                 "configured (configured: 'local')"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nkind = 'drill'\nevery = '1h'\n"
                             "keep_last = 2\n"),
                 "host.toml:4: schedule 'local-drill' is a restore drill"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nkind = 'full'\nevery = '1h'\n"
                             "[[schedules]]\nprovider = 'local'\nkind = 'full'\nevery = '2h'\n"),
                 "host.toml:8: schedule name 'local-full' is already used at line 4"));
  CHECK(Contains(ErrorOf(p + "[[schedules]]\nprovider = 'local'\nkind = 'full'\nevery = '1h'\n"
                             "keep_yearly = 2\n"),
                 "host.toml:8:"));
}
