// The admin API's schedules route, served from the host's Scheduler:
//
//   GET /v1/schedules  {"schedules": [{...}, ...]}, in config order, each:
//
//   {"name", "provider", "kind": "full"|"incremental"|"drill",
//    "when": "every 1h" | "cron \"30 2 * * *\" (UTC)", "next_due_ms",
//    "last_run_ms": null | N, "last_ok": bool, "last_backup_id", "last_error",
//    "last_expired": [ids removed by retention after the last backup],
//    "last_drill": null | {"ok", "backup_id", "started_ms", "finished_ms",
//                          "restore_ms", "check_ms", "files", "bytes", "error"},
//    "expired_total": backups its retention removed since it took effect,
//    "in_effect_since_ms", and whether it keeps its promise
//    (backup/schedule_health.h): "newest_success_ms": null | N (the newest
//    backup via its provider, for a drill schedule the newest passed drill,
//    from the operation history), "max_age_s" (twice its period, jitter
//    added), "stale_after_ms", "stale": bool}
//
// The last_* fields are what the host ran since it started (kept in
// memory); newest_success_ms comes from the persistent history, so
// staleness survives a restart. Errors are {"error": message}: 500 when
// the history cannot be read.
//
// Thread-safety: handlers run on httplib's workers and only call
// Scheduler::Schedules and the history's reads. Register before
// AdminServer::Start; the scheduler and the history must outlive the
// server's Stop().
#pragma once

#include <nlohmann/json.hpp>

#include "api/admin_server.h"
#include "backup/restore_drill.h"
#include "backup/schedule_health.h"
#include "backup/scheduler.h"
#include "ops/operation_history.h"

namespace hoststub {

void RegisterScheduleRoutes(AdminServer& server, const Scheduler& scheduler,
                            OperationHistory& history);

// One drill result as the route shows it (for other routes, e.g. status).
nlohmann::json DrillResultJson(const DrillResult& drill);

}  // namespace hoststub
