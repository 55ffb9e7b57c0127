// The scripted host of fake_host.h. Each service is a plain function behind
// the C table, as the real host's are; none throws.
#include "fake_host.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "bkp/bkp_plugin.hpp"

namespace fake {

namespace {

void WriteError(char* err, size_t err_len, const std::string& message) {
  if (err == nullptr || err_len == 0) return;
  std::snprintf(err, err_len, "%s", message.c_str());
}

}  // namespace

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

void FakeHost::ResetOperation() {
  log_lines.clear();
  progress.clear();
  listed_roles.clear();
  bytes_served.clear();
  reads = 0;
  largest_read = 0;
  restored.clear();
  last_listed_role_ = 0;
  listed_.clear();
  context_names_.clear();
  contexts_.clear();
}

void FakeHost::Log(bkp_host* host, int32_t level, const char* message) {
  Self(host)->log_lines.emplace_back(level, message != nullptr ? message : "(null)");
}

bkp_status FakeHost::SettingString(const bkp_settings* settings, const char* key, char* buf,
                                   size_t len, size_t* needed) {
  FakeHost* self = Self(settings);
  auto it = self->string_settings.find(key);
  if (it == self->string_settings.end()) {
    const bool other_type = self->int_settings.count(key) != 0 || self->bool_settings.count(key);
    return other_type ? BKP_E_INVALID_ARGUMENT : BKP_E_NOT_FOUND;
  }
  if (needed != nullptr) *needed = it->second.size() + 1;
  if (buf == nullptr || len < it->second.size() + 1) return BKP_E_INVALID_ARGUMENT;
  std::memcpy(buf, it->second.c_str(), it->second.size() + 1);
  return BKP_OK;
}

bkp_status FakeHost::SettingInt(const bkp_settings* settings, const char* key, int64_t* out) {
  FakeHost* self = Self(settings);
  auto it = self->int_settings.find(key);
  if (it == self->int_settings.end()) {
    const bool other_type = self->string_settings.count(key) != 0 || self->bool_settings.count(key);
    return other_type ? BKP_E_INVALID_ARGUMENT : BKP_E_NOT_FOUND;
  }
  *out = it->second;
  return BKP_OK;
}

bkp_status FakeHost::SettingBool(const bkp_settings* settings, const char* key, int32_t* out) {
  FakeHost* self = Self(settings);
  auto it = self->bool_settings.find(key);
  if (it == self->bool_settings.end()) {
    const bool other_type = self->string_settings.count(key) != 0 || self->int_settings.count(key);
    return other_type ? BKP_E_INVALID_ARGUMENT : BKP_E_NOT_FOUND;
  }
  *out = it->second ? 1 : 0;
  return BKP_OK;
}

void FakeHost::OpProgress(bkp_operation* op, const bkp_progress* progress) {
  Self(op)->progress.push_back(bkp::copy_versioned(progress));
}

int32_t FakeHost::OpCancelled(bkp_operation* op) {
  FakeHost* self = Self(op);
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

bkp_status FakeHost::SinkBegin(bkp_sink* sink, const bkp_item* item, char* err, size_t err_len) {
  FakeHost* self = Self(sink);
  if (self->sink_failure) {
    WriteError(err, err_len, self->sink_failure->second);
    return self->sink_failure->first;
  }
  if (!self->restored.empty() && !self->restored.back().ended) {
    WriteError(err, err_len, "fake host: sink_begin while an item is open");
    return BKP_E_OUT_OF_ORDER;
  }
  if (item->struct_size < sizeof(bkp_item)) {
    WriteError(err, err_len, "fake host: bkp_item.struct_size not set");
    return BKP_E_INVALID_ARGUMENT;
  }
  self->restored.push_back({item->role, item->context != nullptr ? item->context : "",
                            item->name != nullptr ? item->name : "", item->size, "", false});
  return BKP_OK;
}

bkp_status FakeHost::SinkWrite(bkp_sink* sink, const void* data, size_t len, char* err,
                               size_t err_len) {
  FakeHost* self = Self(sink);
  if (self->sink_failure) {
    WriteError(err, err_len, self->sink_failure->second);
    return self->sink_failure->first;
  }
  if (self->restored.empty() || self->restored.back().ended) {
    WriteError(err, err_len, "fake host: sink_write without an open item");
    return BKP_E_OUT_OF_ORDER;
  }
  self->restored.back().data.append(static_cast<const char*>(data), len);
  return BKP_OK;
}

bkp_status FakeHost::SinkEnd(bkp_sink* sink, char* err, size_t err_len) {
  FakeHost* self = Self(sink);
  if (self->sink_failure) {
    WriteError(err, err_len, self->sink_failure->second);
    return self->sink_failure->first;
  }
  if (self->restored.empty() || self->restored.back().ended) {
    WriteError(err, err_len, "fake host: sink_end without an open item");
    return BKP_E_OUT_OF_ORDER;
  }
  Restored& item = self->restored.back();
  if (item.data.size() != item.size) {
    WriteError(err, err_len,
               "fake host: item " + item.name + " got " + std::to_string(item.data.size()) +
                   " of " + std::to_string(item.size) + " bytes");
    return BKP_E_INVALID_ARGUMENT;
  }
  item.ended = true;
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
