// hostd: the reference event-store host. `hostd serve` runs the storage engine
// behind the admin HTTP API until SIGINT/SIGTERM; `hostd check` verifies a
// stopped host's data directory.
//
// Each subcommand is a self-contained Command: a function that declares its
// options and returns how to run it, so a new one (plugins, backup, restore)
// is one more Add*Command function, or file, and one line in main().
//
// Exit codes: 0 ok, 1 check found violations, 2 usage or config error,
// 3 storage failed to open or another runtime error.
//
// Thread-safety: main() runs on the main thread. `serve` blocks SIGINT and
// SIGTERM before any thread starts and takes them with sigwait(), so no work
// happens in a signal handler.
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "api/admin_server.h"
#include "config/host_config.h"
#include "storage/checker.h"
#include "storage/event_store.h"
#include "storage/options.h"
#include "util/status.h"

namespace fs = std::filesystem;
using namespace hoststub;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitViolations = 1;
constexpr int kExitUsage = 2;
constexpr int kExitRuntime = 3;

// A subcommand: where CLI11 records that it was chosen, and what runs it.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// ---- hostd serve ------------------------------------------------------------

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

int RunServe(const ServeArgs& args) {
  // Blocked here, before the store or the server start a thread, so every
  // thread inherits the mask and the signals reach only the sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client hanging up mid-reply must cost a failed write, not the process.
  signal(SIGPIPE, SIG_IGN);

  Result<HostConfig> config = args.config_file.empty()
                                  ? ParseHostConfig(DefaultHostConfigToml(), "<built-in defaults>")
                                  : LoadHostConfig(args.config_file);
  if (!config.ok()) {
    std::cerr << "hostd: " << config.status().ToString() << '\n';
    return kExitUsage;
  }
  if (!args.data_dir.empty()) config->storage.data_dir = args.data_dir;
  if (args.port >= 0) config->server.port = static_cast<uint16_t>(args.port);
  const std::string data_dir = config->storage.data_dir.string();

  Result<std::unique_ptr<EventStore>> opened = EventStore::Open(config->storage);
  if (!opened.ok()) {
    std::cerr << "hostd: cannot open data directory '" << data_dir
              << "': " << opened.status().ToString() << '\n';
    return kExitRuntime;
  }
  std::unique_ptr<EventStore> store = std::move(opened).value();
  // What recovery changed (truncated tails, re-applied entries) is the
  // operator's business: a crash should never be silently papered over.
  for (const std::string& note : store->RecoveryNotes()) {
    std::cout << "hostd: recovery: " << note << '\n';
  }

  AdminServer server(*store, config->server);
  Status started = server.Start();
  if (!started.ok()) {
    std::cerr << "hostd: " << started.ToString() << '\n';
    return kExitRuntime;
  }
  std::cout << fmt::format("hostd: listening on {} (data: {}, fsync: {})\n", server.base_url(),
                           data_dir, FsyncPolicyName(config->storage.fsync))
            << std::flush;
  if (!args.port_file.empty()) {
    Status written = WritePortFile(args.port_file, server.port());
    if (!written.ok()) {
      std::cerr << "hostd: " << written.ToString() << '\n';
      return kExitRuntime;
    }
  }

  int signal_number = 0;
  while (sigwait(&stop_signals, &signal_number) != 0) {
  }
  std::cout << "hostd: " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping\n"
            << std::flush;
  // In-flight requests finish before Stop returns, so no handler touches the
  // store while it is destroyed (which flushes it).
  server.Stop();
  store.reset();
  std::cout << "hostd: stopped" << std::endl;
  return kExitOk;
}

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

// ---- hostd check ------------------------------------------------------------

struct CheckArgs {
  std::string data_dir;
};

int RunCheck(const CheckArgs& args) {
  std::error_code ec;
  if (!fs::is_directory(args.data_dir, ec)) {
    std::cerr << "hostd: data directory '" << args.data_dir << "' "
              << (fs::exists(args.data_dir, ec) ? "is not a directory" : "does not exist")
              << " (pass the data_dir of a stopped hostd)\n";
    return kExitUsage;
  }
  CheckReport report = CheckDataDir(args.data_dir);
  PrintCheckReport(report, std::cout);
  std::cout << std::flush;
  return report.ok() ? kExitOk : kExitViolations;
}

Command AddCheckCommand(CLI::App& parent) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "check", "Verify the invariants of a stopped host's data directory (read-only)");
  cmd->add_option("--data-dir", args->data_dir, "Data directory to check")->required();
  return {cmd, [args] { return RunCheck(*args); }};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hostd: the reference event-store host"};
  app.require_subcommand(1);
  const std::vector<Command> commands = {AddServeCommand(app), AddCheckCommand(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" with exit code 0.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  try {
    for (const Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
  } catch (const std::exception& e) {
    std::cerr << "hostd: " << e.what() << '\n';
    return kExitRuntime;
  }
  return kExitUsage;
}
