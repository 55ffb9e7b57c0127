// Helpers of hostd's offline backup commands: provider loading with hostd's
// exit codes, progress lines, and cancelling on a signal.
//
// Thread-safety: see hostd_offline.h.
#include "cli/hostd_offline.h"

#include <charconv>
#include <ctime>
#include <iostream>
#include <utility>

#include <fmt/format.h>

#include "backup/coordinator.h"
#include "cli/hostd_command.h"

namespace hostd {

using namespace hoststub;

int LoadOfflineProvider(const std::string& config_file, const std::string& name,
                        OfflineProvider* out) {
  Result<HostConfig> config = LoadHostConfigOrDefaults(config_file);
  if (!config.ok()) {
    std::cerr << "hostd: " << config.status().ToString() << '\n';
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
      std::cerr << fmt::format(
          "hostd: {} configures no backup providers: add a [[providers]] "
          "entry\n",
          config->source);
    } else if (name.empty()) {
      std::cerr << fmt::format(
          "hostd: {} configures several providers ({}): name one with "
          "--provider\n",
          config->source, names);
    } else {
      std::cerr << fmt::format("hostd: {} has no provider '{}' (configured: {})\n", config->source,
                               name, names);
    }
    return kExitUsage;
  }
  // Only this one: another provider's broken plugin must not stop a restore.
  Result<std::shared_ptr<LoadedProvider>> opened =
      LoadedProvider::Open(*chosen, config->plugin_dir, LogProviderLineToStderr);
  if (!opened.ok()) {
    if (IsProviderConfigError(opened.status())) {
      std::cerr << "hostd: " << opened.status().ToString() << '\n';
      return kExitUsage;
    }
    std::cerr << "hostd: " << opened.status().message() << '\n';
    return kExitRuntime;
  }
  out->config = std::move(config).value();
  out->provider = std::move(opened).value();
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
  std::cerr << fmt::format("hostd: {}: {}{})\n", what_, BackupPhaseName(p.phase), counts);
}

CancelOnSignal::CancelOnSignal(bkp_operation& op, std::string what) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_mask_);
  watcher_ = std::thread([this, &op, what = std::move(what)] {
    // Polls with a timeout so that the destructor can stop it.
    const timespec tick{0, 100'000'000};
    while (!done_.load()) {
      const int signal_number = sigtimedwait(&signals_, nullptr, &tick);
      if (signal_number <= 0) continue;
      if (op.cancel_requested.exchange(true)) continue;
      std::cerr << fmt::format(
          "hostd: {}, cancelling the {} (it stops at the provider's next "
          "check)\n",
          signal_number == SIGINT ? "SIGINT" : "SIGTERM", what);
    }
  });
}

CancelOnSignal::~CancelOnSignal() {
  done_ = true;
  watcher_.join();
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const double b = static_cast<double>(bytes);
  if (bytes < (1u << 20)) return fmt::format("{:.1f} KiB", b / 1024.0);
  if (bytes < (1u << 30)) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024.0));
  return fmt::format("{:.2f} GiB", b / (1024.0 * 1024.0 * 1024.0));
}

std::string FormatEpochMs(int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  const size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &utc);
  return std::string(text, n);
}

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"ms", 1},        {"s", 1000},       {"m", 60'000},
      {"h", 3'600'000}, {"d", 86'400'000}, {"w", 604'800'000}};
  for (const auto& [name, ms] : kUnits) {
    if (unit != name) continue;
    if (value > static_cast<uint64_t>(INT64_MAX) / ms) return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(value * ms));
  }
  return std::nullopt;
}

}  // namespace hostd
