// hostd: the reference event-store host. main() parses the command line and
// runs the chosen subcommand; each lives in its own hostd_<name>.cc (see
// hostd_command.h for the exit codes).
//
// Thread-safety: runs on the main thread.
#include <sys/stat.h>

#include <exception>
#include <iostream>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/hostd_command.h"

int main(int argc, char** argv) {
  // Everything hostd creates — the data directory, its segments and
  // databases, a local repository, restored files — holds every event:
  // private to the host's user (0700 / 0600), whatever umask it inherited.
  ::umask(077);
  CLI::App app{"hostd: the reference event-store host"};
  app.require_subcommand(1);
  const std::vector<hostd::Command> commands = {
      hostd::AddServeCommand(app),   hostd::AddCheckCommand(app),  hostd::AddPluginsCommand(app),
      hostd::AddRestoreCommand(app), hostd::AddBackupCommand(app), hostd::AddTokenCommand(app),
      hostd::AddProviderCommand(app)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help is a "parse error" with exit code 0.
    return app.exit(e) == 0 ? hostd::kExitOk : hostd::kExitUsage;
  }
  try {
    for (const hostd::Command& command : commands) {
      if (command.app->parsed()) return command.run();
    }
  } catch (const std::exception& e) {
    std::cerr << "hostd: " << e.what() << '\n';
    return hostd::kExitRuntime;
  }
  return hostd::kExitUsage;
}
