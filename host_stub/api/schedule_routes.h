// The admin API's schedules route, served from the host's Scheduler:
//
//   GET /v1/schedules  {"schedules": [{...}, ...]}, in config order, each:
//
//   {"name", "provider", "kind": "full"|"incremental"|"drill",
//    "when": "every 1h" | "cron \"30 2 * * *\" (UTC)", "next_due_ms",
//    "last_run_ms": null | N, "last_ok": bool, "last_backup_id", "last_error",
//    "last_expired": [ids removed by retention after the last backup],
//    "last_drill": null | {"ok", "backup_id", "started_ms", "finished_ms",
//                          "restore_ms", "check_ms", "files", "bytes", "error"}}
//
// What the host ran since it started (kept in memory; the persistent
// history is the operation history's). Errors are {"error": message}.
//
// Thread-safety: handlers run on httplib's workers and only call
// Scheduler::Schedules. Register before AdminServer::Start; the scheduler
// must outlive the server's Stop().
#pragma once

#include <nlohmann/json.hpp>

#include "api/admin_server.h"
#include "backup/restore_drill.h"
#include "backup/scheduler.h"

namespace hoststub {

void RegisterScheduleRoutes(AdminServer& server, const Scheduler& scheduler);

// One drill result as the route shows it (for other routes, e.g. status).
nlohmann::json DrillResultJson(const DrillResult& drill);

}  // namespace hoststub
