// `hostd plugins`: what each configured provider would load, and what else
// lies in the plugin directory. One line per provider:
//   NAME: loaded FILE (provider PNAME VERSION, ABI 1.0, capabilities: ...)
//   NAME: REFUSED: <reason>
//   NAME: DISABLED: <why> (re-enable: hostd provider enable NAME)
// then one per bkp_*.so file no provider uses:
//   (unused) FILE: provider PNAME VERSION
//   (unused) FILE: REFUSED: <reason>
// With --verbose, each loaded plugin's description and settings follow it,
// indented. Exit 0 when every configured provider loaded, 1 when any was
// refused, 2 on a config error. Unused files never change the exit code.
//
// Thread-safety: runs on the main thread.
#include <algorithm>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "cli/hostd_command.h"
#include "config/host_config.h"
#include "plugin_host/plugin_inventory.h"
#include "plugin_host/plugin_library.h"
#include "plugin_host/provider_call_journal.h"
#include "util/log.h"

namespace hostd {
namespace {

using namespace hoststub;

struct PluginsArgs {
  std::string config_file;
  bool verbose = false;
};

void PrintDetails(const PluginSummary& plugin) {
  if (!plugin.description.empty()) std::cout << "    " << plugin.description << '\n';
  for (const PluginSettingSummary& setting : plugin.settings) {
    std::string kind = SettingTypeName(setting.type);
    if ((setting.flags & BKP_SETTING_REQUIRED) != 0) kind += ", required";
    if ((setting.flags & BKP_SETTING_SECRET) != 0) kind += ", secret";
    std::cout << fmt::format("    setting {} ({}){}{}\n", setting.key, kind,
                             setting.description.empty() ? "" : ": ", setting.description);
  }
}

// PluginLibrary's messages start with the file, which the line already shows.
std::string WithoutFilePrefix(const std::string& message, const std::string& file) {
  std::string prefix = file + ": ";
  return message.rfind(prefix, 0) == 0 ? message.substr(prefix.size()) : message;
}

int RunPlugins(const PluginsArgs& args) {
  Result<HostConfig> config = LoadHostConfigOrDefaults(args.config_file);
  if (!config.ok()) {
    LogError(config.status().ToString());
    return kExitUsage;
  }
  // A provider's own lines while it is opened, and this command's, follow
  // [log] like every other command's.
  ApplyConfiguredLog(config->log);

  bool all_loaded = true;
  // A provider disabled after it crashed the host is not opened here either
  // (it could crash this command too): why it is off, and how to turn it on.
  for (const DisabledProvider& d : DisabledProviders(config->storage.data_dir)) {
    auto& entries = config->providers;
    const auto it = std::find_if(entries.begin(), entries.end(),
                                 [&](const ProviderConfig& p) { return p.name == d.name; });
    if (it == entries.end()) continue;
    entries.erase(it);
    all_loaded = false;
    std::cout << fmt::format("{}: DISABLED: {} (re-enable: hostd provider enable {})\n", d.name,
                             d.reason, d.name);
  }
  if (config->providers.empty()) {
    std::cout << "(no providers configured in " << config->source << ")\n";
  }
  for (const ProviderReport& report : InspectProviders(*config)) {
    if (!report.status.ok()) {
      all_loaded = false;
      std::cout << fmt::format("{}: REFUSED: {}\n", report.name, report.status.message());
      continue;
    }
    const PluginSummary& plugin = report.plugin;
    std::cout << fmt::format("{}: loaded {} (provider {} {}, ABI {}, capabilities: {})\n",
                             report.name, report.plugin_path.string(), plugin.name, plugin.version,
                             FormatAbiVersion(plugin.negotiated_version),
                             DescribeCapabilities(plugin.capabilities));
    if (args.verbose) PrintDetails(plugin);
  }

  std::error_code ec;
  if (!std::filesystem::is_directory(config->plugin_dir, ec)) {
    std::cout << "(plugin_dir " << config->plugin_dir.string() << " is not a directory)\n";
  }
  for (const UnusedPluginReport& report : InspectUnusedPlugins(*config)) {
    const std::string file = report.plugin_path.string();
    if (!report.status.ok()) {
      std::cout << fmt::format("(unused) {}: REFUSED: {}\n", file,
                               WithoutFilePrefix(report.status.message(), file));
      continue;
    }
    std::cout << fmt::format("(unused) {}: provider {} {}\n", file, report.plugin.name,
                             report.plugin.version);
    if (args.verbose) PrintDetails(report.plugin);
  }
  std::cout << std::flush;
  return all_loaded ? kExitOk : kExitProblemsFound;
}

}  // namespace

Command AddPluginsCommand(CLI::App& parent) {
  auto args = std::make_shared<PluginsArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "plugins",
      "List the configured backup providers (loading and opening each) and the other "
      "provider files in plugin_dir");
  cmd->add_option("--config", args->config_file,
                  "TOML config file; without it the built-in defaults apply");
  cmd->add_flag("-v,--verbose", args->verbose,
                "Also show each plugin's description and the settings it accepts");
  return {cmd, [args] { return RunPlugins(*args); }};
}

}  // namespace hostd
