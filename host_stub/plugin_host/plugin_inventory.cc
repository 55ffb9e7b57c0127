// Inspection for `hostd plugins`: every provider tried, every failure kept.
#include "plugin_host/plugin_inventory.h"

#include <algorithm>
#include <exception>
#include <string_view>
#include <system_error>

namespace hoststub {
namespace {

namespace fs = std::filesystem;

bool IsProviderFileName(const std::string& name) {
  return name.size() > 7 && name.compare(0, 4, "bkp_") == 0 &&
         name.compare(name.size() - 3, 3, ".so") == 0;
}

bool SameFile(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  bool same = fs::equivalent(a, b, ec);
  return ec ? a.lexically_normal() == b.lexically_normal() : same;
}

}  // namespace

PluginSummary SummarizePlugin(const PluginLibrary& library) {
  const bkp_provider& table = library.table();
  PluginSummary summary;
  summary.name = library.provider_name();
  summary.version = library.provider_version();
  summary.description = table.description != nullptr ? table.description : "";
  summary.negotiated_version = library.negotiated_version();
  summary.capabilities = table.capabilities;
  for (uint32_t i = 0; i < table.settings_count; ++i) {
    const bkp_setting_spec& spec = table.settings[i];
    summary.settings.push_back(
        {spec.key, spec.type, spec.flags, spec.description != nullptr ? spec.description : ""});
  }
  return summary;
}

std::vector<ProviderReport> InspectProviders(const HostConfig& config, ProviderLogFn log) {
  std::vector<ProviderReport> reports;
  for (const ProviderConfig& provider : config.providers) {
    ProviderReport report;
    report.name = provider.name;
    report.plugin_path = ResolvePluginFile(config.plugin_dir, provider.plugin);
    Result<std::shared_ptr<LoadedProvider>> opened =
        LoadedProvider::Open(provider, config.plugin_dir, log);
    if (opened.ok()) {
      report.plugin_path = (*opened)->plugin_path();
      report.plugin = SummarizePlugin((*opened)->library());
    } else {
      report.status = opened.status();
    }
    // `opened` goes here: the instance is closed before the next provider.
    reports.push_back(std::move(report));
  }
  return reports;
}

std::vector<UnusedPluginReport> InspectUnusedPlugins(const HostConfig& config) {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(config.plugin_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (IsProviderFileName(it->path().filename().string())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());

  std::vector<UnusedPluginReport> reports;
  for (const fs::path& file : files) {
    bool used = std::any_of(
        config.providers.begin(), config.providers.end(), [&](const ProviderConfig& provider) {
          return SameFile(file, ResolvePluginFile(config.plugin_dir, provider.plugin));
        });
    if (used) continue;
    UnusedPluginReport report;
    Result<PluginLibrary> library = PluginLibrary::Load(file);
    report.plugin_path = library.ok() ? library->path() : fs::absolute(file, ec);
    if (library.ok()) {
      report.plugin = SummarizePlugin(*library);
    } else {
      report.status = library.status();
    }
    reports.push_back(std::move(report));
  }
  return reports;
}

}  // namespace hoststub
