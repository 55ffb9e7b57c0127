// hostd: the reference event-store host. main() parses the command line and
// runs the chosen subcommand; each lives in its own hostd_<name>.cc (see
// hostd_command.h for the exit codes).
//
// Thread-safety: runs on the main thread.
#include <sys/stat.h>

#include <exception>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/hostd_command.h"
#include "util/build_info.h"
#include "util/log.h"

int main(int argc, char** argv) {
  // Everything hostd creates — the data directory, its segments and
  // databases, a local repository, restored files — holds every event:
  // private to the host's user (0700 / 0600), whatever umask it inherited.
  ::umask(077);
  CLI::App app{"hostd: the reference event-store host"};
  app.require_subcommand(1);
  app.set_version_flag("--version", hoststub::VersionLine("hostd"),
                       "Print the version, the git commit and the plugin ABI, and exit");
  // Global, and accepted after the subcommand too (fallthrough):
  // `hostd serve --log-level debug` reads as naturally as the other order.
  std::string log_level;
  app.add_option("--log-level", log_level,
                 "Write log lines at this level and above: debug, info, warn, error (overrides "
                 "[log] level)")
      ->check([](const std::string& text) {
        return hoststub::ParseLogLevel(text) ? std::string()
                                             : std::string("must be debug, info, warn or error");
      });
  app.fallthrough();
  const std::vector<hostd::Command> commands = {
      hostd::AddServeCommand(app),    hostd::AddCheckCommand(app),  hostd::AddPluginsCommand(app),
      hostd::AddRestoreCommand(app),  hostd::AddBackupCommand(app), hostd::AddTokenCommand(app),
      hostd::AddProviderCommand(app), hostd::AddConfigCommand(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" with exit code 0.
    return app.exit(e) == 0 ? hostd::kExitOk : hostd::kExitUsage;
  }
  hostd::SetCommandLineLogLevel(log_level.empty() ? std::nullopt
                                                  : hoststub::ParseLogLevel(log_level));
  try {
    for (const hostd::Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
  } catch (const std::exception& e) {
    hoststub::LogError(e.what());
    return hostd::kExitRuntime;
  }
  return hostd::kExitUsage;
}
