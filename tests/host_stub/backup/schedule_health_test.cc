// When a schedule is stale (backup/schedule_health.h): the deadline rules
// on chosen times, and the judgement against a real operation history file.
#include "backup/schedule_health.h"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>
#include <string>

#include "test_support.h"

using namespace hoststub;
using testing_support::TempDir;
using namespace std::chrono;

namespace {

// 2026-03-13 is a Friday.
SystemTime At(int day, int hour, int minute) {
  return sys_days(year(2026) / 3 / day) + hours(hour) + minutes(minute);
}

ScheduleStatus Every(seconds period, seconds jitter = seconds(0)) {
  ScheduleStatus s;
  s.config.name = "every";
  s.config.provider = "local";
  s.config.every = period;
  s.config.jitter = jitter;
  s.in_effect_since = At(1, 0, 0);
  return s;
}

ScheduleStatus Cron(const std::string& text, ScheduleKind kind = ScheduleKind::kFull) {
  ScheduleStatus s;
  s.config.name = "cron";
  s.config.provider = "local";
  s.config.kind = kind;
  auto parsed = CronExpression::Parse(text);
  REQUIRE_MESSAGE(parsed.ok(), parsed.status().ToString());
  s.config.cron = *parsed;
  s.in_effect_since = At(1, 0, 0);
  return s;
}

OperationRecord Finished(const std::string& provider, const std::string& kind,
                         const std::string& result, SystemTime at) {
  OperationRecord r;
  r.provider = provider;
  r.kind = kind;
  r.result = result;
  r.finished_ms = duration_cast<milliseconds>(at.time_since_epoch()).count();
  r.started_ms = r.finished_ms - 1000;
  return r;
}

}  // namespace

TEST_CASE("schedule health: an every schedule goes stale after twice its period, jitter added") {
  const SystemTime backup = At(10, 9, 0);
  ScheduleHealth h = JudgeSchedule(Every(hours(1)), backup, backup + hours(2));
  CHECK_FALSE(h.stale);
  CHECK(h.max_age == hours(2));
  CHECK(h.deadline == backup + hours(2));
  CHECK(JudgeSchedule(Every(hours(1)), backup, backup + hours(2) + seconds(1)).stale);
  // A run may start up to `jitter` late.
  const ScheduleStatus jittered = Every(hours(1), minutes(5));
  CHECK_FALSE(JudgeSchedule(jittered, backup, backup + hours(2) + minutes(4)).stale);
  CHECK(JudgeSchedule(jittered, backup, backup + hours(2) + minutes(5) + seconds(1)).stale);
  CHECK(JudgeSchedule(jittered, backup, backup).max_age == hours(2) + minutes(5));
}

TEST_CASE("schedule health: a cron schedule's period is the interval between its firings") {
  // Daily at 02:30: a backup that finished at 02:31 is stale a minute after
  // two days' firings.
  const ScheduleStatus daily = Cron("30 2 * * *");
  CHECK(JudgeSchedule(daily, At(10, 2, 31), At(10, 2, 31)).deadline == At(12, 2, 31));
  CHECK_FALSE(JudgeSchedule(daily, At(10, 2, 31), At(12, 2, 31)).stale);
  CHECK(JudgeSchedule(daily, At(10, 2, 31), At(12, 2, 32)).stale);
  // Weekdays at 02:00: Friday's backup is not stale over the weekend (the
  // interval between Monday's and Tuesday's firings is a day, and the
  // deadline is never before the second firing after it).
  const ScheduleStatus weekdays = Cron("0 2 * * 1-5");
  const SystemTime friday = At(13, 2, 5);
  CHECK_FALSE(JudgeSchedule(weekdays, friday, At(15, 12, 0)).stale);
  CHECK_FALSE(JudgeSchedule(weekdays, friday, At(17, 2, 0)).stale);
  CHECK(JudgeSchedule(weekdays, friday, At(17, 2, 1)).stale);
  // Every 15 minutes.
  CHECK(JudgeSchedule(Cron("*/15 * * * *"), At(10, 9, 0), At(10, 9, 0)).max_age == minutes(30));
}

TEST_CASE("schedule health: with no backup yet the age counts from when the schedule took effect") {
  ScheduleStatus s = Every(minutes(10));
  s.in_effect_since = At(10, 9, 0);
  ScheduleHealth h = JudgeSchedule(s, std::nullopt, At(10, 9, 20));
  CHECK_FALSE(h.stale);
  CHECK(h.since == s.in_effect_since);
  CHECK_FALSE(h.newest.has_value());
  CHECK(JudgeSchedule(s, std::nullopt, At(10, 9, 21)).stale);
}

TEST_CASE("schedule health: judged by the history's newest successful backup or passed drill") {
  TempDir dir;
  auto history = OperationHistory::Open(dir / "history.sqlite");
  REQUIRE_MESSAGE(history.ok(), history.status().ToString());
  OperationHistory& h = **history;
  REQUIRE(h.Record(Finished("local", "backup", "succeeded", At(10, 9, 0))).ok());
  // A newer failed backup does not count, a newer backup via another
  // provider neither; a drill counts for drill schedules only.
  REQUIRE(h.Record(Finished("local", "backup", "failed", At(10, 12, 0))).ok());
  REQUIRE(h.Record(Finished("other", "backup", "succeeded", At(10, 12, 0))).ok());
  REQUIRE(h.Record(Finished("local", "drill", "succeeded", At(10, 11, 0))).ok());
  REQUIRE(h.Record(Finished("local", "drill", "failed", At(10, 11, 30))).ok());

  ScheduleStatus none = Every(hours(1));
  none.config.name = "none";
  none.config.provider = "nothing-yet";
  none.in_effect_since = At(10, 10, 0);
  ScheduleStatus drill = Every(hours(1));
  drill.config.name = "drill";
  drill.config.kind = ScheduleKind::kDrill;

  auto judged = JudgeSchedules({Every(hours(1)), drill, none}, h, At(10, 11, 30));
  REQUIRE_MESSAGE(judged.ok(), judged.status().ToString());
  REQUIRE(judged->size() == 3);
  CHECK((*judged)[0].newest == At(10, 9, 0));
  CHECK((*judged)[0].stale);  // 2 h 30 min after the last successful backup
  CHECK((*judged)[1].newest == At(10, 11, 0));
  CHECK_FALSE((*judged)[1].stale);
  CHECK_FALSE((*judged)[2].newest.has_value());
  CHECK((*judged)[2].since == At(10, 10, 0));
  CHECK_FALSE((*judged)[2].stale);
}
