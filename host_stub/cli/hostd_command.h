// What hostd's subcommands share: the Command each Add*Command function
// returns, and the exit codes. One subcommand per file (hostd_<name>.cc),
// each declaring its options and returning how to run it; main() only parses
// and dispatches.
//
// Exit codes: 0 ok; 1 the command ran and found a problem (check: violations,
// plugins: a provider refused); 2 usage or config error; 3 a runtime error
// (storage failed to open, a provider failed to load, ...).
//
// Thread-safety: the commands run on the main thread.
#pragma once

#include <functional>
#include <optional>

#include <CLI/CLI.hpp>

#include "util/log.h"

namespace hostd {

inline constexpr int kExitOk = 0;
inline constexpr int kExitProblemsFound = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitRuntime = 3;

// A subcommand: where CLI11 records that it was chosen, and what runs it.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

Command AddServeCommand(CLI::App& parent);
Command AddCheckCommand(CLI::App& parent);
Command AddPluginsCommand(CLI::App& parent);
Command AddRestoreCommand(CLI::App& parent);
Command AddBackupCommand(CLI::App& parent);
Command AddTokenCommand(CLI::App& parent);
Command AddProviderCommand(CLI::App& parent);  // provider enable
Command AddConfigCommand(CLI::App& parent);    // config show

// The log (hostd_logging.cc). main() sets the level given with --log-level,
// if any, before a command runs; a command that loads a config then applies
// its [log] table, in which --log-level still wins over [log] level.
void SetCommandLineLogLevel(std::optional<hoststub::LogLevel> level);
void ApplyConfiguredLog(const hoststub::LogOptions& configured);

}  // namespace hostd
