// GET /metrics: one pass over the sources, written as Prometheus text. Each
// family is written whole (HELP, TYPE, samples) before the next starts, as
// the format requires.
#include "api/metrics_routes.h"

#include <chrono>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>
#include <httplib.h>

#include "backup/schedule_health.h"
#include "plugin_host/abi_status.h"

namespace hoststub {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

// Label values escape backslash, double quote and newline.
std::string EscapeLabel(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", value);
}

class Exposition {
 public:
  void Family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void Sample(std::string_view name, const Labels& labels, double value) {
    text_ += name;
    if (!labels.empty()) {
      text_ += '{';
      for (size_t i = 0; i < labels.size(); ++i) {
        text_ += fmt::format("{}{}=\"{}\"", i ? "," : "", labels[i].first,
                             EscapeLabel(labels[i].second));
      }
      text_ += '}';
    }
    text_ += ' ' + FormatValue(value) + '\n';
  }
  std::string Take() { return std::move(text_); }

 private:
  std::string text_;
};

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

Labels ProviderKind(const OperationRecord& r) {
  return {{"provider", r.provider}, {"kind", r.kind}};
}

// What the history says: per (provider, kind) the last result, per provider
// the last backup's bytes, the totals. Returns false when it could not be
// read.
bool WriteHistory(Exposition& out, OperationHistory& history) {
  Result<std::vector<OperationRecord>> last = history.LastOfEach();
  Result<std::vector<OperationRecord>> success = history.LastSuccessOfEach();
  Result<std::vector<OperationTotal>> totals = history.Totals();
  if (!last.ok() || !success.ok() || !totals.ok()) return false;

  out.Family("hostd_operation_last_success_timestamp_seconds", "gauge",
             "When the last successful operation of this kind via this provider finished (Unix "
             "time).");
  for (const OperationRecord& r : *success) {
    out.Sample("hostd_operation_last_success_timestamp_seconds", ProviderKind(r),
               Seconds(r.finished_ms));
  }
  out.Family("hostd_operation_last_duration_seconds", "gauge",
             "How long the last operation of this kind via this provider took, whatever its "
             "result.");
  for (const OperationRecord& r : *last) {
    out.Sample("hostd_operation_last_duration_seconds", ProviderKind(r), Seconds(r.duration_ms()));
  }
  out.Family("hostd_operation_last_failed", "gauge",
             "1 when the last operation of this kind via this provider failed, else 0 "
             "(cancelled is not failed).");
  for (const OperationRecord& r : *last) {
    out.Sample("hostd_operation_last_failed", ProviderKind(r), r.result == "failed" ? 1 : 0);
  }
  out.Family("hostd_operations_total", "counter",
             "Operations finished, by provider, kind and result, since the history was created.");
  for (const OperationTotal& t : *totals) {
    out.Sample("hostd_operations_total",
               {{"provider", t.provider}, {"kind", t.kind}, {"result", t.result}},
               static_cast<double>(t.count));
  }
  out.Family("hostd_backup_last_read_bytes", "gauge",
             "Bytes the last successful backup via this provider read from the host.");
  for (const OperationRecord& r : *success) {
    if (r.kind != "backup") continue;
    out.Sample("hostd_backup_last_read_bytes", {{"provider", r.provider}},
               static_cast<double>(r.bytes_read));
  }
  out.Family("hostd_backup_last_stored_bytes", "gauge",
             "Bytes the last successful backup via this provider newly stored in its repository.");
  for (const OperationRecord& r : *success) {
    if (r.kind != "backup") continue;
    out.Sample("hostd_backup_last_stored_bytes", {{"provider", r.provider}},
               static_cast<double>(r.bytes_stored));
  }

  // Restore drills: the history's records of kind "drill", whoever wrote
  // them (the scheduler records each drill there).
  out.Family("hostd_drill_last_success", "gauge",
             "1 when the last restore drill via this provider succeeded, 0 when it failed or "
             "was cancelled.");
  for (const OperationRecord& r : *last) {
    if (r.kind == "drill")
      out.Sample("hostd_drill_last_success", {{"provider", r.provider}}, r.succeeded() ? 1 : 0);
  }
  out.Family("hostd_drill_last_timestamp_seconds", "gauge",
             "When the last restore drill via this provider finished (Unix time).");
  for (const OperationRecord& r : *last) {
    if (r.kind == "drill") {
      out.Sample("hostd_drill_last_timestamp_seconds", {{"provider", r.provider}},
                 Seconds(r.finished_ms));
    }
  }
  out.Family("hostd_drill_last_duration_seconds", "gauge",
             "How long the last restore drill via this provider took: the time to restore.");
  for (const OperationRecord& r : *last) {
    if (r.kind == "drill") {
      out.Sample("hostd_drill_last_duration_seconds", {{"provider", r.provider}},
                 Seconds(r.duration_ms()));
    }
  }
  return true;
}

void WriteRunning(Exposition& out, BackupCoordinator& coordinator) {
  const std::optional<OperationSnapshot> current = coordinator.Current();
  const bool running = current && current->running();
  out.Family("hostd_operation_running", "gauge",
             "1 while an operation runs via this provider, else 0.");
  for (const auto& provider : coordinator.providers().providers()) {
    out.Sample("hostd_operation_running", {{"provider", provider->name()}},
               running && current->provider == provider->name() ? 1 : 0);
  }
  out.Family("hostd_operation_phase", "gauge",
             "1 for the running operation, labelled with its kind and the phase it reported; "
             "absent when nothing runs.");
  if (running) {
    out.Sample("hostd_operation_phase",
               {{"provider", current->provider},
                {"kind", OperationKindName(current->kind)},
                {"phase", BackupPhaseName(current->phase)}},
               1);
  }
  out.Family("hostd_operation_progress_bytes", "gauge",
             "Bytes the running operation has done so far; absent when nothing runs.");
  if (running) {
    out.Sample("hostd_operation_progress_bytes",
               {{"provider", current->provider}, {"kind", OperationKindName(current->kind)}},
               static_cast<double>(current->bytes_done));
  }
  // [backup] pacing: whether backups yield to appends, and whether the one
  // running now really got the idle class (a refused sched_setscheduler is
  // also logged).
  out.Family("hostd_backup_pacing_auto", "gauge",
             "1 when [backup] pacing = \"auto\" (backups run in the CPU and I/O idle classes), "
             "0 when \"off\".");
  out.Sample("hostd_backup_pacing_auto", {}, coordinator.pacing() == BackupPacing::kAuto ? 1 : 0);
  out.Family("hostd_backup_background", "gauge",
             "1 while a backup runs with its threads in the CPU idle class, else 0.");
  out.Sample("hostd_backup_background", {}, coordinator.backup_in_background() ? 1 : 0);
}

void WriteArchive(Exposition& out, const std::vector<std::unique_ptr<SegmentArchiver>>& archivers) {
  std::vector<ArchiverStatus> all;
  for (const auto& archiver : archivers) all.push_back(archiver->Snapshot());
  struct Gauge {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const ArchiverStatus&);
  };
  static const Gauge kGauges[] = {
      {"hostd_archive_lag_seconds", "gauge",
       "How long the oldest data the archive lacks has waited (0 when nothing waits).",
       [](const ArchiverStatus& a) { return a.lag.seconds; }},
      {"hostd_archive_lag_bytes", "gauge", "Bytes of the store not yet in the archive.",
       [](const ArchiverStatus& a) { return static_cast<double>(a.lag.bytes); }},
      {"hostd_archive_lag_segments", "gauge", "Closed segments not yet in the archive.",
       [](const ArchiverStatus& a) { return static_cast<double>(a.lag.segments); }},
      {"hostd_archive_failing", "gauge",
       "1 while the archiver's last call failed and it is retrying, else 0.",
       [](const ArchiverStatus& a) { return a.consecutive_failures > 0 ? 1.0 : 0.0; }},
      {"hostd_archive_consecutive_failures", "gauge",
       "Archive calls that failed in a row (0 once one succeeds).",
       [](const ArchiverStatus& a) { return static_cast<double>(a.consecutive_failures); }},
      {"hostd_archive_archived_bytes_total", "counter", "Bytes archived since hostd started.",
       [](const ArchiverStatus& a) { return static_cast<double>(a.bytes_archived); }},
      {"hostd_archive_archived_segments_total", "counter",
       "Closed segments archived since hostd started.",
       [](const ArchiverStatus& a) { return static_cast<double>(a.segments_archived); }},
  };
  for (const Gauge& g : kGauges) {
    out.Family(g.name, g.type, g.help);
    for (const ArchiverStatus& a : all) out.Sample(g.name, {{"provider", a.provider}}, g.value(a));
  }
}

void WriteAppends(Exposition& out, const AppendMetrics& metrics) {
  std::vector<AppendMetrics::StreamFigures> figures;
  for (size_t i = 0; i < AppendMetrics::kStreams.size(); ++i)
    figures.push_back(metrics.Snapshot(i));
  auto stream = [](size_t i) { return std::string(StreamRoleName(AppendMetrics::kStreams[i])); };

  out.Family("hostd_append_requests_total", "counter",
             "Append requests served since hostd started, by stream and result.");
  for (size_t i = 0; i < figures.size(); ++i) {
    out.Sample("hostd_append_requests_total", {{"stream", stream(i)}, {"result", "ok"}},
               static_cast<double>(figures[i].ok));
    out.Sample("hostd_append_requests_total", {{"stream", stream(i)}, {"result", "error"}},
               static_cast<double>(figures[i].failed));
  }
  out.Family("hostd_append_events_total", "counter",
             "Events appended since hostd started, by stream.");
  for (size_t i = 0; i < figures.size(); ++i) {
    out.Sample("hostd_append_events_total", {{"stream", stream(i)}},
               static_cast<double>(figures[i].events));
  }
  out.Family("hostd_append_duration_seconds", "histogram",
             "Time from a parsed append request to the store's answer (fsync included), "
             "successful appends only.");
  for (size_t i = 0; i < figures.size(); ++i) {
    for (size_t b = 0; b < AppendMetrics::kBucketBounds.size(); ++b) {
      out.Sample("hostd_append_duration_seconds_bucket",
                 {{"stream", stream(i)}, {"le", FormatValue(AppendMetrics::kBucketBounds[b])}},
                 static_cast<double>(figures[i].buckets[b]));
    }
    out.Sample("hostd_append_duration_seconds_bucket", {{"stream", stream(i)}, {"le", "+Inf"}},
               static_cast<double>(figures[i].ok));
    out.Sample("hostd_append_duration_seconds_sum", {{"stream", stream(i)}},
               figures[i].sum_seconds);
    out.Sample("hostd_append_duration_seconds_count", {{"stream", stream(i)}},
               static_cast<double>(figures[i].ok));
  }
}

// Per schedule: whether its newest backup (a drill schedule's newest passed
// drill) is older than twice its period, and what that is judged on.
// Returns false when the history could not be read (the samples are then
// left out, the families still written).
bool WriteSchedules(Exposition& out, const Scheduler& scheduler, OperationHistory& history) {
  const std::vector<ScheduleStatus> schedules = scheduler.Schedules();
  Result<std::vector<ScheduleHealth>> judged =
      JudgeSchedules(schedules, history, std::chrono::system_clock::now());
  auto labels = [](const ScheduleStatus& s) -> Labels {
    return {{"schedule", s.config.name},
            {"provider", s.config.provider},
            {"kind", ScheduleKindName(s.config.kind)}};
  };
  auto epoch = [](SystemTime t) {
    return std::chrono::duration<double>(t.time_since_epoch()).count();
  };
  out.Family("hostd_schedule_stale", "gauge",
             "1 when the newest backup of this schedule (of a drill schedule: the newest passed "
             "drill) is older than twice its period, else 0.");
  if (judged.ok()) {
    for (const ScheduleHealth& h : *judged) {
      out.Sample("hostd_schedule_stale", labels(h.schedule), h.stale ? 1 : 0);
    }
  }
  out.Family("hostd_schedule_last_success_timestamp_seconds", "gauge",
             "When the newest backup via this schedule's provider (of a drill schedule: the "
             "newest passed drill) finished (Unix time); absent when there is none.");
  if (judged.ok()) {
    for (const ScheduleHealth& h : *judged) {
      if (h.newest) {
        out.Sample("hostd_schedule_last_success_timestamp_seconds", labels(h.schedule),
                   epoch(*h.newest));
      }
    }
  }
  out.Family("hostd_schedule_max_age_seconds", "gauge",
             "The age its newest success may reach before the schedule is stale: twice its "
             "period, jitter added.");
  if (judged.ok()) {
    for (const ScheduleHealth& h : *judged) {
      out.Sample("hostd_schedule_max_age_seconds", labels(h.schedule),
                 static_cast<double>(h.max_age.count()));
    }
  }
  out.Family("hostd_schedule_next_run_timestamp_seconds", "gauge",
             "When the schedule runs next (Unix time, jitter included).");
  for (const ScheduleStatus& s : schedules) {
    out.Sample("hostd_schedule_next_run_timestamp_seconds", labels(s), epoch(s.next_due));
  }
  out.Family("hostd_schedule_last_run_failed", "gauge",
             "1 when the schedule's last run since hostd started failed, else 0.");
  for (const ScheduleStatus& s : schedules) {
    out.Sample("hostd_schedule_last_run_failed", labels(s), s.last_run && !s.last_ok ? 1 : 0);
  }
  out.Family("hostd_schedule_expired_backups_total", "counter",
             "Backups the schedule's retention removed since it took effect (hostd's start or "
             "the reload that set it).");
  for (const ScheduleStatus& s : schedules) {
    out.Sample("hostd_schedule_expired_backups_total", labels(s),
               static_cast<double>(s.expired_total));
  }
  return judged.ok();
}

}  // namespace

std::string RenderMetrics(const AdminServer& server, const MetricsSources& sources) {
  Exposition out;
  if (sources.history != nullptr) {
    bool read = WriteHistory(out, *sources.history);
    if (sources.scheduler != nullptr) {
      read = WriteSchedules(out, *sources.scheduler, *sources.history) && read;
    }
    out.Family("hostd_history_up", "gauge",
               "1 when the operation history could be read for this scrape, else 0.");
    out.Sample("hostd_history_up", {}, read ? 1 : 0);
  }
  if (sources.coordinator != nullptr) WriteRunning(out, *sources.coordinator);
  if (sources.archivers != nullptr) WriteArchive(out, *sources.archivers);
  WriteAppends(out, server.append_metrics());
  return out.Take();
}

void RegisterMetricsRoutes(AdminServer& server, MetricsSources sources) {
  const AdminServer* s = &server;
  server.http().Get("/metrics", [s, sources](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(RenderMetrics(*s, sources), "text/plain; version=0.0.4; charset=utf-8");
  });
}

}  // namespace hoststub
