// hostctl: command-line client of a running hostd's admin API: append events
// (given or generated), paced load, read, status, and backups (create, list,
// verify, delete, expire, cancel). main() parses and dispatches; each command
// group lives in its own hostctl_<group>.cc (see hostctl_common.h for the
// exit codes).
//
// Thread-safety: main() runs on the main thread; see each command's file.
#include <signal.h>

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/hostctl_common.h"
#include "util/build_info.h"

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  hostctl::GlobalArgs global;
  CLI::App app{"hostctl: talk to a running hostd through its admin API"};
  app.require_subcommand(1);
  app.set_version_flag("--version", hoststub::VersionLine("hostctl"),
                       "Print the version, the git commit and the plugin ABI, and exit");
  // Global options are also accepted after the subcommand.
  app.fallthrough();
  app.add_option("--host", global.host,
                 "Address of hostd's admin API: a host, or http[s]://HOST[:PORT]")
      ->envname("HOSTCTL_HOST")
      ->capture_default_str();
  app.add_option("--token-file", global.token_file,
                 "File whose first line is the bearer token (hostd token create)")
      ->envname("HOSTCTL_TOKEN_FILE");
  app.add_option("--cacert", global.cacert,
                 "PEM file of the CA that signed hostd's certificate (https only)")
      ->envname("HOSTCTL_CACERT");
  app.add_option("--port", global.port, "Port of hostd's admin API")
      ->envname("HOSTCTL_PORT")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  const std::vector<hostctl::Command> commands = {
      hostctl::AddAppendCommand(app, global),  hostctl::AddLoadCommand(app, global),
      hostctl::AddReadCommand(app, global),    hostctl::AddStatusCommand(app, global),
      hostctl::AddBackupCommand(app, global),  hostctl::AddCancelCommand(app, global),
      hostctl::AddRestoreCommand(app, global), hostctl::AddSchedulesCommand(app, global)};
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? hostctl::kExitOk : hostctl::kExitUsage;
  }
  if (const std::string bad = hostctl::ResolveGlobalArgs(global); !bad.empty()) {
    return hostctl::Usage(bad);
  }
  for (const hostctl::Command& command : commands) {
    if (command.app->parsed()) return command.run();
  }
  return hostctl::kExitUsage;
}
