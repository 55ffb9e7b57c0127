// GET /v1/schedules (see schedule_routes.h).
#include "api/schedule_routes.h"

#include <chrono>
#include <string>

#include <httplib.h>

namespace hoststub {
namespace {

using nlohmann::json;

int64_t EpochMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

json ScheduleJson(const ScheduleStatus& s) {
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
          {"last_drill", s.last_drill ? DrillResultJson(*s.last_drill) : json(nullptr)}};
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

void RegisterScheduleRoutes(AdminServer& server, const Scheduler& scheduler) {
  const Scheduler* s = &scheduler;
  server.http().Get("/v1/schedules", [s](const httplib::Request& req, httplib::Response& res) {
    if (!req.params.empty()) {
      return ReplyError(res, 400,
                        "unknown query parameter '" + req.params.begin()->first +
                            "' (GET /v1/schedules takes none)");
    }
    json list = json::array();
    for (const ScheduleStatus& status : s->Schedules()) list.push_back(ScheduleJson(status));
    ReplyJson(res, 200, {{"schedules", std::move(list)}});
  });
}

}  // namespace hoststub
