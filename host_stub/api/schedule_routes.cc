// GET /v1/schedules (see schedule_routes.h).
#include "api/schedule_routes.h"

#include <chrono>
#include <string>
#include <vector>

#include <httplib.h>

#include "util/utc_time.h"

namespace hoststub {
namespace {

using nlohmann::json;

json ScheduleJson(const ScheduleHealth& h) {
  const ScheduleStatus& s = h.schedule;
  return {{"name", s.config.name},
          {"provider", s.config.provider},
          {"kind", ScheduleKindName(s.config.kind)},
          {"when", s.config.DescribeWhen()},
          {"next_due_ms", EpochMs(s.next_due)},
          {"last_run_ms", s.last_run ? json(EpochMs(*s.last_run)) : json(nullptr)},
          {"last_ok", s.last_ok},
          {"last_backup_id", s.last_backup_id},
          {"last_error", s.last_error},
          {"last_expired", s.last_expired},
          {"last_drill", s.last_drill ? DrillResultJson(*s.last_drill) : json(nullptr)},
          {"expired_total", s.expired_total},
          {"in_effect_since_ms", EpochMs(s.in_effect_since)},
          {"newest_success_ms", h.newest ? json(EpochMs(*h.newest)) : json(nullptr)},
          {"max_age_s", h.max_age.count()},
          {"stale_after_ms", EpochMs(h.deadline)},
          {"stale", h.stale}};
}

}  // namespace

json DrillResultJson(const DrillResult& drill) {
  return {{"ok", drill.ok},
          {"schedule", drill.schedule},
          {"provider", drill.provider},
          {"backup_id", drill.backup_id},
          {"started_ms", EpochMs(drill.started)},
          {"finished_ms", EpochMs(drill.finished)},
          {"restore_ms", drill.restore_time.count()},
          {"check_ms", drill.check_time.count()},
          {"files", drill.files},
          {"bytes", drill.bytes},
          {"error", drill.error}};
}

void RegisterScheduleRoutes(AdminServer& server, const Scheduler& scheduler,
                            OperationHistory& history) {
  const Scheduler* s = &scheduler;
  OperationHistory* h = &history;
  server.http().Get("/v1/schedules", [s, h](const httplib::Request& req, httplib::Response& res) {
    if (!req.params.empty()) {
      return ReplyError(res, 400,
                        "unknown query parameter '" + req.params.begin()->first +
                            "' (GET /v1/schedules takes none)");
    }
    Result<std::vector<ScheduleHealth>> judged =
        JudgeSchedules(s->Schedules(), *h, std::chrono::system_clock::now());
    if (!judged.ok()) {
      return ReplyError(
          res, 500, "cannot judge the schedules' newest backups: " + judged.status().ToString());
    }
    json list = json::array();
    for (const ScheduleHealth& health : *judged) list.push_back(ScheduleJson(health));
    ReplyJson(res, 200, {{"schedules", std::move(list)}});
  });
}

}  // namespace hoststub
