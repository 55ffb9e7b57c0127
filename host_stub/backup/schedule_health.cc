// The staleness of a schedule (see schedule_health.h).
#include "backup/schedule_health.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

namespace hoststub {

SystemTime StaleDeadline(const ScheduleConfig& config, SystemTime since) {
  if (!config.cron) return since + 2 * config.every + config.jitter;
  const SystemTime first = config.cron->Next(since);
  const SystemTime second = config.cron->Next(first);
  return std::max(since + 2 * (second - first), second) + config.jitter;
}

ScheduleHealth JudgeSchedule(const ScheduleStatus& schedule, std::optional<SystemTime> newest,
                             SystemTime now) {
  ScheduleHealth health;
  health.schedule = schedule;
  health.newest = newest;
  health.since = newest ? *newest : schedule.in_effect_since;
  health.deadline = StaleDeadline(schedule.config, health.since);
  health.max_age = std::chrono::duration_cast<std::chrono::seconds>(health.deadline - health.since);
  health.stale = now > health.deadline;
  return health;
}

Result<std::vector<ScheduleHealth>> JudgeSchedules(const std::vector<ScheduleStatus>& schedules,
                                                   OperationHistory& history, SystemTime now) {
  HOSTSTUB_ASSIGN_OR_RETURN(const std::vector<OperationRecord> successes,
                            history.LastSuccessOfEach());
  std::map<std::pair<std::string, std::string>, SystemTime> newest;
  for (const OperationRecord& r : successes) {
    newest[{r.provider, r.kind}] = SystemTime(std::chrono::milliseconds(r.finished_ms));
  }
  std::vector<ScheduleHealth> out;
  for (const ScheduleStatus& s : schedules) {
    const std::string kind = s.config.kind == ScheduleKind::kDrill ? "drill" : "backup";
    const auto it = newest.find({s.config.provider, kind});
    out.push_back(JudgeSchedule(
        s, it == newest.end() ? std::nullopt : std::optional<SystemTime>(it->second), now));
  }
  return out;
}

}  // namespace hoststub
