// The scripted host of fake_host.h. Each service is a plain function behind
// the C table, as the real host's are; none throws.
#include "bkp/conformance/fake_host.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string_view>

#include "bkp/bkp_plugin.hpp"
#include "bkp/bkp_plugin_c.h"

namespace fake {

namespace {

void WriteError(char* err, size_t err_len, const std::string& message) {
  if (err == nullptr || err_len == 0) return;
  std::snprintf(err, err_len, "%s", message.c_str());
}

bool ValidContextName(std::string_view name) {
  if (name.empty() || name.size() > 64 || name.front() == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string ItemName(uint32_t role, uint64_t base) {
  if (role == BKP_ROLE_CONTROL_DB) return "control.db";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%020llu.%s", static_cast<unsigned long long>(base),
                role == BKP_ROLE_LOG      ? "log"
                : role == BKP_ROLE_EVENTS ? "events"
                                          : "snapshots");
  return buf;
}

std::string ItemRefusal(const bkp_item& item) {
  const std::string name = item.name != nullptr ? item.name : "(unnamed)";
  if (item.role < BKP_ROLE_CONTROL_DB || item.role > BKP_ROLE_SNAPSHOTS) {
    return "item '" + name + "' has unknown role " + std::to_string(item.role);
  }
  if (item.role == BKP_ROLE_CONTROL_DB) {
    if (item.context != nullptr) return "the control DB item must not name a context";
    return "";
  }
  if (item.context == nullptr || item.name == nullptr) {
    return std::string(bkp_role_name(item.role)) + " item without a context or name";
  }
  if (!ValidContextName(item.context)) {
    return "invalid context name '" + std::string(item.context) +
           "': use 1-64 characters from A-Z a-z 0-9 _ - . not starting with '.'";
  }
  const std::string expected = ItemName(item.role, item.base);
  if (name != expected) {
    return std::string(bkp_role_name(item.role)) + " item '" + name + "' of context '" +
           item.context + "' should be named '" + expected + "' for base " +
           std::to_string(item.base);
  }
  return "";
}

FakeHost::FakeHost() : services_{} {
  services_.struct_size = sizeof services_;
  services_.abi_version = BKP_ABI_VERSION;
  services_.log = &Log;
  services_.setting_string = &SettingString;
  services_.setting_int = &SettingInt;
  services_.setting_bool = &SettingBool;
  services_.op_progress = &OpProgress;
  services_.op_cancelled = &OpCancelled;
  services_.source_list = &SourceList;
  services_.source_contexts = &SourceContexts;
  services_.source_read = &SourceRead;
  services_.sink_begin = &SinkBegin;
  services_.sink_write = &SinkWrite;
  services_.sink_end = &SinkEnd;
  services_.restore_item_check = &RestoreItemCheck;
  services_.sink_timeline = &SinkTimeline;
}

bkp_host* FakeHost::host() { return reinterpret_cast<bkp_host*>(this); }
const bkp_settings* FakeHost::settings() { return reinterpret_cast<const bkp_settings*>(this); }
bkp_operation* FakeHost::op() { return reinterpret_cast<bkp_operation*>(this); }
bkp_source* FakeHost::source() { return reinterpret_cast<bkp_source*>(this); }
bkp_sink* FakeHost::sink() { return reinterpret_cast<bkp_sink*>(this); }

FakeHost* FakeHost::Self(const void* handle) {
  return static_cast<FakeHost*>(const_cast<void*>(handle));
}

bkp_open_args FakeHost::OpenArgs(const char* provider_name) {
  bkp_open_args args{};
  args.struct_size = sizeof args;
  args.services = services();
  args.host = host();
  args.settings = settings();
  args.provider_name = provider_name;
  return args;
}

bkp_backup_args FakeHost::BackupArgs(uint32_t type) {
  bkp_backup_args args{};
  args.struct_size = sizeof args;
  args.type = type;
  args.op = op();
  args.source = source();
  return args;
}

bkp_restore_args FakeHost::RestoreArgs(const char* backup_id) {
  bkp_restore_args args{};
  args.struct_size = sizeof args;
  args.backup_id = backup_id;
  args.op = op();
  args.sink = sink();
  return args;
}

void FakeHost::ResetOperation() {
  // A provider's own thread (a retry, a lock refresher) may still log or
  // report progress from the last operation while this clears.
  std::lock_guard lock(mu_);
  log_lines.clear();
  progress.clear();
  listed_roles.clear();
  bytes_served.clear();
  reads = 0;
  largest_read = 0;
  restored.clear();
  cancel_checks = 0;
  sink_poisoned.clear();
  restored_base_.clear();
  last_listed_role_ = 0;
  listed_.clear();
  context_names_.clear();
  contexts_.clear();
}

void FakeHost::Log(bkp_host* host, int32_t level, const char* message) {
  FakeHost* self = Self(host);
  std::lock_guard lock(self->mu_);
  self->log_lines.emplace_back(level, message != nullptr ? message : "(null)");
}

bkp_status FakeHost::SettingString(const bkp_settings* settings, const char* key, char* buf,
                                   size_t len, size_t* needed) {
  FakeHost* self = Self(settings);
  if (!self->SettingAllowed(key, BKP_SETTING_STRING)) return BKP_E_NOT_FOUND;
  auto it = self->string_settings.find(key);
  if (it == self->string_settings.end()) return self->MissingSetting(key);
  if (needed != nullptr) *needed = it->second.size() + 1;
  if (buf == nullptr || len < it->second.size() + 1) return BKP_E_INVALID_ARGUMENT;
  std::memcpy(buf, it->second.c_str(), it->second.size() + 1);
  return BKP_OK;
}

bkp_status FakeHost::SettingInt(const bkp_settings* settings, const char* key, int64_t* out) {
  FakeHost* self = Self(settings);
  if (!self->SettingAllowed(key, BKP_SETTING_INT)) return BKP_E_NOT_FOUND;
  auto it = self->int_settings.find(key);
  if (it == self->int_settings.end()) return self->MissingSetting(key);
  *out = it->second;
  return BKP_OK;
}

bkp_status FakeHost::SettingBool(const bkp_settings* settings, const char* key, int32_t* out) {
  FakeHost* self = Self(settings);
  if (!self->SettingAllowed(key, BKP_SETTING_BOOL)) return BKP_E_NOT_FOUND;
  auto it = self->bool_settings.find(key);
  if (it == self->bool_settings.end()) return self->MissingSetting(key);
  *out = it->second ? 1 : 0;
  return BKP_OK;
}

bkp_status FakeHost::MissingSetting(const char* key) const {
  const bool other_type =
      string_settings.count(key) != 0 || int_settings.count(key) != 0 || bool_settings.count(key);
  return other_type ? BKP_E_INVALID_ARGUMENT : BKP_E_NOT_FOUND;
}

bool FakeHost::SettingAllowed(const char* key, uint32_t type) {
  if (!declared_settings) return true;
  const char* kind = type == BKP_SETTING_STRING ? "string"
                     : type == BKP_SETTING_INT  ? "int"
                                                : "bool";
  if (key == nullptr) {
    setting_violations.push_back(std::string("asked for a setting with a NULL key (as ") + kind +
                                 ")");
    return false;
  }
  auto it = declared_settings->find(key);
  if (it == declared_settings->end()) {
    setting_violations.push_back("asked for setting '" + std::string(key) +
                                 "', which its table does not declare: the host never passes it");
    return false;
  }
  if (it->second != type) {
    setting_violations.push_back("read setting '" + std::string(key) + "' as " + kind +
                                 ", but its table declares another type");
  }
  return true;
}

void FakeHost::OpProgress(bkp_operation* op, const bkp_progress* progress) {
  FakeHost* self = Self(op);
  std::lock_guard lock(self->mu_);
  self->progress.push_back(bkp::copy_versioned(progress));
}

int32_t FakeHost::OpCancelled(bkp_operation* op) {
  FakeHost* self = Self(op);
  std::lock_guard lock(self->mu_);
  const uint64_t check = self->cancel_checks++;
  if (self->cancel_after_checks && check >= *self->cancel_after_checks) return 1;
  return self->cancel_after_reads && self->reads >= *self->cancel_after_reads ? 1 : 0;
}

bkp_status FakeHost::SourceList(bkp_source* source, uint32_t role, bkp_item_fn fn, void* user,
                                char* err, size_t err_len) {
  FakeHost* self = Self(source);
  if (role < BKP_ROLE_CONTROL_DB || role > BKP_ROLE_SNAPSHOTS || role <= self->last_listed_role_) {
    WriteError(err, err_len,
               "fake host: role " + std::to_string(role) + " listed after role " +
                   std::to_string(self->last_listed_role_) +
                   "; list control DB, log, events, snapshots in that order");
    return BKP_E_OUT_OF_ORDER;
  }
  self->last_listed_role_ = role;
  self->listed_roles.push_back(role);
  if (self->listed_.empty()) {
    self->bytes_served.assign(self->items.size(), 0);
    for (size_t i = 0; i < self->items.size(); ++i) {
      const Item& item = self->items[i];
      bkp_item out{};
      out.struct_size = sizeof out;
      out.role = item.role;
      out.context = item.context.empty() ? nullptr : item.context.c_str();
      out.name = item.name.c_str();
      out.size = item.announced_size.value_or(item.data.size());
      out.id = i + 1;
      out.flags = BKP_ITEM_CLOSED;
      out.base = item.base;
      out.next = item.next;
      self->listed_.push_back(out);
    }
  }
  for (const bkp_item& item : self->listed_) {
    if (item.role != role) continue;
    const bkp_status st = fn(user, &item);
    if (st != BKP_OK) {
      WriteError(err, err_len,
                 "fake host: the listing callback stopped with " + std::to_string(st));
      return st;
    }
  }
  return BKP_OK;
}

bkp_status FakeHost::SourceContexts(bkp_source* source, bkp_context_fn fn, void* user, char* err,
                                    size_t err_len) {
  FakeHost* self = Self(source);
  if (self->last_listed_role_ < BKP_ROLE_CONTROL_DB) {
    WriteError(err, err_len, "fake host: contexts asked for before the control DB was listed");
    return BKP_E_OUT_OF_ORDER;
  }
  if (self->contexts_.empty()) {
    for (const Item& item : self->items) {
      if (!item.context.empty()) self->context_names_.push_back(item.context);
    }
    std::sort(self->context_names_.begin(), self->context_names_.end());
    self->context_names_.erase(
        std::unique(self->context_names_.begin(), self->context_names_.end()),
        self->context_names_.end());
    for (const std::string& name : self->context_names_) {
      bkp_context_info info{};
      info.struct_size = sizeof info;
      info.name = name.c_str();
      info.term = 1;
      self->contexts_.push_back(info);
    }
  }
  for (const bkp_context_info& info : self->contexts_) {
    const bkp_status st = fn(user, &info);
    if (st != BKP_OK) return st;
  }
  return BKP_OK;
}

bkp_status FakeHost::SourceRead(bkp_source* source, uint64_t id, uint64_t offset, void* buf,
                                size_t len, size_t* got, char* err, size_t err_len) {
  FakeHost* self = Self(source);
  std::lock_guard lock(self->mu_);
  *got = 0;
  if (id == 0 || id > self->listed_.size()) {
    WriteError(err, err_len, "fake host: no item with id " + std::to_string(id));
    return BKP_E_NOT_FOUND;
  }
  if (self->read_failure) {
    WriteError(err, err_len, self->read_failure->second);
    return self->read_failure->first;
  }
  const Item& item = self->items[id - 1];
  const uint64_t available = std::min<uint64_t>(self->listed_[id - 1].size, item.data.size());
  if (offset < available) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len, available - offset));
    std::memcpy(buf, item.data.data() + offset, n);
    *got = n;
  }
  self->bytes_served[id - 1] += *got;
  self->largest_read = std::max(self->largest_read, len);
  ++self->reads;
  return BKP_OK;
}

bkp_status FakeHost::Poison(bkp_status code, const std::string& why, char* err, size_t err_len) {
  if (sink_poisoned.empty()) sink_poisoned = why;
  WriteError(err, err_len, "fake host: " + why);
  return code;
}

// The real sink's rules (bkp_plugin.h, "Restore sink"): one control DB first,
// then log, events, snapshots; each context's stream in ascending base; one
// item open at a time; exactly the announced size; names as the host names
// its files. The first broken rule makes the sink unusable.
bkp_status FakeHost::SinkBegin(bkp_sink* sink, const bkp_item* item_in, char* err, size_t err_len) {
  FakeHost* self = Self(sink);
  if (self->sink_failure) {
    WriteError(err, err_len, self->sink_failure->second);
    return self->sink_failure->first;
  }
  if (!self->sink_poisoned.empty()) {
    WriteError(err, err_len, "fake host: the sink is unusable after: " + self->sink_poisoned);
    return BKP_E_OUT_OF_ORDER;
  }
  if (item_in == nullptr || item_in->struct_size < offsetof(bkp_item, next) + sizeof(uint64_t)) {
    return self->Poison(BKP_E_INVALID_ARGUMENT,
                        "sink_begin: NULL item or bkp_item.struct_size below ABI 1.0's", err,
                        err_len);
  }
  const bkp_item item = bkp::copy_versioned(item_in);
  const std::string name = item.name != nullptr ? item.name : "(unnamed)";
  if (!self->restored.empty() && !self->restored.back().ended) {
    return self->Poison(
        BKP_E_OUT_OF_ORDER,
        "sink_begin of '" + name + "' while '" + self->restored.back().name + "' is still open",
        err, err_len);
  }
  if (std::string why = ItemRefusal(item); !why.empty()) {
    return self->Poison(BKP_E_INVALID_ARGUMENT, why, err, err_len);
  }
  const bool have_control_db =
      !self->restored.empty() && self->restored.front().role == BKP_ROLE_CONTROL_DB;
  const uint32_t last_role = self->restored.empty() ? 0 : self->restored.back().role;
  if (item.role == BKP_ROLE_CONTROL_DB && !self->restored.empty()) {
    return self->Poison(BKP_E_OUT_OF_ORDER,
                        "the control DB must be the first item of a restore, and come only once",
                        err, err_len);
  }
  if (item.role != BKP_ROLE_CONTROL_DB && !have_control_db) {
    return self->Poison(
        BKP_E_OUT_OF_ORDER,
        std::string(bkp_role_name(item.role)) + " item '" + name + "' before the control DB", err,
        err_len);
  }
  if (item.role < last_role) {
    return self->Poison(BKP_E_OUT_OF_ORDER,
                        std::string(bkp_role_name(item.role)) + " item '" + name + "' after " +
                            bkp_role_name(last_role) +
                            " items: a restore writes the control DB, then log, then events, "
                            "then snapshots",
                        err, err_len);
  }
  if (item.context != nullptr) {
    auto key = std::make_pair(std::string(item.context), item.role);
    auto last = self->restored_base_.find(key);
    if (last != self->restored_base_.end() && item.base <= last->second) {
      return self->Poison(BKP_E_OUT_OF_ORDER,
                          std::string(bkp_role_name(item.role)) + " item '" + name +
                              "' of context '" + item.context + "' has base " +
                              std::to_string(item.base) + " after base " +
                              std::to_string(last->second),
                          err, err_len);
    }
    self->restored_base_[key] = item.base;
  }
  Restored r{item.role, item.context != nullptr ? item.context : "", name, item.size, "", false};
  r.base = item.base;
  r.next = item.next;
  self->restored.push_back(std::move(r));
  return BKP_OK;
}

bkp_status FakeHost::SinkWrite(bkp_sink* sink, const void* data, size_t len, char* err,
                               size_t err_len) {
  FakeHost* self = Self(sink);
  if (self->sink_failure) {
    WriteError(err, err_len, self->sink_failure->second);
    return self->sink_failure->first;
  }
  if (!self->sink_poisoned.empty()) {
    WriteError(err, err_len, "fake host: the sink is unusable after: " + self->sink_poisoned);
    return BKP_E_OUT_OF_ORDER;
  }
  if (self->restored.empty() || self->restored.back().ended) {
    return self->Poison(BKP_E_OUT_OF_ORDER, "sink_write without an open item", err, err_len);
  }
  Restored& item = self->restored.back();
  if (len > item.size - item.data.size()) {
    return self->Poison(BKP_E_INVALID_ARGUMENT,
                        "sink_write of " + std::to_string(len) + " bytes overruns item '" +
                            item.name + "' (" + std::to_string(item.data.size()) + " of " +
                            std::to_string(item.size) + " announced bytes written)",
                        err, err_len);
  }
  if (len != 0 && data == nullptr) {
    return self->Poison(BKP_E_INVALID_ARGUMENT, "sink_write with NULL data", err, err_len);
  }
  if (len != 0) item.data.append(static_cast<const char*>(data), len);
  return BKP_OK;
}

bkp_status FakeHost::SinkEnd(bkp_sink* sink, char* err, size_t err_len) {
  FakeHost* self = Self(sink);
  if (self->sink_failure) {
    WriteError(err, err_len, self->sink_failure->second);
    return self->sink_failure->first;
  }
  if (!self->sink_poisoned.empty()) {
    WriteError(err, err_len, "fake host: the sink is unusable after: " + self->sink_poisoned);
    return BKP_E_OUT_OF_ORDER;
  }
  if (self->restored.empty() || self->restored.back().ended) {
    return self->Poison(BKP_E_OUT_OF_ORDER, "sink_end without an open item", err, err_len);
  }
  Restored& item = self->restored.back();
  if (item.data.size() != item.size) {
    return self->Poison(BKP_E_INVALID_ARGUMENT,
                        "item " + item.name + " got " + std::to_string(item.data.size()) + " of " +
                            std::to_string(item.size) + " bytes",
                        err, err_len);
  }
  item.ended = true;
  return BKP_OK;
}

bkp_status FakeHost::RestoreItemCheck(bkp_host* /*host*/, const bkp_item* item, char* err,
                                      size_t err_len) {
  if (item == nullptr) {
    WriteError(err, err_len, "fake host: restore_item_check of a NULL item");
    return BKP_E_INVALID_ARGUMENT;
  }
  const std::string why = ItemRefusal(bkp::copy_versioned(item));
  if (why.empty()) return BKP_OK;
  WriteError(err, err_len, "fake host: " + why);
  return BKP_E_INVALID_ARGUMENT;
}

bkp_status FakeHost::SinkTimeline(bkp_sink* /*sink*/, uint32_t restored, uint32_t newest, char* err,
                                  size_t err_len) {
  if (restored == 0 || restored > newest) {
    WriteError(err, err_len,
               "fake host: sink_timeline(" + std::to_string(restored) + ", " +
                   std::to_string(newest) + "): restored must be 1..newest");
    return BKP_E_INVALID_ARGUMENT;
  }
  return BKP_OK;
}

PluginLibrary::PluginLibrary(const std::string& path) {
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle_ == nullptr) throw std::runtime_error(std::string("dlopen: ") + dlerror());
  void* symbol = dlsym(handle_, BKP_PLUGIN_ENTRY_NAME);
  if (symbol == nullptr) {
    const std::string why = dlerror();
    dlclose(handle_);
    throw std::runtime_error("dlsym: " + why);
  }
  entry_ = reinterpret_cast<bkp_plugin_entry_fn>(symbol);
}

PluginLibrary::~PluginLibrary() { dlclose(handle_); }

const bkp_provider* PluginLibrary::Entry(uint32_t host_version, std::string* error) const {
  char buf[512] = "";
  bkp_entry_args args{};
  args.struct_size = sizeof args;
  args.host_abi_version = host_version;
  args.error = buf;
  args.error_len = sizeof buf;
  const bkp_provider* provider = entry_(&args);
  if (error != nullptr) *error = buf;
  return provider;
}

}  // namespace fake
