// Helpers of hostd's offline backup commands: provider loading with hostd's
// exit codes, progress lines, and cancelling on a signal.
//
// Thread-safety: see hostd_offline.h.
#include "cli/hostd_offline.h"

#include <charconv>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "backup/coordinator.h"
#include "cli/hostd_command.h"
#include "util/log.h"

namespace hostd {

using namespace hoststub;

int LoadOfflineProvider(const std::string& config_file, const std::string& name,
                        OfflineProvider* out) {
  Result<HostConfig> config = LoadHostConfigOrDefaults(config_file);
  if (!config.ok()) {
    LogError(config.status().ToString());
    return kExitUsage;
  }
  ApplyConfiguredLog(config->log);
  // Without --config the built-in defaults name ./data and ./backups: run
  // anywhere but a host's directory (a forgotten --config), they would
  // create both and report a successful backup of nothing.
  std::error_code ec;
  if (config_file.empty() && !std::filesystem::is_directory(config->storage.data_dir, ec)) {
    LogError(
        fmt::format("no --config given, and the built-in defaults' data directory '{}' does not "
                    "exist in {}: pass --config with the host's config file, or run in the host's "
                    "directory",
                    config->storage.data_dir.string(), std::filesystem::current_path(ec).string()));
    return kExitUsage;
  }
  std::string names;
  const ProviderConfig* chosen = nullptr;
  for (const ProviderConfig& provider : config->providers) {
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ", provider.name);
    if (provider.name == name || (name.empty() && config->providers.size() == 1)) {
      chosen = &provider;
    }
  }
  if (chosen == nullptr) {
    if (config->providers.empty()) {
      LogError(
          fmt::format("{} configures no backup providers: add a [[providers]] "
                      "entry",
                      config->source));
    } else if (name.empty()) {
      LogError(
          fmt::format("{} configures several providers ({}): name one with "
                      "--provider",
                      config->source, names));
    } else {
      LogError(
          fmt::format("{} has no provider '{}' (configured: {})", config->source, name, names));
    }
    return kExitUsage;
  }
  // Only this one: another provider's broken plugin must not stop a restore.
  Result<std::shared_ptr<LoadedProvider>> opened =
      LoadedProvider::Open(*chosen, config->plugin_dir, LogProviderLineToStderr);
  if (!opened.ok()) {
    if (IsProviderConfigError(opened.status())) {
      LogError(opened.status().ToString());
      return kExitUsage;
    }
    LogError(opened.status().message());
    return kExitRuntime;
  }
  out->config = std::move(config).value();
  out->provider = std::move(opened).value();
  return kExitOk;
}

int OpenOfflineStore(const StorageOptions& options, std::string_view command,
                     std::string_view advice, std::unique_ptr<EventStore>* out) {
  Result<std::unique_ptr<EventStore>> store = EventStore::Open(options);
  if (!store.ok()) {
    if (store.status().code() == Status::Code::kBusy) {
      std::cerr << fmt::format("hostd: backup {} refused: a running hostd holds '{}' ({}){}\n",
                               command, options.data_dir.string(), store.status().message(),
                               advice);
      return kExitProblemsFound;
    }
    std::cerr << fmt::format("hostd: cannot open data directory '{}': {}\n",
                             options.data_dir.string(), store.status().ToString());
    return kExitRuntime;
  }
  *out = std::move(store).value();
  return kExitOk;
}

void ProgressLines::Report(const bkp_progress& p) {
  std::lock_guard<std::mutex> lock(mu_);
  int step = -1;
  double percent = 0;
  if (p.bytes_total > 0) {
    percent = 100.0 * static_cast<double>(std::min(p.bytes_done, p.bytes_total)) /
              static_cast<double>(p.bytes_total);
    step = static_cast<int>(percent / 10.0);
  }
  if (p.phase == phase_ && step <= step_) return;
  phase_ = p.phase;
  step_ = step;
  std::string counts = p.bytes_total > 0
                           ? fmt::format(" {:.0f}% ({} of {}", percent, FormatBytes(p.bytes_done),
                                         FormatBytes(p.bytes_total))
                           : fmt::format(" ({}", FormatBytes(p.bytes_done));
  if (p.files_total > 0) counts += fmt::format(", {} of {} files", p.files_done, p.files_total);
  LogInfo(fmt::format("{}: {}{})", what_, BackupPhaseName(p.phase), counts));
}

CancelOnSignal::CancelOnSignal(bkp_operation& op, std::string what) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_mask_);
  watcher_ = std::thread([this, &op, what = std::move(what)] {
    while (true) {
      const int signal_number = sigwaitinfo(&signals_, nullptr);
      if (done_.load()) return;
      if (signal_number <= 0) continue;  // EINTR
      const char* name = signal_number == SIGINT ? "SIGINT" : "SIGTERM";
      if (op.cancel_requested.exchange(true)) {
        // The operator will not wait for the provider's next check (a
        // provider stuck on its storage, a store still opening). Leaving now
        // loses nothing: a backup is not one until its manifest is written,
        // and a restore has touched only its staging directory.
        LogWarn(fmt::format(
            "{} again, exiting without waiting for the {}; temporary files may remain "
            "(a restore's staging directory beside the target, a backup's unfinished objects, "
            "which the repository collects later)",
            name, what));
        std::_Exit(128 + signal_number);
      }
      LogWarn(
          fmt::format("{}, cancelling the {} (it stops at the provider's next check; {} again "
                      "exits at once)",
                      name, what, signal_number == SIGINT ? "Ctrl-C" : "SIGTERM"));
    }
  });
}

CancelOnSignal::~CancelOnSignal() {
  done_ = true;
  // A signal for the watcher thread alone wakes it at once. It used to poll
  // every 100 ms, which every offline restore and verify waited out at its
  // end (50 ms on average, strace).
  pthread_kill(watcher_.native_handle(), SIGTERM);
  watcher_.join();
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

}  // namespace hostd
