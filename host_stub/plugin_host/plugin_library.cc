// Loading, negotiation, the defensive copy and the table checks. The order of
// the checks matters: nothing is read from the plugin's table beyond what it
// declared, and no callback is trusted before the whole table passed.
#include "plugin_host/plugin_library.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <mutex>
#include <set>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

namespace hoststub {
namespace {

namespace dll = boost::dll;

using EntryFunction = std::remove_pointer_t<bkp_plugin_entry_fn>;

struct Capability {
  uint64_t bit;
  const char* name;
};

// The capabilities that promise a callback, and BKP_CAP_INCREMENTAL and
// BKP_CAP_POINT_IN_TIME (which qualify backup and restore and promise
// nothing of their own).
constexpr Capability kCapabilities[] = {
    {BKP_CAP_BACKUP, "backup"},
    {BKP_CAP_RESTORE, "restore"},
    {BKP_CAP_LIST, "list"},
    {BKP_CAP_VERIFY, "verify"},
    {BKP_CAP_REMOVE, "remove"},
    {BKP_CAP_EXPIRE, "expire"},
    {BKP_CAP_INCREMENTAL, "incremental"},
    {BKP_CAP_ARCHIVE, "archive"},
    {BKP_CAP_POINT_IN_TIME, "point-in-time"},
    {BKP_CAP_LOCKS, "locks"},
};

bool HasCallback(const bkp_provider& table, uint64_t bit) {
  switch (bit) {
    case BKP_CAP_BACKUP:
      return table.backup != nullptr;
    case BKP_CAP_RESTORE:
      return table.restore != nullptr;
    case BKP_CAP_LIST:
      return table.list != nullptr;
    case BKP_CAP_VERIFY:
      return table.verify != nullptr;
    case BKP_CAP_REMOVE:
      return table.remove != nullptr;
    case BKP_CAP_EXPIRE:
      return table.expire != nullptr;
    case BKP_CAP_ARCHIVE:
      // The host's copy: a 1.0 table's archive slots read as NULL.
      return table.archive != nullptr && table.archive_status != nullptr;
    case BKP_CAP_LOCKS:
      return table.locks != nullptr;  // NULL in an older table's copy
    default:
      return true;
  }
}

Status Refused(const std::filesystem::path& file, std::string_view why) {
  return Status::Unsupported(fmt::format("{}: {}", file.string(), why));
}

// dlerror() after a failed dlopen/dlsym is the loader's own explanation
// ("invalid ELF header", "undefined symbol: x"); Boost.DLL only keeps an
// error code. Boost calls no other dl* function on its failure path, and
// dlerror is per thread, so under the load mutex the text is still there.
std::string LoaderText(const std::error_code& fallback) {
  const char* text = dlerror();
  return text != nullptr ? text : fallback.message();
}

// Every rule of the ABI a table can break, checked on the host's copy.
Status CheckTable(const std::filesystem::path& file, const bkp_provider& table) {
  if (table.name == nullptr || table.name[0] == '\0') {
    return Refused(file, "the provider table has no name");
  }
  if (table.open == nullptr || table.close == nullptr) {
    return Refused(file, fmt::format("the provider table's {} callback is NULL (open and close are "
                                     "required)",
                                     table.open == nullptr ? "open" : "close"));
  }
  for (const Capability& cap : kCapabilities) {
    if ((table.capabilities & cap.bit) != 0 && !HasCallback(table, cap.bit)) {
      return Refused(
          file, fmt::format("capability '{}' is announced but the {} callback is NULL", cap.name,
                            cap.bit == BKP_CAP_ARCHIVE ? "archive or archive_status" : cap.name));
    }
  }
  if ((table.capabilities & BKP_CAP_INCREMENTAL) != 0 &&
      (table.capabilities & BKP_CAP_BACKUP) == 0) {
    return Refused(file, "capability 'incremental' is announced without 'backup'");
  }
  if ((table.capabilities & BKP_CAP_POINT_IN_TIME) != 0 &&
      (table.capabilities & BKP_CAP_RESTORE) == 0) {
    return Refused(file, "capability 'point-in-time' is announced without 'restore'");
  }
  std::set<std::string_view> keys;
  for (uint32_t i = 0; i < table.settings_count; ++i) {
    const bkp_setting_spec& spec = table.settings[i];
    if (spec.key == nullptr || spec.key[0] == '\0') {
      return Refused(file, fmt::format("setting #{} of the provider table has no key", i + 1));
    }
    if (spec.type != BKP_SETTING_STRING && spec.type != BKP_SETTING_INT &&
        spec.type != BKP_SETTING_BOOL) {
      return Refused(file, fmt::format("setting '{}' has {} (known: {} string, {} integer, {} "
                                       "boolean)",
                                       spec.key, SettingTypeName(spec.type), BKP_SETTING_STRING,
                                       BKP_SETTING_INT, BKP_SETTING_BOOL));
    }
    if (!keys.insert(spec.key).second) {
      return Refused(file, fmt::format("setting '{}' is declared twice", spec.key));
    }
  }
  return Status::OK();
}

}  // namespace

// The settings array is copied element by element at the plugin's stride
// (setting_spec_size), so a plugin built with a larger bkp_setting_spec is
// read correctly and one with a smaller one is refused, never over-read.
// The host's copy then points at host memory with the host's stride.
Status PluginLibrary::CopySettings(const std::filesystem::path& file, const bkp_provider& theirs,
                                   PluginLibrary* plugin) {
  bkp_provider& table = plugin->table_;
  auto settings = std::make_shared<std::vector<bkp_setting_spec>>();
  if (table.settings_count > 0) {
    if (table.settings == nullptr) {
      return Refused(file, fmt::format("the provider table declares {} settings but its settings "
                                       "pointer is NULL",
                                       table.settings_count));
    }
    if (table.settings_count > kMaxSettings) {
      return Refused(file, fmt::format("the provider table declares {} settings (at most {})",
                                       table.settings_count, kMaxSettings));
    }
    if (table.setting_spec_size < kSettingSpecV1_0Size) {
      return Refused(file, fmt::format("setting_spec_size is {} bytes, ABI 1.0 needs at least {}",
                                       table.setting_spec_size, kSettingSpecV1_0Size));
    }
    const auto* base = reinterpret_cast<const unsigned char*>(theirs.settings);
    for (uint32_t i = 0; i < table.settings_count; ++i) {
      bkp_setting_spec spec{};
      std::memcpy(&spec, base + static_cast<size_t>(i) * table.setting_spec_size,
                  std::min<size_t>(sizeof spec, table.setting_spec_size));
      settings->push_back(spec);
    }
  }
  table.settings = settings->empty() ? nullptr : settings->data();
  table.setting_spec_size = sizeof(bkp_setting_spec);
  plugin->settings_ = std::move(settings);
  return Status::OK();
}

namespace {

std::mutex& LoadMutex() {
  static std::mutex mutex;
  return mutex;
}

}  // namespace

Result<PluginLibrary> PluginLibrary::Load(const std::filesystem::path& file) {
  // Boost.DLL and the allocations may throw; callers get a Status instead.
  try {
    return LoadOrThrow(file);
  } catch (const std::exception& e) {
    return Refused(file, fmt::format("cannot load: {}", e.what()));
  }
}

Result<PluginLibrary> PluginLibrary::LoadOrThrow(const std::filesystem::path& file) {
  PluginLibrary plugin;
  std::error_code fs_error;
  plugin.path_ = std::filesystem::absolute(file, fs_error).lexically_normal();
  if (fs_error) plugin.path_ = file;
  const std::filesystem::path& path = plugin.path_;
  if (!std::filesystem::exists(path, fs_error)) {
    return Status::NotFound(fmt::format("plugin file not found: tried {}", path.string()));
  }

  std::lock_guard<std::mutex> lock(LoadMutex());
  auto library = std::make_shared<dll::shared_library>();
  boost::dll::fs::error_code ec;
  dlerror();  // clear a stale message so LoaderText reports this load
  library->load(path.string(), dll::load_mode::rtld_now | dll::load_mode::rtld_local, ec);
  if (ec || !library->is_loaded()) {
    return Refused(path, "not a loadable shared object: " + LoaderText(ec));
  }
  dlerror();
  if (!library->has(BKP_PLUGIN_ENTRY_NAME)) {
    return Refused(path, fmt::format("no entry symbol '{}' ({}): not a backup provider, or built "
                                     "without BKP_PLUGIN_EXPORT",
                                     BKP_PLUGIN_ENTRY_NAME, LoaderText({})));
  }
  EntryFunction& entry = library->get<EntryFunction>(BKP_PLUGIN_ENTRY_NAME);

  char reason[1024] = {};
  bkp_entry_args args{};
  args.struct_size = sizeof args;
  args.host_abi_version = BKP_ABI_VERSION;
  args.error = reason;
  args.error_len = sizeof reason;
  const bkp_provider* theirs = entry(&args);
  reason[sizeof reason - 1] = '\0';
  const std::string host_version = FormatAbiVersion(BKP_ABI_VERSION);
  if (theirs == nullptr) {
    return Refused(path, fmt::format("the plugin refused the host's ABI {}: {}", host_version,
                                     reason[0] != '\0' ? reason : "(it gave no reason)"));
  }

  // struct_size and abi_version are the two fields every version has; the
  // size is read first so that not even abi_version is read unless declared.
  const uint32_t declared = theirs->struct_size;
  constexpr uint32_t kVersionedPrefix = offsetof(bkp_provider, abi_version) + sizeof(uint32_t);
  if (declared >= kVersionedPrefix) {
    const uint32_t abi = theirs->abi_version;
    if (BKP_VERSION_MAJOR(abi) != BKP_ABI_VERSION_MAJOR) {
      return Refused(path, fmt::format("the provider table was built for ABI {}.x, host speaks "
                                       "{}.x (plugin {}, host {}): use a build of the plugin for "
                                       "ABI {}.x",
                                       BKP_VERSION_MAJOR(abi), BKP_ABI_VERSION_MAJOR,
                                       FormatAbiVersion(abi), host_version, BKP_ABI_VERSION_MAJOR));
    }
  }
  if (declared < kProviderTableV1_0Size) {
    return Refused(path, fmt::format("provider table struct too small: struct_size is {} bytes, "
                                     "ABI 1.0 needs at least {}",
                                     declared, kProviderTableV1_0Size));
  }
  const size_t copied = std::min<size_t>(sizeof(bkp_provider), declared);
  std::memcpy(&plugin.table_, theirs, copied);
  plugin.table_.struct_size = static_cast<uint32_t>(copied);
  plugin.plugin_struct_size_ = declared;
  plugin.negotiated_version_ = BKP_MAKE_VERSION(
      BKP_ABI_VERSION_MAJOR,
      std::min<uint32_t>(BKP_ABI_VERSION_MINOR, BKP_VERSION_MINOR(plugin.table_.abi_version)));

  HOSTSTUB_RETURN_IF_ERROR(CopySettings(path, *theirs, &plugin));
  HOSTSTUB_RETURN_IF_ERROR(CheckTable(path, plugin.table_));
  plugin.library_ = std::move(library);
  return plugin;
}

std::string PluginLibrary::provider_name() const {
  return table_.name != nullptr ? table_.name : "";
}

std::string PluginLibrary::provider_version() const {
  return table_.version != nullptr ? table_.version : "";
}

std::string FormatAbiVersion(uint32_t version) {
  return fmt::format("{}.{}", BKP_VERSION_MAJOR(version), BKP_VERSION_MINOR(version));
}

std::vector<std::string> CapabilityNames(uint64_t capabilities) {
  std::vector<std::string> names;
  for (const Capability& cap : kCapabilities) {
    if ((capabilities & cap.bit) != 0) names.emplace_back(cap.name);
  }
  return names;
}

std::string DescribeCapabilities(uint64_t capabilities) {
  std::string out;
  for (const std::string& name : CapabilityNames(capabilities)) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out.empty() ? "none" : out;
}

std::string SettingTypeName(uint32_t type) {
  switch (type) {
    case BKP_SETTING_STRING:
      return "string";
    case BKP_SETTING_INT:
      return "integer";
    case BKP_SETTING_BOOL:
      return "boolean";
    default:
      return fmt::format("unknown type {}", type);
  }
}

}  // namespace hoststub
