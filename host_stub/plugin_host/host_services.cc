// The host services table. Every entry is a noexcept C function that checks
// its handle, forwards to the host object, and turns any C++ exception into
// a status and a message in the caller's buffer: nothing unwinds into a
// plugin.
#include "plugin_host/host_services.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>

#include <fmt/format.h>

#include "bkp/bkp_plugin.hpp"
#include "plugin_host/host_handles.h"
#include "plugin_host/restore_rules.h"

namespace hoststub {
namespace {

void CopyError(const std::string& message, char* err, size_t err_len) {
  if (err == nullptr || err_len == 0) return;
  const size_t n = std::min(message.size(), err_len - 1);
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

// Runs `body` (returning bkp_status, writing its message into `message`),
// mapping escaping exceptions to BKP_E_INTERNAL.
template <typename Body>
bkp_status Guarded(const char* what, char* err, size_t err_len, Body&& body) noexcept {
  std::string message;
  bkp_status rc;
  try {
    rc = body(&message);
  } catch (const std::bad_alloc&) {
    rc = BKP_E_INTERNAL;
    message = fmt::format("{}: out of memory", what);
  } catch (const std::exception& e) {
    rc = BKP_E_INTERNAL;
    message = fmt::format("{}: {}", what, e.what());
  } catch (...) {
    rc = BKP_E_INTERNAL;
    message = fmt::format("{}: unknown exception in the host", what);
  }
  if (rc != BKP_OK) CopyError(message, err, err_len);
  return rc;
}

// --- logging ---------------------------------------------------------------

void Log(bkp_host* host, int32_t level, const char* message) noexcept {
  if (host == nullptr || message == nullptr) return;
  try {
    if (host->log) host->log(level, message);
  } catch (...) {
    // Logging must never fail the plugin's operation.
  }
}

// --- settings --------------------------------------------------------------

const toml::node* Setting(const bkp_settings* settings, const char* key) {
  if (settings == nullptr || settings->table == nullptr || key == nullptr) return nullptr;
  return settings->table->get(key);
}

bkp_status SettingString(const bkp_settings* settings, const char* key, char* buf, size_t len,
                         size_t* needed) noexcept {
  try {
    if (needed != nullptr) *needed = 0;
    const toml::node* node = Setting(settings, key);
    if (node == nullptr) return BKP_E_NOT_FOUND;
    const auto* value = node->as_string();
    if (value == nullptr) return BKP_E_INVALID_ARGUMENT;
    const std::string& s = value->get();
    if (needed != nullptr) *needed = s.size() + 1;
    if (buf == nullptr || len < s.size() + 1) return BKP_E_INVALID_ARGUMENT;
    std::memcpy(buf, s.c_str(), s.size() + 1);
    return BKP_OK;
  } catch (...) {
    return BKP_E_INTERNAL;
  }
}

bkp_status SettingInt(const bkp_settings* settings, const char* key, int64_t* out) noexcept {
  try {
    const toml::node* node = Setting(settings, key);
    if (node == nullptr) return BKP_E_NOT_FOUND;
    const auto* value = node->as_integer();
    if (value == nullptr || out == nullptr) return BKP_E_INVALID_ARGUMENT;
    *out = value->get();
    return BKP_OK;
  } catch (...) {
    return BKP_E_INTERNAL;
  }
}

bkp_status SettingBool(const bkp_settings* settings, const char* key, int32_t* out) noexcept {
  try {
    const toml::node* node = Setting(settings, key);
    if (node == nullptr) return BKP_E_NOT_FOUND;
    const auto* value = node->as_boolean();
    if (value == nullptr || out == nullptr) return BKP_E_INVALID_ARGUMENT;
    *out = value->get() ? 1 : 0;
    return BKP_OK;
  } catch (...) {
    return BKP_E_INTERNAL;
  }
}

// --- operation ---------------------------------------------------------------

void OpProgress(bkp_operation* op, const bkp_progress* progress) noexcept {
  if (op == nullptr || progress == nullptr) return;
  try {
    const bkp_progress copy = bkp::copy_versioned(progress);
    if (op->on_progress) op->on_progress(copy);
  } catch (...) {
    // Progress is advisory: a failure to record it must not fail the backup.
  }
}

int32_t OpCancelled(bkp_operation* op) noexcept {
  return op != nullptr && op->cancel_requested.load() ? 1 : 0;
}

// --- source and sink ---------------------------------------------------------

bkp_status SourceList(bkp_source* source, uint32_t role, bkp_item_fn fn, void* user, char* err,
                      size_t err_len) noexcept {
  return Guarded("source_list", err, err_len, [&](std::string* message) {
    if (source == nullptr) {
      *message = "source_list: source is NULL";
      return BKP_E_INVALID_ARGUMENT;
    }
    return source->List(role, fn, user, message);
  });
}

bkp_status SourceContexts(bkp_source* source, bkp_context_fn fn, void* user, char* err,
                          size_t err_len) noexcept {
  return Guarded("source_contexts", err, err_len, [&](std::string* message) {
    if (source == nullptr) {
      *message = "source_contexts: source is NULL";
      return BKP_E_INVALID_ARGUMENT;
    }
    return source->Contexts(fn, user, message);
  });
}

bkp_status SourceRead(bkp_source* source, uint64_t id, uint64_t offset, void* buf, size_t len,
                      size_t* got, char* err, size_t err_len) noexcept {
  return Guarded("source_read", err, err_len, [&](std::string* message) {
    if (source == nullptr) {
      *message = "source_read: source is NULL";
      return BKP_E_INVALID_ARGUMENT;
    }
    return source->Read(id, offset, buf, len, got, message);
  });
}

bkp_status SinkBegin(bkp_sink* sink, const bkp_item* item, char* err, size_t err_len) noexcept {
  return Guarded("sink_begin", err, err_len, [&](std::string* message) {
    if (sink == nullptr || item == nullptr) {
      *message = "sink_begin: sink or item is NULL";
      return BKP_E_INVALID_ARGUMENT;
    }
    return sink->Begin(*item, message);
  });
}

bkp_status SinkWrite(bkp_sink* sink, const void* data, size_t len, char* err,
                     size_t err_len) noexcept {
  return Guarded("sink_write", err, err_len, [&](std::string* message) {
    if (sink == nullptr) {
      *message = "sink_write: sink is NULL";
      return BKP_E_INVALID_ARGUMENT;
    }
    return sink->Write(data, len, message);
  });
}

bkp_status SinkEnd(bkp_sink* sink, char* err, size_t err_len) noexcept {
  return Guarded("sink_end", err, err_len, [&](std::string* message) {
    if (sink == nullptr) {
      *message = "sink_end: sink is NULL";
      return BKP_E_INVALID_ARGUMENT;
    }
    return sink->End(message);
  });
}

bkp_status RestoreItemCheck(bkp_host*, const bkp_item* item_in, char* err,
                            size_t err_len) noexcept {
  return Guarded("restore_item_check", err, err_len, [&](std::string* message) {
    if (item_in == nullptr) {
      *message = "restore_item_check: item is NULL";
      return BKP_E_INVALID_ARGUMENT;
    }
    // Read only what the plugin's struct holds; a newer field it lacks is 0.
    const bkp_item item = bkp::copy_versioned(item_in);
    auto path = RestoredPath(item);
    if (path.ok()) return BKP_OK;
    *message = path.status().message();
    return BKP_E_INVALID_ARGUMENT;
  });
}

bkp_status SinkTimeline(bkp_sink* sink, uint32_t restored, uint32_t newest, char* err,
                        size_t err_len) noexcept {
  return Guarded("sink_timeline", err, err_len, [&](std::string* message) {
    if (sink == nullptr) {
      *message = "sink_timeline: sink is NULL";
      return BKP_E_INVALID_ARGUMENT;
    }
    return sink->Timeline(restored, newest, message);
  });
}

const bkp_host_services kServices = {
    sizeof(bkp_host_services),
    BKP_ABI_VERSION,
    Log,
    SettingString,
    SettingInt,
    SettingBool,
    OpProgress,
    OpCancelled,
    SourceList,
    SourceContexts,
    SourceRead,
    SinkBegin,
    SinkWrite,
    SinkEnd,
    RestoreItemCheck,
    SinkTimeline,
};

}  // namespace

const bkp_host_services* HostServices() { return &kServices; }

}  // namespace hoststub
