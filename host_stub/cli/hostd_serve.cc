// `hostd serve`: loads the configured backup providers, then runs the storage
// engine behind the admin HTTP API (with the backup routes of a
// BackupCoordinator) until SIGINT/SIGTERM (SIGHUP reloads the config:
// hostd_reload.h); a backup still running then is cancelled and waited for
// before the providers close. Each provider with
// archive = true gets a SegmentArchiver, started as soon as the store is
// open and stopped before the providers close. A provider that fails to
// load stops the host before the data directory is touched: exit 2 when its
// settings do not match the plugin, 3 when the plugin itself fails.
//
// Thread-safety: RunServe blocks SIGINT, SIGTERM and SIGHUP before any
// thread starts and takes them with sigwait(), so no work happens in a
// signal handler.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "api/admin_server.h"
#include "api/archive_routes.h"
#include "api/backup_routes.h"
#include "api/history_routes.h"
#include "api/metrics_routes.h"
#include "api/schedule_routes.h"
#include "archive/segment_archiver.h"
#include "backup/coordinator.h"
#include "backup/scheduler.h"
#include "cli/hostd_command.h"
#include "cli/hostd_notify.h"
#include "cli/hostd_reload.h"
#include "config/host_config.h"
#include "ops/operation_history.h"
#include "plugin_host/plugin_library.h"
#include "plugin_host/provider_call_journal.h"
#include "plugin_host/provider_registry.h"
#include "storage/event_store.h"
#include "storage/options.h"
#include "util/log.h"
#include "util/status.h"

namespace hostd {
namespace {

namespace fs = std::filesystem;
using namespace hoststub;

struct ServeArgs {
  std::string config_file;
  std::string data_dir;
  int port = -1;  // -1: keep the config's
  std::string port_file;
};

// Readers poll for the file, so it must appear complete or not at all.
Status WritePortFile(const fs::path& file, uint16_t port) {
  fs::path temp = file;
  temp += fmt::format(".tmp.{}", getpid());
  {
    std::ofstream out(temp, std::ios::trunc);
    out << port << '\n';
    out.close();
    if (!out) {
      return Status::IOError(
          fmt::format("cannot write the port file '{}': {}", temp.string(), std::strerror(errno)));
    }
  }
  std::error_code ec;
  fs::rename(temp, file, ec);
  if (ec) {
    fs::remove(temp, ec);
    return Status::IOError(
        fmt::format("cannot create the port file '{}': {}", file.string(), ec.message()));
  }
  return Status::OK();
}

// Started and succeeded operations at INFO; a cancelled one at WARN (an
// operator asked for it); a failed one at ERROR, so alerting on ERROR lines
// catches every failed backup, verify, delete or expire.
void LogOperation(const OperationSnapshot& op) {
  if (op.running()) {
    LogInfo(fmt::format("started {}", op.Describe()));
  } else if (op.state == OperationState::kSucceeded && op.kind == OperationKind::kBackup) {
    LogInfo(fmt::format("{}: backup '{}', {} files, {} bytes read, {} bytes newly stored",
                        op.Describe(), op.backup_id, op.files, op.bytes_read, op.bytes_stored));
  } else if (op.state == OperationState::kSucceeded) {
    LogInfo(op.Describe());
  } else {
    Log(op.state == OperationState::kCancelled ? LogLevel::kWarn : LogLevel::kError,
        fmt::format("{}: {}", op.Describe(), op.error.message()));
  }
}

// The history's row for a finished operation.
OperationRecord RecordOf(const OperationSnapshot& op) {
  auto ms = [](std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  };
  OperationRecord r;
  r.kind = OperationKindName(op.kind);
  r.provider = op.provider;
  r.started_ms = ms(op.started);
  // The monotonic elapsed time, so that a clock step does not make a
  // duration negative.
  r.finished_ms = r.started_ms + op.elapsed.count();
  r.result = OperationStateName(op.state);
  r.bytes_read = op.bytes_read;
  r.bytes_stored = op.bytes_stored;
  r.backup_id = op.backup_id;
  if (!op.error.ok()) r.error = op.error.message();
  return r;
}

// An archiver's line at its own level (progress at INFO, retries at WARN).
void LogArchiver(int32_t level, std::string_view line) { Log(LogLevelOfBkp(level), line); }

// An archiver per provider with archive = true (in config order).
Result<std::vector<std::unique_ptr<SegmentArchiver>>> StartArchivers(
    EventStore& store, const HostConfig& config, const ProviderRegistry& providers) {
  std::vector<std::unique_ptr<SegmentArchiver>> archivers;
  for (const ProviderConfig& entry : config.providers) {
    if (!entry.archive) continue;
    for (const auto& provider : providers.providers()) {
      if (provider->name() != entry.name) continue;
      ArchiverOptions options;
      options.archive_timeout = entry.archive_timeout;
      HOSTSTUB_ASSIGN_OR_RETURN(auto started,
                                SegmentArchiver::Start(store, provider, options, LogArchiver));
      LogInfo(fmt::format(
          "archiving every segment through provider '{}' as it closes ({})", entry.name,
          entry.archive_timeout.count() > 0
              ? fmt::format("tails after archive_timeout {} s", entry.archive_timeout.count())
              : std::string("closed segments only: archive_timeout 0")));
      archivers.push_back(std::move(started));
    }
  }
  return archivers;
}

int RunServe(const ServeArgs& args) {
  // Blocked here, before the store, the server or a plugin start a thread,
  // so every thread inherits the mask and the signals reach only the
  // sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  // SIGHUP reloads the config (hostd_reload.h); its default action would
  // end the host without a word.
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client hanging up mid-reply must cost a failed write, not the process.
  signal(SIGPIPE, SIG_IGN);

  Result<HostConfig> config = LoadHostConfigOrDefaults(args.config_file);
  if (!config.ok()) {
    LogError(config.status().ToString());
    return kExitUsage;
  }
  ApplyConfiguredLog(config->log);
  if (!args.data_dir.empty()) config->storage.data_dir = args.data_dir;
  if (args.port >= 0) config->server.port = static_cast<uint16_t>(args.port);
  const std::string data_dir = config->storage.data_dir.string();
  // The admin API's exposure, tokens and certificate are checked before any
  // provider loads or the data directory is opened (and recovered).
  if (Status server = AdminServer::Preflight(config->server); !server.ok()) {
    LogError(server.ToString());
    return kExitUsage;
  }

  // A provider that crashed the host during a call stays out until an
  // operator re-enables it: the host serves the event store without it
  // instead of crashing at every start (provider_call_journal.h).
  std::vector<std::string> journal_notes;
  Result<std::vector<DisabledProvider>> disabled =
      SettleProviderCalls(config->storage.data_dir, &journal_notes);
  if (!disabled.ok()) {
    LogError(disabled.status().ToString());
    return kExitRuntime;
  }
  for (const std::string& note : journal_notes) LogWarn(note);
  // A disabled archiving provider still holds back compaction: the log it
  // has not archived stays until it is re-enabled, so its archive has no gap.
  uint32_t disabled_archivers = 0;
  std::vector<DisabledProviderStatus> disabled_status;  // for GET /v1/status
  for (const DisabledProvider& d : *disabled) {
    auto& entries = config->providers;
    const auto it = std::find_if(entries.begin(), entries.end(),
                                 [&](const ProviderConfig& p) { return p.name == d.name; });
    if (it == entries.end()) continue;
    if (it->archive) ++disabled_archivers;
    entries.erase(it);
    LogWarn(fmt::format(
        "provider '{}' is DISABLED: {}. The host runs without it; re-enable it with "
        "`hostd provider enable {} --config {}` once fixed",
        d.name, d.reason, d.name, args.config_file.empty() ? "FILE" : args.config_file));
    disabled_status.push_back(
        {d.name, d.reason,
         fmt::format("hostd provider enable {}{} once fixed, then restart hostd", d.name,
                     args.config_file.empty() ? "" : " --config " + args.config_file)});
  }
  if (Status journal = ProviderCallJournal::Enable(config->storage.data_dir); !journal.ok()) {
    LogError(journal.ToString());
    return kExitRuntime;
  }

  // Before the store: a provider that cannot start is found before the data
  // directory is opened (and recovered).
  Result<ProviderRegistry> loaded = ProviderRegistry::Load(*config);
  if (!loaded.ok()) {
    if (IsProviderConfigError(loaded.status())) {
      LogError(loaded.status().ToString());
      return kExitUsage;
    }
    LogError(loaded.status().message());
    return kExitRuntime;
  }
  // Lives until after the server stopped: the backup endpoints call into it.
  ProviderRegistry providers = std::move(loaded).value();
  for (const auto& provider : providers.providers()) {
    LogInfo(fmt::format("provider '{}': {} {} (ABI {}) from {}", provider->name(),
                        provider->library().provider_name(), provider->library().provider_version(),
                        FormatAbiVersion(provider->negotiated_version()),
                        provider->plugin_path().string()));
  }

  // Compaction deletes no log until every archiver holds its floor.
  config->storage.compaction_floors =
      disabled_archivers +
      static_cast<uint32_t>(std::count_if(config->providers.begin(), config->providers.end(),
                                          [](const ProviderConfig& p) { return p.archive; }));
  Result<std::unique_ptr<EventStore>> opened = EventStore::Open(config->storage);
  if (!opened.ok()) {
    LogError(
        fmt::format("cannot open data directory '{}': {}", data_dir, opened.status().ToString()));
    return kExitRuntime;
  }
  std::unique_ptr<EventStore> store = std::move(opened).value();
  // What recovery changed (truncated tails, re-applied entries) is the
  // operator's business: a crash should never be silently papered over.
  for (const std::string& note : store->RecoveryNotes()) {
    LogWarn("recovery: " + note);
  }
  Result<std::vector<std::unique_ptr<SegmentArchiver>>> archivers =
      StartArchivers(*store, *config, providers);
  if (!archivers.ok()) {
    LogError(archivers.status().ToString());
    return kExitRuntime;
  }

  // Finished operations are kept across restarts (status, GET /metrics). A
  // history that cannot be opened is an error: the host would forget every
  // result without telling anyone.
  Result<std::unique_ptr<OperationHistory>> history =
      OperationHistory::Open(OperationHistoryFile(config->storage.data_dir));
  if (!history.ok()) {
    LogError(history.status().ToString());
    return kExitRuntime;
  }

  // Each operation's start and end goes to the host's log, so the operator
  // sees what ran even when no client watched it.
  auto coordinator = std::make_unique<BackupCoordinator>(
      *store, providers, [](const OperationSnapshot& op) { LogOperation(op); });
  coordinator->set_pacing(config->backup.pacing);
  coordinator->set_recorder([h = history->get()](const OperationSnapshot& op) {
    // The operation happened whatever the history says: a lost row is logged,
    // not turned into a failed operation.
    if (Result<int64_t> id = h->Record(RecordOf(op)); !id.ok()) {
      LogError(fmt::format("{}: not recorded in the history: {}", op.Describe(),
                           id.status().ToString()));
    }
  });
  // A context restored into the host is another history than its archive
  // holds: the archivers pause around the swap and follow the directory to
  // its new timeline (archive/segment_archiver.h).
  if (!archivers->empty()) {
    RestoreArchiveHooks hooks;
    hooks.hold = [a = &*archivers](const std::string& context) {
      ArchiveHold held;
      for (const auto& archiver : *a) {
        const SegmentArchiver::HoldInfo info = archiver->Hold(context);
        ++held.archivers;
        held.newest_timeline = std::max(held.newest_timeline, info.newest_timeline);
        held.knows_context = held.knows_context || info.knows_context;
      }
      return held;
    };
    hooks.resume = [a = &*archivers](bool timeline_changed) {
      for (const auto& archiver : *a) archiver->Resume(timeline_changed);
    };
    coordinator->SetRestoreArchiveHooks(std::move(hooks));
  }
  AdminServer server(*store, config->server);
  RegisterBackupRoutes(server, *coordinator);
  RegisterArchiveRoutes(server, *archivers);
  RegisterHistoryRoutes(server, history->get());
  server.set_disabled_providers(std::move(disabled_status));
  // [[schedules]]: backups, retention and restore drills with no operator.
  Scheduler::Options schedule_options;
  schedule_options.drill_scratch = config->storage.data_dir / ".drill-tmp";
  // A drill that a crash interrupted left its copy: nobody needs it.
  std::error_code drill_ec;
  fs::remove_all(schedule_options.drill_scratch, drill_ec);
  Scheduler scheduler(*coordinator, schedule_options);
  scheduler.SetSchedules(config->schedules);
  for (const ScheduleConfig& s : config->schedules) {
    LogInfo(fmt::format("schedule '{}': {} via provider '{}', {}", s.name, ScheduleKindName(s.kind),
                        s.provider, s.DescribeWhen()));
  }
  RegisterScheduleRoutes(server, scheduler, *history->get());
  RegisterMetricsRoutes(server, {coordinator.get(), &*archivers, history->get(), &scheduler});
  Status started = server.Start();
  if (!started.ok()) {
    LogError(started.ToString());
    // A refused exposure, tokens file or certificate is the config's fault.
    return started.code() == Status::Code::kInvalidArgument ? kExitUsage : kExitRuntime;
  }
  LogInfo(fmt::format("listening on {} (data: {}, fsync: {})", server.base_url(), data_dir,
                      FsyncPolicyName(config->storage.fsync)));
  if (!args.port_file.empty()) {
    Status written = WritePortFile(args.port_file, server.port());
    if (!written.ok()) {
      LogError(written.ToString());
      return kExitRuntime;
    }
  }
  scheduler.Start();

  // Under systemd (Type=notify) the unit is started once the API answers,
  // so units ordered after hostd find it serving.
  NotifyServiceManager(fmt::format("READY=1\nSTATUS=listening on {}", server.base_url()));

  ReloadInputs reload{args.config_file, args.data_dir, args.port, {}};
  for (const DisabledProvider& d : *disabled) reload.disabled.push_back(d.name);
  int signal_number = 0;
  while (true) {
    if (sigwait(&stop_signals, &signal_number) != 0) continue;
    if (signal_number != SIGHUP) break;
    NotifyServiceManager("RELOADING=1");
    // A schedule running now finishes on the settings it started with.
    if (ReloadConfig(reload, *config, providers)) {
      scheduler.SetSchedules(config->schedules);
      LogInfo(fmt::format("SIGHUP: {} schedule(s) in effect", config->schedules.size()));
    }
    NotifyServiceManager(fmt::format("READY=1\nSTATUS=listening on {}", server.base_url()));
  }
  NotifyServiceManager("STOPPING=1");
  LogInfo(fmt::format("{}, stopping", signal_number == SIGINT ? "SIGINT" : "SIGTERM"));
  // No schedule starts anything from here on (a drill running is cancelled).
  scheduler.Stop();
  // In-flight requests finish before Stop returns, so no handler touches the
  // store or a provider while they are destroyed. Archivers stop (a call in
  // flight is cancelled; what was not shipped is shipped at the next start)
  // and providers close before the store goes: a plugin's close must not
  // find the host half torn down. The running operation is cancelled first:
  // a verify runs on a request's thread, and Stop waits for requests to
  // finish.
  // Shutdown also turns away requests queued behind it (backup create
  // --wait), which would otherwise start a backup as this one ends.
  if (Result<OperationSnapshot> op = coordinator->Shutdown(); op.ok()) {
    LogWarn(fmt::format("cancelling {} before stopping", op->Describe()));
  }
  server.Stop();
  coordinator.reset();
  archivers->clear();
  providers = ProviderRegistry();
  store.reset();
  LogInfo("stopped");
  return kExitOk;
}

}  // namespace

Command AddServeCommand(CLI::App& parent) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "serve", "Run the host (storage engine + admin HTTP API) until SIGINT or SIGTERM");
  cmd->add_option("--config", args->config_file,
                  "TOML config file; without it the built-in defaults apply");
  cmd->add_option("--data-dir", args->data_dir, "Data directory (overrides [storage] data_dir)");
  cmd->add_option("--port", args->port,
                  "Admin API port, 0 for any free one (overrides [server] port)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--port-file", args->port_file,
                  "Write the bound port to this file once listening (written atomically)");
  return {cmd, [args] { return RunServe(*args); }};
}

}  // namespace hostd
