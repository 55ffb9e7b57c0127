// Settings validation: the config's keys against the plugin's spec list.
#include "plugin_host/settings_validation.h"

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "plugin_host/plugin_library.h"

namespace hoststub {
namespace {

const bkp_setting_spec* FindSpec(const bkp_provider& table, std::string_view key) {
  for (uint32_t i = 0; i < table.settings_count; ++i) {
    if (key == table.settings[i].key) return &table.settings[i];
  }
  return nullptr;
}

std::string_view PluginName(const bkp_provider& table) {
  return table.name != nullptr ? table.name : "the plugin";
}

std::string AcceptedKeys(const bkp_provider& table) {
  if (table.settings_count == 0) return fmt::format("{} accepts no settings", PluginName(table));
  std::string keys;
  for (uint32_t i = 0; i < table.settings_count; ++i) {
    if (!keys.empty()) keys += ", ";
    keys += table.settings[i].key;
  }
  return fmt::format("{} accepts: {}", PluginName(table), keys);
}

bool HasType(const toml::node& node, uint32_t type) {
  switch (type) {
    case BKP_SETTING_STRING:
      return node.is_string();
    case BKP_SETTING_INT:
      return node.is_integer();
    case BKP_SETTING_BOOL:
      return node.is_boolean();
    default:
      return false;
  }
}

// The value as written, for a message about a non-secret setting.
std::string Shown(const toml::node& node) {
  if (const auto* s = node.as_string()) return fmt::format("string \"{}\"", s->get());
  if (const auto* i = node.as_integer()) return fmt::format("integer {}", i->get());
  if (const auto* b = node.as_boolean()) return b->get() ? "boolean true" : "boolean false";
  return "another type";
}

std::string_view TypeOf(const toml::node& node) {
  if (node.is_string()) return "string";
  if (node.is_integer()) return "integer";
  if (node.is_boolean()) return "boolean";
  return "another type";
}

std::string Article(uint32_t type) {
  std::string name = SettingTypeName(type);
  return (name == "integer" ? "an " : "a ") + name;
}

}  // namespace

Status ValidateProviderSettings(const ProviderConfig& provider, const bkp_provider& table) {
  auto error = [&](uint32_t line, const std::string& what) {
    return Status::InvalidArgument(
        fmt::format("{}:{}: provider '{}': {}", provider.source, line, provider.name, what));
  };

  // The file's order, so the first problem reported is the first one a
  // reader of the file comes to.
  std::vector<std::string_view> keys;
  for (auto&& [key, node] : provider.settings) keys.push_back(key.str());
  std::stable_sort(keys.begin(), keys.end(), [&](std::string_view a, std::string_view b) {
    return provider.SettingLine(a) < provider.SettingLine(b);
  });

  for (std::string_view key : keys) {
    const toml::node& node = *provider.settings.get(key);
    const bkp_setting_spec* spec = FindSpec(table, key);
    if (spec == nullptr) {
      return error(provider.SettingLine(key),
                   fmt::format("unknown setting '{}' ({})", key, AcceptedKeys(table)));
    }
    if (!HasType(node, spec->type)) {
      bool secret = (spec->flags & BKP_SETTING_SECRET) != 0;
      std::string got =
          secret ? fmt::format("{} (a secret: value not shown)", TypeOf(node)) : Shown(node);
      return error(provider.SettingLine(key),
                   fmt::format("setting '{}' must be {}, got {}", key, Article(spec->type), got));
    }
  }

  for (uint32_t i = 0; i < table.settings_count; ++i) {
    const bkp_setting_spec& spec = table.settings[i];
    if ((spec.flags & BKP_SETTING_REQUIRED) == 0 || provider.settings.contains(spec.key)) continue;
    std::string about = spec.description != nullptr && spec.description[0] != '\0'
                            ? fmt::format(": {}", spec.description)
                            : "";
    return error(provider.line, fmt::format("required setting '{}' is missing ({}{}); add it under "
                                            "[providers.settings]",
                                            spec.key, Article(spec.type), about));
  }
  return Status::OK();
}

Status ValidateArchiveSwitch(const ProviderConfig& provider, const bkp_provider& table) {
  if (!provider.archive || (table.capabilities & BKP_CAP_ARCHIVE) != 0) return Status::OK();
  return Status::InvalidArgument(fmt::format(
      "{}:{}: provider '{}': 'archive = true' but plugin {} cannot archive (its capabilities are "
      "{}); archive through a provider whose plugin can (e.g. wal_archive), or set archive = false",
      provider.source, provider.archive_line != 0 ? provider.archive_line : provider.line,
      provider.name, PluginName(table), DescribeCapabilities(table.capabilities)));
}

}  // namespace hoststub
