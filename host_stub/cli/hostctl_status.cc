// hostctl status (the host's contexts and settings, its running or last
// backup operation, and its continuous archiving) and hostctl cancel (stop
// the running operation).
//
// Thread-safety: main thread only.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "cli/hostctl_common.h"
#include "plugin_host/abi_status.h"
#include "util/utc_time.h"

namespace hostctl {

using namespace hoststub;

namespace {

// ---- hostctl status ---------------------------------------------------------

struct StatusArgs {
  bool json = false;
};

using Rows = std::vector<std::vector<std::string>>;

// Columns padded to their widest cell, each line prefixed with `indent`:
// the first `names` columns left-aligned, the rest (numbers) right-aligned.
void PrintColumns(const Rows& rows, size_t names, const std::string& indent = "") {
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line = indent;
    for (size_t i = 0; i < row.size(); ++i) {
      line += i == 0 ? "" : "  ";
      line += i < names ? fmt::format("{:<{}}", row[i], widths[i])
                        : fmt::format("{:>{}}", row[i], widths[i]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << '\n';
  }
}

void PrintStatusTable(const std::string& url, const HostStatus& status) {
  std::cout << fmt::format("host {}  data {}  fsync {}  compaction {}\n", url, status.data_dir,
                           status.fsync, status.compaction_pinned ? "pinned" : "not pinned");
  for (const DisabledProviderInfo& d : status.disabled_providers) {
    std::cout << fmt::format("provider '{}' DISABLED: {}\n  re-enable: {}\n", d.name, d.reason,
                             d.enable);
  }
  if (status.contexts.empty()) {
    std::cout << "no contexts yet\n";
    return;
  }
  Rows rows = {
      {"CONTEXT", "TERM", "FIRST_LOG", "LAST_LOG", "COMMIT", "NEXT_EVENT", "NEXT_SNAPSHOT"}};
  for (const ContextState& c : status.contexts) {
    rows.push_back({c.name, std::to_string(c.term), std::to_string(c.first_log_index),
                    std::to_string(c.last_log_index), std::to_string(c.commit_index),
                    std::to_string(c.next_event_token), std::to_string(c.next_snapshot_token)});
  }
  PrintColumns(rows, 1);
}

// One archiver: its state and lag, then where each stream's archive ends.
void PrintArchiver(const ArchiverStatus& a) {
  std::cout << fmt::format(
      "archive via provider '{}': {}, archive_timeout {}, timeline {}; lag {} segment(s), {}, "
      "{:.1f} s; since start {} segment(s), {} piece(s), {}\n",
      a.provider, ArchiverStateName(a.state),
      a.archive_timeout.count() > 0 ? fmt::format("{:g} s", a.archive_timeout.count() / 1000.0)
                                    : std::string("off"),
      a.timeline, a.lag.segments, FormatBytes(a.lag.bytes), a.lag.seconds, a.segments_archived,
      a.pieces_archived, FormatBytes(a.bytes_archived));
  if (!a.last_error.empty()) {
    std::cout << (a.consecutive_failures > 0
                      ? fmt::format("  failing: {} attempt(s) in a row, next try {}: {}\n",
                                    a.consecutive_failures, FormatEpochMs(a.next_retry_ms),
                                    a.last_error)
                      : fmt::format("  last error (recovered since), {}: {}\n",
                                    FormatEpochMs(a.last_error_ms), a.last_error));
  }
  if (a.queue_overflows > 0) {
    std::cout << fmt::format(
        "  queue overflowed {} time(s) (capacity {}): closes were found by "
        "rescanning\n",
        a.queue_overflows, a.queue_capacity);
  }
  Rows rows = {{"CONTEXT", "STREAM", "LAST_CLOSED", "PIECE", "NEXT", "PENDING"}};
  for (const ArchiveStreamStatus& s : a.streams) {
    rows.push_back({s.context, hoststub::BkpRoleName(s.role), s.closed_base ? s.closed_name : "-",
                    s.piece_name.empty()
                        ? "-"
                        : fmt::format("{} ({})", s.piece_name, FormatBytes(s.piece_size)),
                    std::to_string(s.next),
                    fmt::format("{} ({})", s.pending_segments, FormatBytes(s.pending_bytes))});
  }
  if (rows.size() > 1) PrintColumns(rows, 4, "  ");
}

void PrintOperation(const std::optional<OperationInfo>& op) {
  if (!op) {
    std::cout << "backup operation: none since the host started\n";
    return;
  }
  std::cout << fmt::format("backup operation {}: {} ({}), started {}\n", op->id, op->state,
                           op->kind, op->started);
  std::cout << "  " << DescribeOutcome(*op) << '\n';
}

// The kinds whose last failure makes the host unhealthy. A delete is an
// operator's one-off, answered to them directly; a failed backup, verify,
// expire or restore drill stays a problem until one of its kind succeeds.
bool JudgedKind(const std::string& kind) {
  return kind == "backup" || kind == "verify" || kind == "expire" || kind == "drill";
}

// The newest record of each (provider, kind), from GET /v1/history ("last"):
// the results that survive a restart.
void PrintHistory(const nlohmann::json& last) {
  if (last.empty()) {
    std::cout << "history: no operation has finished yet\n";
    return;
  }
  std::cout << "last operations (kept across restarts):\n";
  Rows rows = {{"PROVIDER", "KIND", "RESULT", "FINISHED", "SECONDS", "READ", "STORED", "BACKUP"}};
  for (const nlohmann::json& r : last) {
    rows.push_back(
        {r.value("provider", ""), r.value("kind", ""), r.value("result", ""),
         FormatEpochMs(r.value("finished_ms", int64_t{0})),
         fmt::format("{:.1f}", static_cast<double>(r.value("duration_ms", int64_t{0})) / 1000.0),
         FormatBytes(r.value("bytes_read", uint64_t{0})),
         FormatBytes(r.value("bytes_stored", uint64_t{0})),
         r["backup_id"].is_string() ? r["backup_id"].get<std::string>() : "-"});
  }
  PrintColumns(rows, 4, "  ");
}

// An age for people: "40 s", "12 min", "5 h", "3 d".
std::string FormatAge(int64_t ms) {
  const int64_t s = std::max<int64_t>(ms, 0) / 1000;
  if (s < 120) return fmt::format("{} s", s);
  if (s < 2 * 3600) return fmt::format("{} min", s / 60);
  if (s < 2 * 86400) return fmt::format("{} h", s / 3600);
  return fmt::format("{} d", s / 86400);
}

// What a schedule is judged by: "backup" or, for a drill schedule, "passed
// restore drill".
std::string JudgedBy(const nlohmann::json& s) {
  return s.value("kind", "") == "drill" ? "passed restore drill" : "backup";
}

// How old the newest success of a schedule is (GET /v1/schedules), and
// against what limit: "newest backup 2026-...Z (12 s ago), limit 4 s".
std::string DescribeFreshness(const nlohmann::json& s, int64_t now_ms) {
  const nlohmann::json& newest = s["newest_success_ms"];
  const std::string limit = FormatAge(s.value("max_age_s", int64_t{0}) * 1000);
  if (!newest.is_number_integer()) {
    const int64_t since = s.value("in_effect_since_ms", int64_t{0});
    return fmt::format("no {} via provider '{}' yet, in effect since {} ({} ago), limit {}",
                       JudgedBy(s), s.value("provider", ""), FormatEpochMs(since),
                       FormatAge(now_ms - since), limit);
  }
  return fmt::format("newest {} {} ({} ago), limit {}", JudgedBy(s),
                     FormatEpochMs(newest.get<int64_t>()),
                     FormatAge(now_ms - newest.get<int64_t>()), limit);
}

void PrintSchedules(const nlohmann::json& schedules) {
  if (schedules.empty()) return;
  std::cout << "schedules (stale: the newest success is older than twice the period):\n";
  const int64_t now = NowMs();
  for (const nlohmann::json& s : schedules) {
    std::cout << fmt::format("  {} ({} via provider '{}', {}): {}: {}\n", s.value("name", ""),
                             s.value("kind", ""), s.value("provider", ""), s.value("when", ""),
                             s.value("stale", false) ? "STALE" : "fresh",
                             DescribeFreshness(s, now));
  }
}

// A host whose archive is failing, whose last backup, verify, expire or
// restore drill via some provider failed, that runs without a provider it
// disabled after a crash, or one of whose schedules has not produced a
// backup (a drill schedule: a passed drill) for twice its period, is not
// healthy, whatever else it does: its recovery point grows and its log
// piles up. Monitoring sees it in the exit code (and the message on
// stderr), not only in the text.
int HealthExit(const HostStatus& status, const std::vector<ArchiverStatus>& archivers,
               const nlohmann::json& last, const nlohmann::json& schedules) {
  int exit_code = kExitOk;
  const int64_t now = NowMs();
  for (const nlohmann::json& s : schedules) {
    if (!s.value("stale", false)) continue;
    std::cerr << fmt::format(
        "hostctl: schedule '{}' ({} via provider '{}', {}) is stale: {}: older than twice its "
        "period\n",
        s.value("name", ""), s.value("kind", ""), s.value("provider", ""), s.value("when", ""),
        DescribeFreshness(s, now));
    exit_code = kExitHostError;
  }
  for (const nlohmann::json& r : last) {
    if (r.value("result", "") != "failed" || !JudgedKind(r.value("kind", ""))) continue;
    std::cerr << fmt::format("hostctl: the last {} via provider '{}' failed at {}: {}\n",
                             r.value("kind", ""), r.value("provider", ""),
                             FormatEpochMs(r.value("finished_ms", int64_t{0})),
                             r["error"].is_string() ? r["error"].get<std::string>() : "");
    exit_code = kExitHostError;
  }
  for (const DisabledProviderInfo& d : status.disabled_providers) {
    std::cerr << fmt::format("hostctl: provider '{}' is disabled: {}; re-enable: {}\n", d.name,
                             d.reason, d.enable);
    exit_code = kExitHostError;
  }
  for (const ArchiverStatus& a : archivers) {
    if (a.consecutive_failures == 0) continue;
    std::cerr << fmt::format(
        "hostctl: the archive via provider '{}' is failing ({} attempt(s) in a row): {}\n",
        a.provider, a.consecutive_failures, a.last_error);
    exit_code = kExitHostError;
  }
  return exit_code;
}

int RunStatus(const GlobalArgs& global, const StatusArgs& args) {
  AdminClient client = MakeClient(global);
  ApiResult<HostStatus> status = client.GetStatus();
  if (!status.ok()) return Fail(status.error());
  const std::string status_body = client.last_reply_body();
  ApiResult<std::optional<OperationInfo>> op = client.GetOperation();
  if (!op.ok()) return Fail(op.error());
  const nlohmann::json operation =
      op->has_value() ? nlohmann::json::parse(client.last_reply_body()).at("operation")
                      : nlohmann::json(nullptr);
  ApiResult<std::vector<ArchiverStatus>> archive = client.GetArchive();
  if (!archive.ok()) return Fail(archive.error());
  const nlohmann::json archive_reply = nlohmann::json::parse(client.last_reply_body());
  // A host older than the history (404) has no last results to show.
  ApiResult<nlohmann::json> history = client.Call("GET", "/v1/history?limit=1");
  if (!history.ok() && history.error().http_status != 404) return Fail(history.error());
  const nlohmann::json last =
      history.ok() ? history->value("last", nlohmann::json::array()) : nlohmann::json::array();
  // Likewise a host older than the schedules' route.
  ApiResult<nlohmann::json> scheduled = client.Call("GET", "/v1/schedules");
  if (!scheduled.ok() && scheduled.error().http_status != 404) return Fail(scheduled.error());
  const nlohmann::json schedules = scheduled.ok()
                                       ? scheduled->value("schedules", nlohmann::json::array())
                                       : nlohmann::json::array();
  if (args.json) {
    // The status reply with the operation, the archive and the history's
    // last results added, so scripts that read "contexts" keep working.
    nlohmann::json reply = nlohmann::json::parse(status_body);
    reply["operation"] = operation;
    reply["archive"] = archive_reply;
    reply["history"] = last;
    reply["schedules"] = schedules;
    std::cout << reply.dump() << '\n';
    return HealthExit(*status, *archive, last, schedules);
  }
  PrintStatusTable(client.base_url(), *status);
  PrintOperation(*op);
  PrintHistory(last);
  PrintSchedules(schedules);
  if (archive->empty()) std::cout << "archive: off (no provider has archive = true)\n";
  for (const ArchiverStatus& archiver : *archive) PrintArchiver(archiver);
  return HealthExit(*status, *archive, last, schedules);
}

// ---- hostctl cancel ---------------------------------------------------------

struct CancelArgs {
  bool no_wait = false;
  bool json = false;
};

int RunCancel(const GlobalArgs& global, const CancelArgs& args) {
  AdminClient client = MakeClient(global);
  ApiResult<OperationInfo> cancelled = client.CancelOperation();
  if (!cancelled.ok()) return Fail(cancelled.error());
  if (args.no_wait) {
    if (args.json) {
      std::cout << client.last_reply_body() << '\n';
    } else {
      std::cout << fmt::format("cancel requested for {} {} via provider '{}'\n", cancelled->kind,
                               cancelled->id, cancelled->provider);
    }
    return kExitOk;
  }
  if (!args.json) {
    std::cout << fmt::format(
                     "cancel requested for {} {} via provider '{}'; waiting for it to "
                     "stop\n",
                     cancelled->kind, cancelled->id, cancelled->provider)
              << std::flush;
  }
  ApiResult<OperationInfo> final_state =
      WaitForOperation(client, cancelled->id, ProgressStyle::kNone);
  if (!final_state.ok()) return Fail(final_state.error());
  if (args.json) {
    std::cout << client.last_reply_body() << '\n';
  } else if (final_state->state == "succeeded") {
    std::cout << DescribeOutcome(*final_state) << " (it finished before the cancel took effect)\n";
  } else {
    std::cout << DescribeOutcome(*final_state) << '\n';
  }
  return final_state->state == "failed" ? kExitHostError : kExitOk;
}

}  // namespace

Command AddStatusCommand(CLI::App& parent, const GlobalArgs& global) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "status",
      "Show the host's contexts and settings, its running or last backup operation, and how far "
      "continuous archiving has come, and the last result of each provider's operations (kept "
      "across restarts), and whether each schedule's newest backup is fresh; exits 1 while an "
      "archiver is failing, a provider is disabled, the last backup, verify, expire or restore "
      "drill of a provider failed, or a schedule's newest backup (a drill schedule's newest "
      "passed drill) is older than twice its period");
  cmd->add_flag(
      "--json", args->json,
      "Print the host's status reply as JSON, with the operation under \"operation\", "
      "GET /v1/archive's reply under \"archive\" and the last result of each "
      "provider and kind under \"history\" and GET /v1/schedules' list under \"schedules\"");
  return {cmd, [&global, args] { return RunStatus(global, *args); }};
}

Command AddCancelCommand(CLI::App& parent, const GlobalArgs& global) {
  auto args = std::make_shared<CancelArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "cancel", "Cancel the running backup operation and wait until it has stopped");
  cmd->add_flag("--no-wait", args->no_wait, "Return once the host has taken the request");
  cmd->add_flag("--json", args->json, "Print the operation as JSON");
  return {cmd, [&global, args] { return RunCancel(global, *args); }};
}

}  // namespace hostctl
