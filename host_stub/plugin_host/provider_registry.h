// The configured backup providers, each loaded, checked and opened: what the
// host's backup endpoints call into.
//
// LoadedProvider is one open provider instance. It owns, in destruction
// order, the instance (closed through the plugin's close), the bkp_host the
// plugin was given at open, and a share of the plugin library; so close runs
// while the host handle is still valid, and no plugin code can run after the
// library is unloaded. Held by shared_ptr: whoever copies it (e.g. a running
// backup) keeps the whole chain alive even after the registry is gone.
//
// ProviderRegistry owns every configured provider. Load fails on the first
// error and closes what it had opened; destruction closes the providers in
// the reverse order of opening. Reload (a SIGHUP) swaps in a new set.
//
// Thread-safety: a LoadedProvider is immutable after construction. The
// registry's set is swapped under a lock by Reload; lookups (providers(),
// Find) return shared_ptr snapshots and may run on any thread, concurrently
// with Reload. The ABI allows one operation at a time per instance and none
// concurrently with close; serialising operations is the caller's job (the
// backup coordinator runs one operation per host), and a LoadedProvider must
// not be destroyed while one of its operations runs. The log function is
// called from whatever thread the plugin logs on.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "bkp/bkp_plugin.h"
#include "config/host_config.h"
#include "plugin_host/host_handles.h"
#include "plugin_host/plugin_library.h"
#include "util/log.h"
#include "util/status.h"

namespace hoststub {

// Receives one log line of a provider (host_services.log). Must be
// thread-safe: plugins may log from their own threads.
using ProviderLogFn =
    std::function<void(std::string_view provider, int32_t level, std::string_view message)>;

// The default ProviderLogFn: the host's log (util/log.h) at the line's
// level, naming the provider ("... WARN  hostd: [nightly] disk 91% full").
void LogProviderLineToStderr(std::string_view provider, int32_t level, std::string_view message);

// The host log level of a BKP_LOG_* level: below DEBUG is DEBUG, above
// ERROR is ERROR.
LogLevel LogLevelOfBkp(int32_t level);

// "DEBUG", "INFO", "WARN", "ERROR" for BKP_LOG_*; "LEVEL<n>" otherwise.
std::string BkpLogLevelName(int32_t level);

// Deleter of an open instance: calls the plugin's close, and holds a share
// of the library so that close has code to run.
struct ProviderInstanceCloser {
  void (*close)(bkp_instance*) = nullptr;
  std::shared_ptr<boost::dll::shared_library> library;
  void operator()(bkp_instance* instance) const;
};

class LoadedProvider {
 public:
  // Loads the provider's plugin (PluginLibrary::Load), checks its settings
  // (ValidateProviderSettings) and opens an instance. Errors name the
  // provider and the plugin:
  //   provider 'nightly' (plugin local_disk): <what PluginLibrary said>
  //   <file>:<line>: provider 'nightly': unknown setting ... (InvalidArgument)
  //   provider 'nightly' (plugin local_disk): open failed: <plugin's message>
  //     [BKP_E_INVALID_ARGUMENT]                                    (IOError)
  static Result<std::shared_ptr<LoadedProvider>> Open(const ProviderConfig& config,
                                                      const std::filesystem::path& plugin_dir,
                                                      ProviderLogFn log);

  ~LoadedProvider();
  LoadedProvider(const LoadedProvider&) = delete;
  LoadedProvider& operator=(const LoadedProvider&) = delete;

  // The name in the host config.
  const std::string& name() const { return name_; }
  // The config's `plugin` value, e.g. "local_disk".
  const std::string& plugin() const { return plugin_; }
  // The [[providers]] entry it was opened from.
  const ProviderConfig& config() const { return config_; }
  // The absolute path of the plugin file loaded.
  const std::filesystem::path& plugin_path() const { return library_.path(); }
  // The host's copy of the plugin's table; callbacks the negotiated version
  // does not have read as NULL. Check a capability bit before calling an
  // optional callback.
  const bkp_provider& table() const { return library_.table(); }
  uint32_t negotiated_version() const { return library_.negotiated_version(); }
  // The open instance, never NULL. Owned by this object.
  bkp_instance* instance() const { return instance_.get(); }
  // The host handle the instance was opened with (its log routing).
  bkp_host* host() const { return &host_; }
  // The loaded plugin, and through it a share of the library.
  const PluginLibrary& library() const { return library_; }

 private:
  LoadedProvider(const ProviderConfig& config, PluginLibrary library);

  std::string name_;
  std::string plugin_;
  ProviderConfig config_;
  PluginLibrary library_;
  // Declared after library_ and before instance_: destroyed after the
  // instance is closed (the plugin may log from close), before the library.
  mutable bkp_host host_;
  std::unique_ptr<bkp_instance, ProviderInstanceCloser> instance_;
};

// What ProviderRegistry::Reload did, by provider name, in config order
// (removed: in the old order).
struct ProviderReloadSummary {
  std::vector<std::string> added;
  std::vector<std::string> removed;
  std::vector<std::string> changed;  // reopened with new settings
  std::vector<std::string> unchanged;
};

class ProviderRegistry {
 public:
  // Opens every provider of config.providers in order (LoadedProvider::Open);
  // on the first error, closes the ones already open and returns it.
  static Result<ProviderRegistry> Load(const HostConfig& config,
                                       ProviderLogFn log = LogProviderLineToStderr);

  // An empty registry (no providers configured).
  ProviderRegistry() = default;
  ~ProviderRegistry();
  ProviderRegistry(ProviderRegistry&& other) noexcept;
  ProviderRegistry& operator=(ProviderRegistry&& other) noexcept;

  // The provider with this config name, or nullptr.
  std::shared_ptr<LoadedProvider> Find(std::string_view name) const;
  // The current set, in config order (a copy: a Reload does not change it).
  std::vector<std::shared_ptr<LoadedProvider>> providers() const;

  // Makes the set config.providers: a provider whose entry (plugin file,
  // settings, archive, archive_timeout) is as before keeps its open
  // instance; a new or changed one is opened (LoadedProvider::Open) before
  // anything changes, so on the first error the set stays as it was and the
  // error is returned. Then the new set replaces the old in one step. A
  // removed or replaced instance closes when its last holder lets go, so an
  // operation already running on it finishes on the settings it began with.
  Result<ProviderReloadSummary> Reload(const HostConfig& config,
                                       ProviderLogFn log = LogProviderLineToStderr);

 private:
  void CloseAll();

  mutable std::mutex mu_;
  std::vector<std::shared_ptr<LoadedProvider>> providers_;  // guarded by mu_
  std::filesystem::path plugin_dir_;                        // guarded by mu_
};

// Whether a failure of ProviderRegistry::Load / LoadedProvider::Open is the
// config's fault (its settings do not match what the plugin accepts) rather
// than the plugin's (missing, unloadable, refused, open failed). hostd exits 2
// for the first kind and 3 for the second.
bool IsProviderConfigError(const Status& status);

}  // namespace hoststub
