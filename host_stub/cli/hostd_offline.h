// What hostd's offline backup commands (hostd_restore.cc, hostd_backups.cc)
// share: loading the config and just the one provider they use, opening a
// stopped host's data directory, progress lines on stderr, cancelling on
// SIGINT/SIGTERM, and small formatting.
//
// Thread-safety: everything is called from the main thread, except the
// ProgressLines callback, which plugins call from any of their threads (it
// serialises itself).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include <signal.h>

#include "bkp/bkp_plugin.h"
#include "config/host_config.h"
#include "plugin_host/host_handles.h"
#include "plugin_host/provider_registry.h"
#include "storage/event_store.h"
#include "storage/options.h"
#include "util/human_format.h"

namespace hostd {

using hoststub::FormatBytes;
using hoststub::FormatEpochMs;
using hoststub::ParseDuration;

struct OfflineProvider {
  hoststub::HostConfig config;
  std::shared_ptr<hoststub::LoadedProvider> provider;
};

// Loads `config_file` (the built-in defaults when empty) and opens only the
// provider `name` (the only configured one when empty), printing any error
// to stderr. Returns kExitOk, kExitUsage for a config error or an unknown
// provider, kExitRuntime when the plugin fails to load or open.
int LoadOfflineProvider(const std::string& config_file, const std::string& name,
                        OfflineProvider* out);

// Opens the data directory of `options` for `hostd backup <command>`, which
// needs the host stopped. A running host holds it: prints "hostd: backup
// <command> refused: a running hostd holds '<dir>' (<why>)<advice>" and
// returns kExitProblemsFound, `advice` saying what to do instead. Any other
// failure is printed and returns kExitRuntime. kExitOk with *out set.
int OpenOfflineStore(const hoststub::StorageOptions& options, std::string_view command,
                     std::string_view advice, std::unique_ptr<hoststub::EventStore>* out);

// Turns progress reports into lines on stderr: "hostd: restore: events 40%
// (12.0 MiB of 30.0 MiB, 3 of 10 files)", one per phase change and per 10%.
class ProgressLines {
 public:
  explicit ProgressLines(std::string what) : what_(std::move(what)) {}
  void Report(const bkp_progress& progress);

 private:
  std::mutex mu_;
  const std::string what_;
  uint32_t phase_ = 0;
  int step_ = -1;
};

// While alive, SIGINT and SIGTERM set the operation's cancel flag instead
// of killing the process, so the provider can clean up and the host's
// scratch space is removed. A second signal exits the process at once
// (status 128 + signal) for an operation that does not stop. Construct it
// before the operation starts any thread: the signals are blocked in the
// constructing thread and taken by a watcher thread of its own.
class CancelOnSignal {
 public:
  CancelOnSignal(bkp_operation& op, std::string what);
  ~CancelOnSignal();
  CancelOnSignal(const CancelOnSignal&) = delete;
  CancelOnSignal& operator=(const CancelOnSignal&) = delete;

 private:
  sigset_t signals_{};
  sigset_t previous_mask_{};
  std::atomic<bool> done_{false};
  std::thread watcher_;
};

}  // namespace hostd
