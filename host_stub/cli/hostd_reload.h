// What `hostd serve` does on SIGHUP: re-read the config file and apply what
// a running host can change without a restart: the backup providers
// (added, removed, changed: ProviderRegistry::Reload) and [log]. The
// continuous-archiving providers (archive = true), [storage] and [server]
// are read at start only: an archiver holds the store's compaction floor,
// and the store and the listening socket are open. A config that does not
// load (syntax, an unknown key, a provider that does not open) or that
// changes an archiving provider is refused: the error is logged with its
// file:line and the running configuration stays, whole.
//
// Thread-safety: runs on the thread that took the signal (the main thread);
// the registry it updates is read concurrently by request threads.
#pragma once

#include <string>
#include <vector>

#include "config/host_config.h"
#include "plugin_host/provider_registry.h"

namespace hostd {

struct ReloadInputs {
  std::string config_file;  // empty: built-in defaults, nothing to re-read
  // What the command line overrides (kept across reloads).
  std::string data_dir;
  int port = -1;
  // Providers the call journal disabled at start: left out of every reload
  // too, until an operator re-enables them and restarts.
  std::vector<std::string> disabled;
};

// Re-reads `inputs.config_file` and applies it to `providers` and the log;
// on success `running` becomes the new config. Logs what changed, or why it
// refused. Returns whether the new config was applied.
bool ReloadConfig(const ReloadInputs& inputs, hoststub::HostConfig& running,
                  hoststub::ProviderRegistry& providers);

}  // namespace hostd
