// SIGHUP for `hostd serve`: see hostd_reload.h.
#include "cli/hostd_reload.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "cli/hostd_command.h"
#include "util/log.h"

namespace hostd {
namespace {

using namespace hoststub;

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) {
    if (!out.empty()) out += ", ";
    out += "'" + name + "'";
  }
  return out;
}

const ProviderConfig* FindEntry(const HostConfig& config, const std::string& name) {
  for (const ProviderConfig& entry : config.providers) {
    if (entry.name == name) return &entry;
  }
  return nullptr;
}

// Empty when every archiving provider is as it was; else what differs.
std::string ArchivingChange(const HostConfig& was, const HostConfig& now) {
  auto same = [&](const ProviderConfig& a, const ProviderConfig& b) {
    return ResolvePluginFile(was.plugin_dir, a.plugin) ==
               ResolvePluginFile(now.plugin_dir, b.plugin) &&
           a.settings == b.settings && a.archive == b.archive &&
           a.archive_timeout == b.archive_timeout;
  };
  for (const ProviderConfig& a : was.providers) {
    if (!a.archive) continue;
    const ProviderConfig* b = FindEntry(now, a.name);
    if (b == nullptr) return fmt::format("it removes archiving provider '{}'", a.name);
    if (!same(a, *b)) return fmt::format("it changes archiving provider '{}'", a.name);
  }
  for (const ProviderConfig& b : now.providers) {
    if (b.archive && FindEntry(was, b.name) == nullptr) {
      return fmt::format("it adds archiving provider '{}'", b.name);
    }
    if (b.archive && !FindEntry(was, b.name)->archive) {
      return fmt::format("it turns on archiving for provider '{}'", b.name);
    }
  }
  return {};
}

void Refuse(const std::string& file, const std::string& why) {
  LogError(fmt::format("SIGHUP: reload of '{}' refused, the running configuration stays: {}", file,
                       why));
}

}  // namespace

bool ReloadConfig(const ReloadInputs& inputs, HostConfig& running, ProviderRegistry& providers) {
  if (inputs.config_file.empty()) {
    LogWarn("SIGHUP: hostd runs on the built-in defaults (no --config): nothing to reload");
    return false;
  }
  LogInfo(fmt::format("SIGHUP: reloading '{}'", inputs.config_file));
  Result<HostConfig> loaded = LoadHostConfig(inputs.config_file);
  if (!loaded.ok()) {
    Refuse(inputs.config_file, loaded.status().ToString());
    return false;
  }
  HostConfig next = std::move(loaded).value();
  if (!inputs.data_dir.empty()) next.storage.data_dir = inputs.data_dir;
  if (inputs.port >= 0) next.server.port = static_cast<uint16_t>(inputs.port);
  auto& entries = next.providers;
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const ProviderConfig& p) {
                                 return std::find(inputs.disabled.begin(), inputs.disabled.end(),
                                                  p.name) != inputs.disabled.end();
                               }),
                entries.end());
  if (std::string change = ArchivingChange(running, next); !change.empty()) {
    Refuse(inputs.config_file,
           change +
               "; continuous archiving (archive = true) is set up at start only: restart "
               "hostd for it");
    return false;
  }
  Result<ProviderReloadSummary> summary = providers.Reload(next);
  if (!summary.ok()) {
    Refuse(inputs.config_file, summary.status().ToString());
    return false;
  }
  ApplyConfiguredLog(next.log);
  for (const std::string& name : summary->added) {
    const auto provider = providers.Find(name);
    if (provider == nullptr) continue;
    LogInfo(fmt::format("provider '{}' added: {} {} from {}", name,
                        provider->library().provider_name(), provider->library().provider_version(),
                        provider->plugin_path().string()));
  }
  for (const std::string& name : summary->changed) {
    LogInfo(fmt::format(
        "provider '{}' changed: reopened with the new settings (an operation already running "
        "on it finishes on the old ones)",
        name));
  }
  for (const std::string& name : summary->removed) {
    LogInfo(fmt::format("provider '{}' removed (an operation already running on it finishes first)",
                        name));
  }
  LogInfo(fmt::format(
      "SIGHUP: reloaded '{}': {} provider(s) added, {} changed, {} removed, {} unchanged{}; "
      "[storage] and [server] take effect at the next restart",
      inputs.config_file, summary->added.size(), summary->changed.size(), summary->removed.size(),
      summary->unchanged.size(),
      summary->unchanged.empty() ? "" : " (" + Join(summary->unchanged) + ")"));
  running = std::move(next);
  return true;
}

}  // namespace hostd
