// The host's side of the ABI's opaque handles (bkp/bkp_plugin.h declares
// them incomplete; the host completes them here). Plugins only ever see
// pointers to these and reach them through the host services table.
//
// bkp_source and bkp_sink are completed as abstract interfaces: what a
// backup reads and a restore writes is the business of the layers above
// (backup/backup_source.h and backup/restore_sink.h implement them), while
// the host services (host_services.cc) only forward to them. So this layer,
// which speaks C to plugins, needs nothing from the layers that use it.
//
// Ownership: all are owned by the host. bkp_host lives as long as the
// provider instance it was opened with; bkp_settings only during open;
// bkp_operation for one operation; a source or sink for the one call
// (backup, archive, restore) it is handed to.
// Thread-safety: bkp_operation may be used from any thread of the plugin
// while the operation runs (cancel_requested is atomic; on_progress must be
// safe to call concurrently). bkp_host::log likewise. A source or sink says
// what it allows in its implementation's header.
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

// What a plugin reads a backup (or one archived segment) from. Each member
// implements the host service of the same name (bkp_host_services
// source_list, source_contexts, source_read): it returns the ABI status and,
// on failure, puts the reason in `*error`. It must not throw for a plugin's
// misuse; an exception that escapes anyway becomes BKP_E_INTERNAL in the
// host services.
struct bkp_source {
  virtual ~bkp_source() = default;
  virtual bkp_status List(uint32_t role, bkp_item_fn fn, void* user, std::string* error) = 0;
  virtual bkp_status Contexts(bkp_context_fn fn, void* user, std::string* error) = 0;
  virtual bkp_status Read(uint64_t id, uint64_t offset, void* buf, size_t len, size_t* got,
                          std::string* error) = 0;

 protected:
  bkp_source() = default;
  bkp_source(const bkp_source&) = delete;
  bkp_source& operator=(const bkp_source&) = delete;
};

// What a plugin writes a restore into: the host services sink_begin,
// sink_write, sink_end and sink_timeline, with the same error contract as
// bkp_source.
struct bkp_sink {
  virtual ~bkp_sink() = default;
  virtual bkp_status Begin(const bkp_item& item, std::string* error) = 0;
  virtual bkp_status Write(const void* data, size_t len, std::string* error) = 0;
  virtual bkp_status End(std::string* error) = 0;
  virtual bkp_status Timeline(uint32_t restored, uint32_t newest, std::string* error) = 0;

 protected:
  bkp_sink() = default;
  bkp_sink(const bkp_sink&) = delete;
  bkp_sink& operator=(const bkp_sink&) = delete;
};
