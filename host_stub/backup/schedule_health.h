// Whether a schedule keeps its promise: the newest backup of a backup
// schedule (the newest passed drill of a drill schedule) must be younger
// than twice the schedule's period. One missed or failed run is tolerated
// (the next one may fix it); two in a row are not, and `hostctl status`,
// GET /v1/schedules and GET /metrics say so.
//
// "The newest backup of a schedule" is the newest successful backup via the
// schedule's provider, whoever started it (a backup taken by hand protects
// the data as well), as the operation history (ops/operation_history.h)
// records it: it survives a restart, so a host that was down for a week is
// judged by its real newest backup, not by when it came back. A schedule
// whose provider has none yet is judged from when the schedule took effect
// (hostd's start or the reload that added it), so a new install is not
// called stale before its first run was due twice.
//
// The period: `every`; for a cron schedule, the interval between the two
// consecutive firings after the newest backup, and the deadline is never
// before the second of them (a weekday-only cron is not stale on Sunday
// for Friday's backup). A schedule's `jitter` is added, as a run may start
// that much late.
//
// Thread-safety: pure functions, except JudgeSchedules, which reads the
// (thread-safe) history.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "backup/scheduler.h"
#include "config/schedule_config.h"
#include "ops/operation_history.h"
#include "util/status.h"

namespace hoststub {

struct ScheduleHealth {
  ScheduleStatus schedule;
  // The newest success this schedule is judged by (a backup via its
  // provider, or a passed drill); nullopt when there is none.
  std::optional<SystemTime> newest;
  // What the age is counted from: `newest`, else when the schedule took
  // effect.
  SystemTime since;
  // When it goes stale if nothing newer succeeds, and the age allowed
  // (deadline - since).
  SystemTime deadline;
  std::chrono::seconds max_age{0};
  bool stale = false;
};

// The deadline of a schedule whose newest success (or start) is `since`.
SystemTime StaleDeadline(const ScheduleConfig& config, SystemTime since);

// Judges one schedule at `now` given its newest success.
ScheduleHealth JudgeSchedule(const ScheduleStatus& schedule, std::optional<SystemTime> newest,
                             SystemTime now);

// Judges each schedule against the history's newest successes ("backup"
// records for backup schedules, "drill" records for drill schedules), in
// the order given. IOError when the history cannot be read.
Result<std::vector<ScheduleHealth>> JudgeSchedules(const std::vector<ScheduleStatus>& schedules,
                                                   OperationHistory& history, SystemTime now);

}  // namespace hoststub
