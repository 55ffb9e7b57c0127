// `hostd provider enable NAME`: re-enables a provider the host disabled
// after it crashed the host during a call (provider_call_journal.h). Run
// with the host stopped or running; a running host picks it up at its next
// start. Exit 0 when re-enabled, 1 when it was not disabled, 2 on a usage
// or config error.
//
// Thread-safety: runs on the main thread.
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/hostd_command.h"
#include "config/host_config.h"
#include "plugin_host/provider_call_journal.h"
#include "util/log.h"

namespace hostd {
namespace {

using namespace hoststub;

struct ProviderArgs {
  std::string config_file;
  std::string name;
};

int RunEnable(const ProviderArgs& args) {
  Result<HostConfig> config = LoadHostConfigOrDefaults(args.config_file);
  if (!config.ok()) {
    LogError(config.status().ToString());
    return kExitUsage;
  }
  ApplyConfiguredLog(config->log);
  Status enabled = EnableProvider(config->storage.data_dir, args.name);
  if (!enabled.ok()) {
    LogError(enabled.message());
    return enabled.code() == Status::Code::kNotFound ? kExitProblemsFound : kExitRuntime;
  }
  std::cout << fmt::format("hostd: provider '{}' re-enabled: the host opens it at its next start\n",
                           args.name);
  return kExitOk;
}

}  // namespace

Command AddProviderCommand(CLI::App& parent) {
  auto args = std::make_shared<ProviderArgs>();
  CLI::App* cmd = parent.add_subcommand("provider", "Manage providers the host disabled");
  cmd->require_subcommand(1);
  CLI::App* enable = cmd->add_subcommand(
      "enable", "Re-enable a provider disabled after it crashed the host during a call");
  enable->add_option("--config", args->config_file,
                     "TOML config file; without it the built-in defaults apply");
  enable->add_option("name", args->name, "The provider's name")->required();
  return {cmd, [args] { return RunEnable(*args); }};
}

}  // namespace hostd
