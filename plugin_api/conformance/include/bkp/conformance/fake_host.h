// A scripted stand-in for the host's side of the ABI, for testing providers
// and the C++ helper without the real host: a bkp_host_services table over
// in-memory items, settings, an operation and a recording sink, plus a
// dlopen wrapper for provider libraries. Every handle a plugin receives is
// the FakeHost itself. The real host's behaviour is tested elsewhere; this
// one enforces the rules bkp_plugin.h states (listing order, restore order,
// item names, sizes) so a provider's keeping of them is checked. Part of the
// conformance kit (library bkp::conformance, installed with the SDK).
//
// Not thread-safe: one plugin call at a time, except source_read,
// op_cancelled, op_progress and log, which a plugin may call from its own
// threads during an operation (and log at any time, e.g. from a background
// thread that outlives one): those are guarded by a mutex, which
// ResetOperation takes too.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bkp/bkp_plugin.h"

namespace fake {

struct Item {
  uint32_t role;
  std::string context;  // empty for the control DB (listed as NULL)
  std::string name;
  std::string data;
  // Listed size; when larger than data, reads end early (a shrunken file).
  std::optional<uint64_t> announced_size;
  uint64_t base = 0;  // first index/token held
  uint64_t next = 0;  // one past the last held
};

struct Restored {
  uint32_t role;
  std::string context;
  std::string name;
  uint64_t size;
  std::string data;
  bool ended;
  uint64_t base = 0;
  uint64_t next = 0;
};

class FakeHost {
 public:
  FakeHost();
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  // ---- script: set before the plugin call ----
  std::vector<Item> items;
  std::map<std::string, int64_t> int_settings;
  std::map<std::string, std::string> string_settings;
  std::map<std::string, bool> bool_settings;
  // op_cancelled turns true once this many source_read calls have returned.
  std::optional<uint64_t> cancel_after_reads;
  // source_read fails from the first call with this status and message.
  std::optional<std::pair<bkp_status, std::string>> read_failure;
  // sink_* fail with this status and message.
  std::optional<std::pair<bkp_status, std::string>> sink_failure;
  // op_cancelled turns true from its (n+1)-th call on: a cancel at the n-th
  // check point of the operation.
  std::optional<uint64_t> cancel_after_checks;
  // When set, the settings a plugin may ask for (its declared keys, with
  // their BKP_SETTING_* types); any other request is recorded in
  // setting_violations.
  std::optional<std::map<std::string, uint32_t>> declared_settings;

  // ---- record: read after the plugin call ----
  std::vector<std::pair<int32_t, std::string>> log_lines;
  std::vector<bkp_progress> progress;
  std::vector<uint32_t> listed_roles;
  std::vector<uint64_t> bytes_served;  // per item, in items' order
  uint64_t reads = 0;
  size_t largest_read = 0;
  std::vector<Restored> restored;
  uint64_t cancel_checks = 0;  // op_cancelled calls
  std::vector<std::string> setting_violations;
  // The first rule the plugin broke at the sink (order, names, sizes); the
  // sink refuses everything after it, as the real one does.
  std::string sink_poisoned;

  const bkp_host_services* services() const { return &services_; }
  bkp_host* host();
  const bkp_settings* settings();
  bkp_operation* op();
  bkp_source* source();
  bkp_sink* sink();

  // Args as the host would build them for a provider named `provider_name`.
  bkp_open_args OpenArgs(const char* provider_name);
  bkp_backup_args BackupArgs(uint32_t type = BKP_BACKUP_FULL);
  bkp_restore_args RestoreArgs(const char* backup_id);
  // Forgets listing order, recordings and per-operation state; keeps the script.
  void ResetOperation();

 private:
  static FakeHost* Self(const void* handle);
  static void Log(bkp_host* host, int32_t level, const char* message);
  static bkp_status SettingString(const bkp_settings* settings, const char* key, char* buf,
                                  size_t len, size_t* needed);
  static bkp_status SettingInt(const bkp_settings* settings, const char* key, int64_t* out);
  static bkp_status SettingBool(const bkp_settings* settings, const char* key, int32_t* out);
  static void OpProgress(bkp_operation* op, const bkp_progress* progress);
  static int32_t OpCancelled(bkp_operation* op);
  static bkp_status SourceList(bkp_source* source, uint32_t role, bkp_item_fn fn, void* user,
                               char* err, size_t err_len);
  static bkp_status SourceContexts(bkp_source* source, bkp_context_fn fn, void* user, char* err,
                                   size_t err_len);
  static bkp_status SourceRead(bkp_source* source, uint64_t id, uint64_t offset, void* buf,
                               size_t len, size_t* got, char* err, size_t err_len);
  static bkp_status SinkBegin(bkp_sink* sink, const bkp_item* item, char* err, size_t err_len);
  static bkp_status SinkWrite(bkp_sink* sink, const void* data, size_t len, char* err,
                              size_t err_len);
  static bkp_status SinkEnd(bkp_sink* sink, char* err, size_t err_len);
  static bkp_status RestoreItemCheck(bkp_host* host, const bkp_item* item, char* err,
                                     size_t err_len);
  static bkp_status SinkTimeline(bkp_sink* sink, uint32_t restored, uint32_t newest, char* err,
                                 size_t err_len);
  // A setting its getter's own map lacks: BKP_E_INVALID_ARGUMENT when it is
  // set with another type, else BKP_E_NOT_FOUND.
  bkp_status MissingSetting(const char* key) const;
  bool SettingAllowed(const char* key, uint32_t type);
  bkp_status Poison(bkp_status code, const std::string& why, char* err, size_t err_len);

  bkp_host_services services_;
  uint32_t last_listed_role_ = 0;
  std::vector<bkp_item> listed_;  // one per item, built at the first listing
  std::vector<std::string> context_names_;
  std::vector<bkp_context_info> contexts_;
  std::mutex mu_;  // source_read, op_*, log from a plugin's threads
  std::map<std::pair<std::string, uint32_t>, uint64_t> restored_base_;
};

// The name the host gives a segment of `role` starting at `base`
// ("00000000000000000001.log"), and "control.db" for the control DB.
std::string ItemName(uint32_t role, uint64_t base);
// Why the host's sink would refuse `item` on its own (its role, context and
// name), or "" when it takes it: the Names rule of bkp_plugin.h (THE RULES
// IN ONE PLACE), written here from that text, not from the host's code.
std::string ItemRefusal(const bkp_item& item);

// A provider library opened with dlopen(RTLD_NOW | RTLD_LOCAL), as the host
// opens it; closed on destruction. Failures throw std::runtime_error with
// dlerror()'s text.
class PluginLibrary {
 public:
  explicit PluginLibrary(const std::string& path);
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  // Calls bkp_plugin_entry as a host speaking `host_version`; the refusal
  // reason, if any, lands in *error.
  const bkp_provider* Entry(uint32_t host_version, std::string* error = nullptr) const;
  bkp_plugin_entry_fn entry_fn() const { return entry_; }

 private:
  void* handle_ = nullptr;
  bkp_plugin_entry_fn entry_ = nullptr;
};

}  // namespace fake
