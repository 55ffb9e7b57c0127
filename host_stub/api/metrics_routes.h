// GET /metrics: the host's figures in the Prometheus text exposition format
// (version 0.0.4), for a Prometheus server to scrape. Every metric is
// documented in docs/operations.md ("Monitoring"); in short:
//
//   per (provider, kind), from the operation history (so they survive a
//   restart): hostd_operation_last_success_timestamp_seconds,
//   hostd_operation_last_duration_seconds, hostd_operation_last_failed,
//   hostd_operations_total{result}; per provider of its last successful
//   backup: hostd_backup_last_read_bytes, hostd_backup_last_stored_bytes;
//   restore drills (kind "drill" in the history): hostd_drill_last_*;
//   the running operation: hostd_operation_running, hostd_operation_phase;
//   per archiving provider: hostd_archive_lag_{seconds,bytes,segments},
//   hostd_archive_failing, hostd_archive_consecutive_failures,
//   hostd_archive_archived_bytes_total; appends: hostd_append_requests_total,
//   hostd_append_events_total, hostd_append_duration_seconds (histogram);
//   per schedule (backup/schedule_health.h): hostd_schedule_stale,
//   hostd_schedule_last_success_timestamp_seconds,
//   hostd_schedule_max_age_seconds, hostd_schedule_next_run_timestamp_seconds,
//   hostd_schedule_last_run_failed, hostd_schedule_expired_backups_total.
//
// Authorisation: a GET, so the read role (request_guard.h) when tokens are
// configured: give the scraper a read token, never an admin one.
//
// A history that cannot be read leaves its metrics out and sets
// hostd_history_up to 0 rather than failing the scrape: the other figures
// still matter.
//
// Thread-safety: the handler runs on httplib's workers and only reads the
// sources, which are thread-safe. Register before AdminServer::Start; the
// sources must outlive the server's Stop().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/admin_server.h"
#include "archive/segment_archiver.h"
#include "backup/coordinator.h"
#include "backup/scheduler.h"
#include "ops/operation_history.h"

namespace hoststub {

// What GET /metrics reads. Each pointer may be null (that part is left out).
struct MetricsSources {
  BackupCoordinator* coordinator = nullptr;
  const std::vector<std::unique_ptr<SegmentArchiver>>* archivers = nullptr;
  OperationHistory* history = nullptr;
  // The schedules' staleness needs the history too.
  const Scheduler* scheduler = nullptr;
};

// The exposition text for the server's append figures and `sources`.
std::string RenderMetrics(const AdminServer& server, const MetricsSources& sources);

void RegisterMetricsRoutes(AdminServer& server, MetricsSources sources);

}  // namespace hoststub
