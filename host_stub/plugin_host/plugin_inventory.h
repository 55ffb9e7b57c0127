// What `hostd plugins` reports: for each configured provider, whether it
// loads and opens (and if not, why), and the other provider files lying in
// the plugin directory. Unlike ProviderRegistry::Load it never stops at the
// first failure: the point is to see every problem at once.
//
// Inspecting a configured provider opens an instance and closes it again, so
// "loaded" means exactly what `hostd serve` would accept. Unused files are
// only loaded and negotiated, never opened (they have no settings).
//
// Thread-safety: pure functions apart from loading plugins (serialised by
// PluginLibrary) and the plugins' own open/close.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/host_config.h"
#include "plugin_host/plugin_library.h"
#include "plugin_host/provider_registry.h"
#include "util/status.h"

namespace hoststub {

// One setting a plugin declares, copied out of the library.
struct PluginSettingSummary {
  std::string key;
  uint32_t type = 0;   // BKP_SETTING_*
  uint32_t flags = 0;  // BKP_SETTING_REQUIRED, BKP_SETTING_SECRET
  std::string description;
};

// What a plugin says about itself, copied out so the report outlives the
// library.
struct PluginSummary {
  std::string name;
  std::string version;
  std::string description;
  uint32_t negotiated_version = 0;
  uint64_t capabilities = 0;
  std::vector<PluginSettingSummary> settings;
};

struct ProviderReport {
  std::string name;                   // the config's provider name
  std::filesystem::path plugin_path;  // the file it resolves to
  Status status;                      // OK if it loaded and opened
  PluginSummary plugin;               // filled when status is OK
};

struct UnusedPluginReport {
  std::filesystem::path plugin_path;
  Status status;         // OK if it loaded and negotiated
  PluginSummary plugin;  // filled when status is OK
};

PluginSummary SummarizePlugin(const PluginLibrary& library);

// Every configured provider, in config order.
std::vector<ProviderReport> InspectProviders(const HostConfig& config,
                                             ProviderLogFn log = LogProviderLineToStderr);

// The bkp_*.so files in plugin_dir that no configured provider resolves to,
// in name order. Empty when plugin_dir does not exist.
std::vector<UnusedPluginReport> InspectUnusedPlugins(const HostConfig& config);

}  // namespace hoststub
