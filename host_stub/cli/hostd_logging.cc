// How hostd sets up its log: text at INFO named "hostd" until a config is
// loaded; then the config's [log] table, except that a level given on the
// command line beats the file's (an operator debugging one run should not
// have to edit the config).
//
// Thread-safety: SetCommandLineLogLevel runs on the main thread before any
// other thread starts; ApplyConfiguredLog may run later (a SIGHUP reload).
#include <optional>

#include "cli/hostd_command.h"
#include "util/log.h"

namespace hostd {
namespace {

// Written once by main() before any thread exists, read afterwards.
std::optional<hoststub::LogLevel> command_line_level;

}  // namespace

void SetCommandLineLogLevel(std::optional<hoststub::LogLevel> level) {
  command_line_level = level;
  hoststub::LogOptions options;
  options.program = "hostd";
  if (level) options.level = *level;
  hoststub::ConfigureLog(options);
}

void ApplyConfiguredLog(const hoststub::LogOptions& configured) {
  hoststub::LogOptions options = configured;
  options.program = "hostd";
  if (command_line_level) options.level = *command_line_level;
  hoststub::ConfigureLog(options);
}

}  // namespace hostd
