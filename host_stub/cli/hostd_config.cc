// `hostd config show [--config FILE] [--example]`: the configuration as
// TOML, every key of the schema with its documentation, defaults filled in
// (config/host_config.h, RenderHostConfig). Without --example it is what
// hostd would run with (paths resolved); the text parses back to the same
// configuration. With --example, keys at their built-in default are written
// commented out and paths stay as written: how the installed
// /etc/hostd/hostd.toml is generated (packaging/CMakeLists.txt). Exit 0, or 2
// on a config error.
//
// Thread-safety: runs on the main thread.
#include <iostream>
#include <memory>
#include <string>

#include "cli/hostd_command.h"
#include "config/host_config.h"
#include "util/log.h"

namespace hostd {
namespace {

using namespace hoststub;

struct ConfigArgs {
  std::string config_file;
  bool example = false;
};

int RunShow(const ConfigArgs& args) {
  const PathResolution paths = args.example ? PathResolution::kAsWritten : PathResolution::kResolve;
  Result<HostConfig> config = LoadHostConfigOrDefaults(args.config_file, paths);
  if (!config.ok()) {
    LogError(config.status().ToString());
    return kExitUsage;
  }
  ApplyConfiguredLog(config->log);
  Result<std::string> text =
      RenderHostConfig(*config, args.example ? RenderStyle::kExample : RenderStyle::kEffective);
  if (!text.ok()) {
    LogError(text.status().ToString());
    return kExitRuntime;
  }
  std::cout << *text << std::flush;
  return std::cout ? kExitOk : kExitRuntime;
}

}  // namespace

Command AddConfigCommand(CLI::App& parent) {
  auto args = std::make_shared<ConfigArgs>();
  CLI::App* cmd = parent.add_subcommand("config", "Show the configuration");
  cmd->require_subcommand(1);
  CLI::App* show = cmd->add_subcommand(
      "show",
      "Print the effective configuration as TOML: every key, defaults filled in, each with "
      "its documentation (the full reference)");
  show->add_option("--config", args->config_file,
                   "TOML config file; without it the built-in defaults apply");
  show->add_flag("--example", args->example,
                 "Write keys at their built-in default commented out, and paths as written (an "
                 "example config to install)");
  return {cmd, [args] { return RunShow(*args); }};
}

}  // namespace hostd
