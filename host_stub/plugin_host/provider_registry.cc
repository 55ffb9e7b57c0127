// Opening providers: plugin library, settings check, then the plugin's open
// with the host services and a bkp_host that routes its log lines.
#include "plugin_host/provider_registry.h"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "plugin_host/abi_status.h"
#include "plugin_host/host_services.h"
#include "plugin_host/provider_call_journal.h"
#include "plugin_host/provider_calls.h"
#include "plugin_host/settings_validation.h"
#include "util/log.h"

namespace hoststub {
namespace {

std::string ProviderPrefix(const ProviderConfig& config) {
  return fmt::format("provider '{}' (plugin {})", config.name, config.plugin);
}

// A missing file stays NotFound; every other load failure is the plugin's
// (never InvalidArgument, which IsProviderConfigError reserves for settings).
Status Prefixed(const Status& status, const std::string& prefix) {
  std::string message = prefix + ": " + status.message();
  if (status.code() == Status::Code::kNotFound) return Status::NotFound(std::move(message));
  return Status::Unsupported(std::move(message));
}

}  // namespace

std::string BkpLogLevelName(int32_t level) {
  switch (level) {
    case BKP_LOG_DEBUG:
      return "DEBUG";
    case BKP_LOG_INFO:
      return "INFO";
    case BKP_LOG_WARN:
      return "WARN";
    case BKP_LOG_ERROR:
      return "ERROR";
    default:
      return fmt::format("LEVEL{}", level);
  }
}

LogLevel LogLevelOfBkp(int32_t level) {
  if (level <= BKP_LOG_DEBUG) return LogLevel::kDebug;
  if (level == BKP_LOG_INFO) return LogLevel::kInfo;
  if (level == BKP_LOG_WARN) return LogLevel::kWarn;
  return LogLevel::kError;
}

void LogProviderLineToStderr(std::string_view provider, int32_t level, std::string_view message) {
  if (level >= BKP_LOG_DEBUG && level <= BKP_LOG_ERROR) {
    Log(LogLevelOfBkp(level), message, provider);
    return;
  }
  // A level this host does not know keeps its number in the text.
  Log(LogLevelOfBkp(level), fmt::format("{} {}", BkpLogLevelName(level), message), provider);
}

void ProviderInstanceCloser::operator()(bkp_instance* instance) const {
  if (close != nullptr) close(instance);
}

LoadedProvider::LoadedProvider(const ProviderConfig& config, PluginLibrary library)
    : name_(config.name), plugin_(config.plugin), config_(config), library_(std::move(library)) {}

LoadedProvider::~LoadedProvider() { instance_.reset(); }

Result<std::shared_ptr<LoadedProvider>> LoadedProvider::Open(
    const ProviderConfig& config, const std::filesystem::path& plugin_dir, ProviderLogFn log) {
  const std::string prefix = ProviderPrefix(config);
  try {
    Result<PluginLibrary> library =
        PluginLibrary::Load(ResolvePluginFile(plugin_dir, config.plugin));
    if (!library.ok()) return Prefixed(library.status(), prefix);
    HOSTSTUB_RETURN_IF_ERROR(ValidateProviderSettings(config, library->table()));
    HOSTSTUB_RETURN_IF_ERROR(ValidateArchiveSwitch(config, library->table()));

    std::shared_ptr<LoadedProvider> provider(
        new LoadedProvider(config, std::move(library).value()));
    if (!log) log = LogProviderLineToStderr;
    provider->host_.provider_name = config.name;
    provider->host_.log = [log = std::move(log), name = config.name](int32_t level,
                                                                     std::string_view message) {
      log(name, level, message);
    };

    bkp_settings settings;
    settings.table = &config.settings;
    bkp_open_args args{};
    args.struct_size = sizeof args;
    args.reserved0 = 0;
    args.services = HostServices();
    args.host = &provider->host_;
    args.settings = &settings;
    args.provider_name = provider->name_.c_str();

    const bkp_provider& table = provider->table();
    char error[kProviderErrorBufferSize] = {};
    bkp_instance* instance = nullptr;
    bkp_status status;
    {
      const ProviderCallJournal::Call call(config.name, "open");
      status = table.open(&args, &instance, error, sizeof error);
    }
    error[sizeof error - 1] = '\0';
    if (status != BKP_OK) {
      // Any instance a misbehaving plugin left in *out is not closed: the
      // contract says there is none, and closing garbage is worse than a leak.
      // Where the provider is configured: a wrong path or bucket is fixed
      // there, and a host may configure several providers of one plugin.
      return Status::IOError(fmt::format("{}: open failed: {} [{}] (configured at {}:{})", prefix,
                                         error[0] != '\0' ? error : "(no message)",
                                         BkpStatusName(status), config.source, config.line));
    }
    if (instance == nullptr) {
      return Status::IOError(
          fmt::format("{}: open returned BKP_OK but no instance (a bug in the plugin)", prefix));
    }
    provider->instance_ = std::unique_ptr<bkp_instance, ProviderInstanceCloser>(
        instance, ProviderInstanceCloser{table.close, provider->library_.library()});
    return provider;
  } catch (const std::exception& e) {
    return Status::IOError(fmt::format("{}: {}", prefix, e.what()));
  }
}

Result<ProviderRegistry> ProviderRegistry::Load(const HostConfig& config, ProviderLogFn log) {
  ProviderRegistry registry;
  registry.plugin_dir_ = config.plugin_dir;
  for (const ProviderConfig& provider : config.providers) {
    // Returning destroys `registry`, which closes what was already open.
    HOSTSTUB_ASSIGN_OR_RETURN(auto opened, LoadedProvider::Open(provider, config.plugin_dir, log));
    registry.providers_.push_back(std::move(opened));
  }
  return registry;
}

ProviderRegistry::~ProviderRegistry() { CloseAll(); }

ProviderRegistry::ProviderRegistry(ProviderRegistry&& other) noexcept {
  std::lock_guard<std::mutex> lock(other.mu_);
  providers_ = std::move(other.providers_);
  plugin_dir_ = std::move(other.plugin_dir_);
}

ProviderRegistry& ProviderRegistry::operator=(ProviderRegistry&& other) noexcept {
  if (this != &other) {
    CloseAll();
    std::scoped_lock lock(mu_, other.mu_);
    providers_ = std::move(other.providers_);
    plugin_dir_ = std::move(other.plugin_dir_);
  }
  return *this;
}

void ProviderRegistry::CloseAll() {
  std::vector<std::shared_ptr<LoadedProvider>> closing;
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing.swap(providers_);
  }
  // Reverse order: a provider opened later may rely on one opened earlier
  // (the same plugin's shared state), never the other way round.
  while (!closing.empty()) closing.pop_back();
}

std::shared_ptr<LoadedProvider> ProviderRegistry::Find(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& provider : providers_) {
    if (provider->name() == name) return provider;
  }
  return nullptr;
}

std::vector<std::shared_ptr<LoadedProvider>> ProviderRegistry::providers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return providers_;
}

namespace {

// Whether an open provider can stand for `entry` as it is: same plugin file,
// settings and archiving. Source lines do not count: moving an entry in the
// file changes nothing.
bool SameEntry(const LoadedProvider& open, const std::filesystem::path& open_dir,
               const ProviderConfig& entry, const std::filesystem::path& entry_dir) {
  const ProviderConfig& was = open.config();
  return ResolvePluginFile(open_dir, was.plugin) == ResolvePluginFile(entry_dir, entry.plugin) &&
         was.settings == entry.settings && was.archive == entry.archive &&
         was.archive_timeout == entry.archive_timeout;
}

}  // namespace

Result<ProviderReloadSummary> ProviderRegistry::Reload(const HostConfig& config,
                                                       ProviderLogFn log) {
  std::vector<std::shared_ptr<LoadedProvider>> old;
  std::filesystem::path old_dir;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = providers_;
    old_dir = plugin_dir_;
  }
  ProviderReloadSummary summary;
  std::vector<std::shared_ptr<LoadedProvider>> next;
  // Opened here before the swap: on an error, returning closes them and the
  // running set was never touched.
  for (const ProviderConfig& entry : config.providers) {
    const auto kept = std::find_if(old.begin(), old.end(), [&](const auto& p) {
      return p->name() == entry.name && SameEntry(*p, old_dir, entry, config.plugin_dir);
    });
    if (kept != old.end()) {
      next.push_back(*kept);
      summary.unchanged.push_back(entry.name);
      continue;
    }
    HOSTSTUB_ASSIGN_OR_RETURN(std::shared_ptr<LoadedProvider> opened,
                              LoadedProvider::Open(entry, config.plugin_dir, log));
    next.push_back(std::move(opened));
    const bool existed =
        std::any_of(old.begin(), old.end(), [&](const auto& p) { return p->name() == entry.name; });
    (existed ? summary.changed : summary.added).push_back(entry.name);
  }
  for (const auto& p : old) {
    const bool stays = std::any_of(config.providers.begin(), config.providers.end(),
                                   [&](const ProviderConfig& e) { return e.name == p->name(); });
    if (!stays) summary.removed.push_back(p->name());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    providers_.swap(next);
    plugin_dir_ = config.plugin_dir;
  }
  // `next` now holds the old set (and `old` a copy): dropped here, outside
  // the lock, in reverse order; an instance a running operation holds stays
  // open until that operation ends.
  old.clear();
  while (!next.empty()) next.pop_back();
  return summary;
}

bool IsProviderConfigError(const Status& status) {
  return status.code() == Status::Code::kInvalidArgument;
}

}  // namespace hoststub
