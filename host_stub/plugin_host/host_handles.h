// The host's side of the ABI's opaque handles (bkp/bkp_plugin.h declares
// them incomplete; the host completes them here). Plugins only ever see
// pointers to these and reach them through the host services table.
//
// Ownership: all are owned by the host. bkp_host lives as long as the
// provider instance it was opened with; bkp_settings only during open;
// bkp_operation for one operation.
// Thread-safety: bkp_operation may be used from any thread of the plugin
// while the operation runs (cancel_requested is atomic; on_progress must be
// safe to call concurrently). bkp_host::log likewise.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "bkp/bkp_plugin.h"

struct bkp_host {
  std::string provider_name;  // the name in the host config
  // Receives the plugin's log lines; never null once the instance is open.
  std::function<void(int32_t level, std::string_view message)> log;
};

struct bkp_settings {
  // The provider's `settings` table from the host config, already checked
  // against the plugin's bkp_setting_spec list. Never null.
  const toml::table* table = nullptr;
};

struct bkp_operation {
  std::atomic<bool> cancel_requested{false};
  // Called for each progress report; may be empty.
  std::function<void(const bkp_progress&)> on_progress;
};
