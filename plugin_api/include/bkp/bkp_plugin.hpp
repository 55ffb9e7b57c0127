/*
 * bkp_plugin.hpp - a header-only C++17 helper for writing a backup provider
 * in C++ against bkp_plugin.h. It adds nothing to the ABI: everything that
 * crosses is still the C of bkp_plugin.h; this only makes the plugin's side
 * of the edge shorter and safe. Depends on bkp_plugin.h and the standard
 * library only.
 *
 * THE RULE AT THE EDGE
 *
 *  No C++ exception may cross the C boundary. Every function the host calls
 *  (the entry point and every callback of the provider table) is declared
 *  noexcept, so an escaping exception ends in std::terminate rather than
 *  undefined behaviour, and wraps its body in bkp::guard(), which turns any
 *  exception into a status and a message in the caller's buffer:
 *
 *    struct bkp_instance {  // the plugin completes the opaque handle
 *      bkp::Host host;      // kept from open: valid until close
 *    };
 *
 *    static bkp_status my_backup(bkp_instance* inst, const bkp_backup_args* args,
 *                                bkp_backup_result* result, char* err,
 *                                size_t err_len) noexcept {
 *      return bkp::guard(err, err_len, [&] {
 *        bkp::Source source(inst->host.services(), *args);
 *        source.list(BKP_ROLE_CONTROL_DB, [&](const bkp_item& item) { ... });
 *      });
 *    }
 *
 *    extern "C" BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(
 *        const bkp_entry_args* args) noexcept {
 *      return bkp::negotiate(args, BKP_ABI_VERSION) ? &kProvider : nullptr;
 *    }
 *
 *  Inside guard(), the wrappers below (Host, Settings, Operation, Source,
 *  Sink) throw bkp::Error carrying the host's status and message, so a
 *  failure deep in the body reaches the host unchanged.
 *
 * THREADING: the wrappers hold only pointers the host handed out and are as
 * thread-safe as the service they call (see bkp_plugin.h). They are cheap to
 * copy and own nothing; their lifetime rules are the handles' own.
 */
#ifndef BKP_PLUGIN_HPP
#define BKP_PLUGIN_HPP

#if !defined(__cplusplus) || __cplusplus < 201703L
#error "bkp_plugin.hpp needs C++17 or later; a C plugin uses bkp_plugin.h alone"
#endif

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "bkp_plugin.h"

namespace bkp {

/* The #define name of a status ("BKP_E_IO"), or "BKP_E_?" for an unknown
 * code. Never fails; the string is static. */
inline const char* status_name(bkp_status status) noexcept {
  static const struct {
    bkp_status status;
    const char* name;
  } kNames[] = {
      {BKP_OK, "BKP_OK"},
      {BKP_E_BUSY, "BKP_E_BUSY"},
      {BKP_E_MISSING_FULL_BACKUP, "BKP_E_MISSING_FULL_BACKUP"},
      {BKP_E_BROKEN_CHAIN, "BKP_E_BROKEN_CHAIN"},
      {BKP_E_CORRUPT, "BKP_E_CORRUPT"},
      {BKP_E_REFUSED_BY_POLICY, "BKP_E_REFUSED_BY_POLICY"},
      {BKP_E_CANCELLED, "BKP_E_CANCELLED"},
      {BKP_E_IO, "BKP_E_IO"},
      {BKP_E_AUTH, "BKP_E_AUTH"},
      {BKP_E_NOT_FOUND, "BKP_E_NOT_FOUND"},
      {BKP_E_INVALID_ARGUMENT, "BKP_E_INVALID_ARGUMENT"},
      {BKP_E_UNSUPPORTED, "BKP_E_UNSUPPORTED"},
      {BKP_E_OUT_OF_ORDER, "BKP_E_OUT_OF_ORDER"},
      {BKP_E_NO_SPACE, "BKP_E_NO_SPACE"},
      {BKP_E_UNREACHABLE, "BKP_E_UNREACHABLE"},
      {BKP_E_INTERNAL, "BKP_E_INTERNAL"},
  };
  for (const auto& entry : kNames) {
    if (entry.status == status) return entry.name;
  }
  return "BKP_E_?";
}

/* Copies `message` (len bytes, need not be NUL-terminated) into the
 * caller-owned buffer (err, err_len) as the ABI's ERRORS rule demands: at
 * most err_len bytes including the terminating NUL, truncated if needed (never
 * inside a UTF-8 sequence), and nothing at all when err is NULL or err_len is
 * 0. Never fails. */
inline void write_error(char* err, size_t err_len, const char* message, size_t len) noexcept {
  if (err == nullptr || err_len == 0) return;
  if (message == nullptr) len = 0;
  if (len >= err_len) {
    len = err_len - 1;
    /* Back off to the start of the sequence the cut would split. */
    while (len > 0 && (static_cast<unsigned char>(message[len]) & 0xC0u) == 0x80u) --len;
  }
  if (len > 0) std::memmove(err, message, len);
  err[len] = '\0';
}

/* As above, for a NUL-terminated message (NULL writes an empty string). */
inline void write_error(char* err, size_t err_len, const char* message) noexcept {
  write_error(err, err_len, message, message != nullptr ? std::strlen(message) : 0);
}

inline void write_error(char* err, size_t err_len, const std::string& message) noexcept {
  write_error(err, err_len, message.data(), message.size());
}

/* An expected failure: a status for the host and a message that names the
 * thing at fault. Thrown by the wrappers below; throw it from plugin code to
 * fail with a specific status. guard() reports a status of BKP_OK as
 * BKP_E_INTERNAL, since a failure must never read as success. */
class Error : public std::runtime_error {
 public:
  Error(bkp_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  Error(bkp_status status, const char* message) : std::runtime_error(message), status_(status) {}
  bkp_status status() const noexcept { return status_; }

 private:
  bkp_status status_;
};

/* Runs body() and returns what the host must see. body returns void (then
 * success is BKP_OK) or a bkp_status it returns itself (and then it wrote its
 * own message on failure). Any exception becomes a status and a message in
 * (err, err_len), written as write_error() does:
 *   bkp::Error          -> its status and what()
 *   std::bad_alloc      -> BKP_E_INTERNAL, "out of memory"
 *   std::exception      -> BKP_E_INTERNAL, what()
 *   anything else       -> BKP_E_INTERNAL, "unknown C++ exception"
 * Never throws. */
template <class Body>
bkp_status guard(char* err, size_t err_len, Body&& body) noexcept {
  try {
    if constexpr (std::is_void_v<std::invoke_result_t<Body&>>) {
      body();
      return BKP_OK;
    } else {
      return static_cast<bkp_status>(body());
    }
  } catch (const Error& e) {
    write_error(err, err_len, e.what());
    return e.status() != BKP_OK ? e.status() : BKP_E_INTERNAL;
  } catch (const std::bad_alloc&) {
    write_error(err, err_len, "out of memory");
  } catch (const std::exception& e) {
    write_error(err, err_len, e.what());
  } catch (...) {
    write_error(err, err_len, "unknown C++ exception");
  }
  return BKP_E_INTERNAL;
}

/* Reads a versioned struct the other side of the ABI filled in: any struct
 * of bkp_plugin.h that starts with `uint32_t struct_size` (bkp_item,
 * bkp_progress, bkp_backup_args, ...). The other side may be built against
 * an older or a newer bkp_plugin.h, so its struct may be shorter or longer
 * than this side's T; this is the one safe way to read it. Returns a T
 * holding the first min(sizeof(T), given->struct_size) bytes of *given and
 * zeros after them:
 *   struct_size < sizeof(T), an older peer: the fields it lacks read as 0,
 *     which every appended field defines as "absent, the old behaviour";
 *     nothing past its struct_size is read;
 *   struct_size > sizeof(T), a newer peer: the fields this side does not
 *     know are not read;
 *   struct_size == 0, or given NULL: an all-zero T.
 * The copy's struct_size is the peer's value, copied with the rest, so it
 * still tells which fields the peer sent.
 * Ownership: a shallow copy. Pointers in it (names, buffers, nested
 * structs) point into the peer's memory and are valid only as long as the
 * originals are; a nested versioned struct needs a copy_versioned of its
 * own. Never fails, allocates nothing. */
template <class T>
T copy_versioned(const T* given) noexcept {
  static_assert(std::is_trivially_copyable_v<T> && std::is_standard_layout_v<T>,
                "copy_versioned copies C structs of the ABI");
  static_assert(std::is_same_v<decltype(T::struct_size), uint32_t> && offsetof(T, struct_size) == 0,
                "a versioned struct starts with uint32_t struct_size");
  T copy{};
  if (given == nullptr) return copy;
  const size_t given_size = given->struct_size;
  std::memcpy(&copy, given, given_size < sizeof copy ? given_size : sizeof copy);
  return copy;
}

/* The entry point's decision: true when a plugin built for plugin_version
 * (normally BKP_ABI_VERSION) can serve the host described by args, i.e. the
 * majors are equal (the two sides then use the lower minor; the plugin learns
 * the negotiated version from bkp_host_services.abi_version at open). Else
 * false with the reason written into args->error. args is read defensively:
 * NULL, or a struct_size too small to hold host_abi_version, refuses; fields
 * beyond struct_size read as zero (so no reason is written if the host's
 * struct ends before error/error_len). Never throws, allocates nothing. */
inline bool negotiate(const bkp_entry_args* args, uint32_t plugin_version) noexcept {
  if (args == nullptr) return false;
  const bkp_entry_args in = copy_versioned(args);
  const size_t given = args->struct_size;
  /* Too small for host_abi_version means error/error_len are missing too:
   * there is nowhere to write a reason. */
  if (given < offsetof(bkp_entry_args, host_abi_version) + sizeof in.host_abi_version) {
    return false;
  }
  char reason[200];
  /* Spelled out rather than BKP_VERSION_MAJOR/MINOR, whose C casts trip
   * -Wold-style-cast in a plugin's C++ build. */
  const uint32_t host = in.host_abi_version;
  if ((host >> 16) != (plugin_version >> 16)) {
    std::snprintf(reason, sizeof reason,
                  "plugin built for ABI %u.%u, host speaks %u.%u: the major versions differ; "
                  "rebuild the plugin against the host's bkp_plugin.h",
                  plugin_version >> 16, plugin_version & 0xffffu, host >> 16, host & 0xffffu);
    write_error(in.error, in.error_len, reason);
    return false;
  }
  return true;
}

namespace detail {

/* Room for a host's error message; longer ones arrive truncated. */
constexpr size_t kErrorCapacity = 512;

/* The host's message if it wrote one, else "<what>: <status name>". */
inline Error host_error(bkp_status status, const char* what, const char* err) {
  if (err[0] != '\0') return Error(status, std::string(what) + ": " + err);
  return Error(status, std::string(what) + ": " + status_name(status));
}

/* Carries a C++ callable through a host listing (void *user + a C function
 * pointer) and any exception it throws back out, so none unwinds through
 * the host's frames. The status handed to the host stops the listing. */
template <class Fn, class Arg>
struct Visit {
  Fn* fn;
  std::exception_ptr thrown;

  static bkp_status each(void* user, const Arg* arg) noexcept {
    Visit* visit = static_cast<Visit*>(user);
    try {
      (*visit->fn)(*arg);
      return BKP_OK;
    } catch (const Error& e) {
      visit->thrown = std::current_exception();
      return e.status() != BKP_OK ? e.status() : BKP_E_INTERNAL;
    } catch (...) {
      visit->thrown = std::current_exception();
      return BKP_E_INTERNAL;
    }
  }

  /* After the host returned: the callable's exception first, else the
   * host's failure. */
  void finish(bkp_status status, const char* what, const char* err) const {
    if (thrown) std::rethrow_exception(thrown);
    if (status != BKP_OK) throw host_error(status, what, err);
  }
};

}  // namespace detail

/* The host as a whole: logging. Holds bkp_open_args.services and .host, both
 * valid from open until close, so an instance may keep a Host. */
class Host {
 public:
  Host() = default;
  Host(const bkp_host_services* services, bkp_host* host) noexcept
      : services_(services), host_(host) {}
  explicit Host(const bkp_open_args& args) noexcept : Host(args.services, args.host) {}

  const bkp_host_services* services() const noexcept { return services_; }
  bkp_host* handle() const noexcept { return host_; }

  /* Logs one line at BKP_LOG_* level. A NULL message logs nothing. Never
   * fails. */
  void log(int32_t level, const char* message) const noexcept {
    if (services_ != nullptr && message != nullptr) services_->log(host_, level, message);
  }
  void log(int32_t level, const std::string& message) const noexcept {
    log(level, message.c_str());
  }
  /* Whether the host offers restore_item_check (v1.2; older hosts do not). */
  bool checks_restore_items() const noexcept {
    return services_ != nullptr &&
           services_->struct_size >= offsetof(bkp_host_services, restore_item_check) +
                                         sizeof services_->restore_item_check &&
           services_->restore_item_check != nullptr;
  }
  /* The host's reason to refuse `item` in a restore (restore_item_check), or
   * nullopt when it would take it or cannot tell (checks_restore_items()).
   * Throws std::bad_alloc only. */
  std::optional<std::string> restore_item_refusal(bkp_item item) const {
    if (!checks_restore_items()) return std::nullopt;
    item.struct_size = sizeof item;
    char err[detail::kErrorCapacity] = "";
    if (services_->restore_item_check(host_, &item, err, sizeof err) == BKP_OK) {
      return std::nullopt;
    }
    err[sizeof err - 1] = '\0';
    return std::string(err[0] != '\0' ? err : "refused, without a reason");
  }

  /* printf-style; the line is truncated at 1023 bytes. Never fails. */
#if defined(__GNUC__)
  __attribute__((format(printf, 3, 4)))
#endif
  void
  logf(int32_t level, const char* format, ...) const noexcept {
    char line[1024];
    va_list ap;
    va_start(ap, format);
    std::vsnprintf(line, sizeof line, format, ap);
    va_end(ap);
    log(level, line);
  }

 private:
  const bkp_host_services* services_ = nullptr;
  bkp_host* host_ = nullptr;
};

/* The provider's settings. bkp_open_args.settings is valid during open only:
 * build a Settings inside open and do not keep it. The host has checked keys
 * and types against the plugin's bkp_setting_spec list, so a type error here
 * means the plugin asked for a key with the wrong getter. */
class Settings {
 public:
  Settings(const bkp_host_services* services, const bkp_settings* settings) noexcept
      : services_(services), settings_(settings) {}
  explicit Settings(const bkp_open_args& args) noexcept : Settings(args.services, args.settings) {}

  /* The string setting, or nullopt if absent. Throws Error
   * (BKP_E_INVALID_ARGUMENT) if it is not a string, std::bad_alloc. */
  std::optional<std::string> get_string(const char* key) const {
    char small[256];
    size_t needed = 0;
    bkp_status st = services_->setting_string(settings_, key, small, sizeof small, &needed);
    if (st == BKP_OK) return std::string(small);
    if (st == BKP_E_NOT_FOUND) return std::nullopt;
    if (st == BKP_E_INVALID_ARGUMENT && needed > sizeof small) {
      std::string value(needed, '\0');
      st = services_->setting_string(settings_, key, value.data(), value.size(), &needed);
      if (st == BKP_OK) {
        value.resize(std::strlen(value.c_str()));
        return value;
      }
    }
    throw Error(st, std::string("setting '") + key + "': cannot read it as a string (" +
                        status_name(st) + ")");
  }
  /* The integer setting, or nullopt if absent. Throws Error if it is not an
   * integer. */
  std::optional<int64_t> get_int(const char* key) const {
    int64_t value = 0;
    const bkp_status st = services_->setting_int(settings_, key, &value);
    if (st == BKP_OK) return value;
    if (st == BKP_E_NOT_FOUND) return std::nullopt;
    throw Error(st, std::string("setting '") + key + "': cannot read it as an integer (" +
                        status_name(st) + ")");
  }
  /* The boolean setting, or nullopt if absent. Throws Error if it is not a
   * boolean. */
  std::optional<bool> get_bool(const char* key) const {
    int32_t value = 0;
    const bkp_status st = services_->setting_bool(settings_, key, &value);
    if (st == BKP_OK) return value != 0;
    if (st == BKP_E_NOT_FOUND) return std::nullopt;
    throw Error(st, std::string("setting '") + key + "': cannot read it as a boolean (" +
                        status_name(st) + ")");
  }

 private:
  const bkp_host_services* services_;
  const bkp_settings* settings_;
};

/* The running operation: progress and cancellation. Valid while the
 * operation that handed out `op` runs. */
class Operation {
 public:
  Operation(const bkp_host_services* services, bkp_operation* op) noexcept
      : services_(services), op_(op) {}

  /* Reports progress; struct_size is set here. Never fails. */
  void progress(bkp_progress report) const noexcept {
    report.struct_size = sizeof report;
    services_->op_progress(op_, &report);
  }
  bool cancelled() const noexcept { return services_->op_cancelled(op_) != 0; }
  /* Throws Error(BKP_E_CANCELLED, "<what>: cancelled") once cancel was asked. */
  void throw_if_cancelled(const char* what) const {
    if (cancelled()) throw Error(BKP_E_CANCELLED, std::string(what) + ": cancelled");
  }

 private:
  const bkp_host_services* services_;
  bkp_operation* op_;
};

/* The backup source. Valid during the backup call that handed it out. */
class Source {
 public:
  Source(const bkp_host_services* services, bkp_source* source) noexcept
      : services_(services), source_(source) {}
  Source(const bkp_host_services* services, const bkp_backup_args& args) noexcept
      : Source(services, args.source) {}

  /* Calls fn(const bkp_item&) for each item of `role` (BKP_ROLE_*), in the
   * host's order; the item lives until the operation ends. To stop early,
   * throw: the exception is caught before it reaches the host, the listing
   * stops, and list() rethrows it. Throws Error with the host's message if
   * the host fails (BKP_E_OUT_OF_ORDER for a role listed out of order). */
  template <class Fn>
  void list(uint32_t role, Fn&& fn) const {
    detail::Visit<std::remove_reference_t<Fn>, bkp_item> visit{&fn, nullptr};
    char err[detail::kErrorCapacity] = "";
    const bkp_status st =
        services_->source_list(source_, role, &decltype(visit)::each, &visit, err, sizeof err);
    visit.finish(st, "source_list", err);
  }

  /* Calls fn(const bkp_context_info&) for each context of the control-DB
   * snapshot, in name order; only after the control DB was listed. Stops
   * and throws as list() does. */
  template <class Fn>
  void contexts(Fn&& fn) const {
    detail::Visit<std::remove_reference_t<Fn>, bkp_context_info> visit{&fn, nullptr};
    char err[detail::kErrorCapacity] = "";
    const bkp_status st =
        services_->source_contexts(source_, &decltype(visit)::each, &visit, err, sizeof err);
    visit.finish(st, "source_contexts", err);
  }

  /* Reads up to len bytes of item `id` at `offset` into buf (the caller's);
   * returns the count, fewer only at the item's end. Throws Error with the
   * host's message on failure. */
  size_t read(uint64_t id, uint64_t offset, void* buf, size_t len) const {
    char err[detail::kErrorCapacity] = "";
    size_t got = 0;
    const bkp_status st =
        services_->source_read(source_, id, offset, buf, len, &got, err, sizeof err);
    if (st != BKP_OK) throw detail::host_error(st, "source_read", err);
    return got;
  }

 private:
  const bkp_host_services* services_;
  bkp_source* source_;
};

/* The restore sink. Valid during the restore call that handed it out. Each
 * call throws Error with the host's message on failure (BKP_E_OUT_OF_ORDER
 * for an item out of the restore order; the sink is unusable after that). */
class Sink {
 public:
  Sink(const bkp_host_services* services, bkp_sink* sink) noexcept
      : services_(services), sink_(sink) {}
  Sink(const bkp_host_services* services, const bkp_restore_args& args) noexcept
      : Sink(services, args.sink) {}

  /* Starts an item; item.size is the exact byte count to follow. struct_size
   * is set here. */
  void begin(bkp_item item) const {
    item.struct_size = sizeof item;
    char err[detail::kErrorCapacity] = "";
    const bkp_status st = services_->sink_begin(sink_, &item, err, sizeof err);
    if (st != BKP_OK) throw detail::host_error(st, "sink_begin", err);
  }
  void write(const void* data, size_t len) const {
    char err[detail::kErrorCapacity] = "";
    const bkp_status st = services_->sink_write(sink_, data, len, err, sizeof err);
    if (st != BKP_OK) throw detail::host_error(st, "sink_write", err);
  }
  void end() const {
    char err[detail::kErrorCapacity] = "";
    const bkp_status st = services_->sink_end(sink_, err, sizeof err);
    if (st != BKP_OK) throw detail::host_error(st, "sink_end", err);
  }
  /* sink_timeline (v1.2). False, without a call, when the host's services
   * end before it (a host older than 1.2 keeps no timelines). */
  bool timeline(uint32_t restored, uint32_t newest) const {
    if (services_->struct_size <
            offsetof(bkp_host_services, sink_timeline) + sizeof(services_->sink_timeline) ||
        services_->sink_timeline == nullptr) {
      return false;
    }
    char err[detail::kErrorCapacity] = "";
    const bkp_status st = services_->sink_timeline(sink_, restored, newest, err, sizeof err);
    if (st != BKP_OK) throw detail::host_error(st, "sink_timeline", err);
    return true;
  }

 private:
  const bkp_host_services* services_;
  bkp_sink* sink_;
};

}  // namespace bkp

#endif /* BKP_PLUGIN_HPP */
