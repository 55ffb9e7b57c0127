// `hostd serve` as a child process for the end-to-end tests, up once its
// port file appeared, and `hostctl` run against it. Single-threaded; one
// per running host.
#pragma once

#include <signal.h>

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace hostd_process {

// Generous: a loaded CI machine may take a while to exec and open the store.
inline constexpr int kStartTimeoutMs = 30'000;

class HostProcess {
 public:
  // Starts `hostd serve --config CONFIG --port-file PORT_FILE EXTRA...`, its
  // output going to `log`, and waits for the port file.
  HostProcess(const std::filesystem::path& config, const std::filesystem::path& port_file,
              const std::filesystem::path& log, const std::vector<std::string>& extra_args = {})
      : log_(log) {
    // A port file left by an earlier host would be read as this one's
    // before it has bound.
    std::filesystem::remove(port_file);
    std::vector<std::string> argv{HOSTD_BIN,       "serve",       "--config",
                                  config.string(), "--port-file", port_file.string()};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    child_ = std::make_unique<testing_support::ChildProcess>(argv, log_);
    const std::string port = testing_support::WaitForFile(port_file, kStartTimeoutMs);
    REQUIRE_MESSAGE(!port.empty(), "hostd wrote no port file; its log:\n" << Log());
    port_ = port.substr(0, port.size() - 1);  // without the '\n'
  }

  // `hostctl --port PORT args...`, for running it in the background.
  std::vector<std::string> CtlArgs(std::vector<std::string> args) const {
    args.insert(args.begin(), {HOSTCTL_BIN, "--port", port_});
    return args;
  }
  testing_support::CommandResult Ctl(std::vector<std::string> args) const {
    return testing_support::RunCommand(CtlArgs(std::move(args)));
  }
  // A hostctl command that must succeed and print JSON (pass --json).
  nlohmann::json Json(std::vector<std::string> args) const {
    testing_support::CommandResult r = Ctl(std::move(args));
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    nlohmann::json parsed = nlohmann::json::parse(r.output, nullptr, false);
    REQUIRE_MESSAGE(!parsed.is_discarded(), "not JSON: " << r.output);
    return parsed;
  }

  // Sends `signal` (SIGTERM: a clean stop; SIGKILL: a crash) and returns
  // the exit code (-signal if killed).
  int Stop(int signal = SIGTERM) { return child_->Stop(signal); }
  // Sends `signal` (e.g. SIGHUP) and returns at once; the host keeps running
  // unless the signal ends it.
  void Signal(int signal) const { ::kill(child_->pid(), signal); }
  std::string Log() const { return testing_support::ReadFile(log_); }
  const std::string& port() const { return port_; }

 private:
  std::filesystem::path log_;
  std::unique_ptr<testing_support::ChildProcess> child_;
  std::string port_;
};

// Waits (bounded) for a background child to exit; returns its exit code.
inline int WaitExit(testing_support::ChildProcess& child,
                    std::chrono::seconds timeout = std::chrono::seconds(60)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (child.Running()) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the child never exited");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return child.Stop(SIGKILL);  // already reaped: only returns the code
}

}  // namespace hostd_process
