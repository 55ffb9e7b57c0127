/*
 * bkp_plugin_c.h - small C99 helpers for writing a backup provider in C
 * against bkp_plugin.h: what every C provider would otherwise write by hand.
 * It adds nothing to the ABI (everything here is static inline, compiled
 * into the plugin) and depends on bkp_plugin.h and the C standard library.
 * Compiles as C99 and as C++.
 *
 *   bkp_write_error      an error message into the caller's (err, err_len)
 *   bkp_negotiate        the entry point's version decision
 *   bkp_copy_versioned   the min-size copy of a struct the peer handed over
 *   BKP_V1_0_SIZE_*      the v1.0 size of every versioned struct: the least
 *                        a same-major peer may hand over
 *   bkp_setting_string_dup  a string setting in one call, malloc'd
 *   bkp_role_at / bkp_role_name / bkp_role_phase
 *   bkp_phase_at / bkp_phase_name  the roles and phases in the ABI's order
 *
 * Thread-safety: every function is reentrant; none keeps state.
 */
#ifndef BKP_PLUGIN_C_H
#define BKP_PLUGIN_C_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bkp_plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define BKP_PRINTF_FORMAT(fmt, first) __attribute__((format(printf, fmt, first)))
#else
#define BKP_PRINTF_FORMAT(fmt, first)
#endif

/* ---- errors ------------------------------------------------------------ */

static inline void bkp_write_error_v(char* err, size_t err_len, const char* format, va_list ap) {
  /* The ABI's rule: nothing is written when err is NULL or err_len is 0;
   * else at most err_len bytes, NUL included, truncating. */
  if (err == NULL || err_len == 0) return;
  if (vsnprintf(err, err_len, format, ap) < 0) err[0] = '\0';
}

static inline void bkp_write_error(char* err, size_t err_len, const char* format, ...)
    BKP_PRINTF_FORMAT(3, 4);

/* Writes a printf-formatted message into the caller's buffer by the ABI's
 * rule (see ERRORS in bkp_plugin.h). Safe with err == NULL or err_len == 0. */
static inline void bkp_write_error(char* err, size_t err_len, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  bkp_write_error_v(err, err_len, format, ap);
  va_end(ap);
}

/* ---- versioned structs ------------------------------------------------- */

/* Where a struct's field ends: offsetof + sizeof. */
#define BKP_FIELD_END(type, field) (offsetof(type, field) + sizeof(((type*)0)->field))

/* The size of each versioned struct as ABI 1.0 defined it (ending at its last
 * v1.0 field). A peer of the same major hands over at least this much, so
 * compare struct_size against these, never against sizeof: sizeof grows with
 * every minor, and a plugin rebuilt against a newer header would then refuse
 * older hosts. */
#define BKP_V1_0_SIZE_ITEM BKP_FIELD_END(bkp_item, next)
#define BKP_V1_0_SIZE_CONTEXT_INFO BKP_FIELD_END(bkp_context_info, commit_index)
#define BKP_V1_0_SIZE_PROGRESS BKP_FIELD_END(bkp_progress, files_total)
#define BKP_V1_0_SIZE_HOST_SERVICES BKP_FIELD_END(bkp_host_services, sink_end)
#define BKP_V1_0_SIZE_SETTING_SPEC BKP_FIELD_END(bkp_setting_spec, description)
#define BKP_V1_0_SIZE_OPEN_ARGS BKP_FIELD_END(bkp_open_args, provider_name)
#define BKP_V1_0_SIZE_BACKUP_ARGS BKP_FIELD_END(bkp_backup_args, source)
#define BKP_V1_0_SIZE_BACKUP_RESULT BKP_FIELD_END(bkp_backup_result, files)
#define BKP_V1_0_SIZE_RESTORE_ARGS BKP_FIELD_END(bkp_restore_args, sink)
#define BKP_V1_0_SIZE_BACKUP_INFO BKP_FIELD_END(bkp_backup_info, details)
#define BKP_V1_0_SIZE_VERIFY_PROBLEM BKP_FIELD_END(bkp_verify_problem, message)
#define BKP_V1_0_SIZE_RETENTION BKP_FIELD_END(bkp_retention, keep_newer_ms)
#define BKP_V1_0_SIZE_PROVIDER BKP_FIELD_END(bkp_provider, expire)
#define BKP_V1_0_SIZE_ENTRY_ARGS BKP_FIELD_END(bkp_entry_args, error_len)

/* Copies the versioned struct `given` (whose first field is uint32_t
 * struct_size) into `out`, an object of out_size bytes: zero-fills out, then
 * copies min(out_size, given->struct_size) bytes, so fields the peer did not
 * send read as zero. Returns 1 when given->struct_size >= min_size (use a
 * BKP_V1_0_SIZE_* constant), else 0 (out is then all zero). A NULL given
 * returns 0. Shallow: pointers in the copy still point into the peer's
 * memory. Use it as
 *   bkp_open_args in;
 *   if (!bkp_copy_versioned(&in, sizeof in, args, BKP_V1_0_SIZE_OPEN_ARGS)) ...
 */
static inline int bkp_copy_versioned(void* out, size_t out_size, const void* given,
                                     size_t min_size) {
  uint32_t given_size;
  memset(out, 0, out_size);
  if (given == NULL) return 0;
  memcpy(&given_size, given, sizeof given_size);
  if (given_size < min_size) return 0;
  memcpy(out, given, given_size < out_size ? given_size : out_size);
  return 1;
}

/* ---- version negotiation ----------------------------------------------- */

/* The entry point's decision: 1 when a plugin built for plugin_version
 * (normally BKP_ABI_VERSION) can serve the host described by args (the same
 * major; the two sides then use the lower minor, which the plugin reads from
 * bkp_host_services.abi_version at open). Else 0, with a reason naming
 * plugin_name written into args->error when the host sent a buffer. args is
 * read defensively: NULL or a struct_size too small for host_abi_version
 * refuses without a reason (there is nowhere to write one). */
static inline int bkp_negotiate(const bkp_entry_args* args, const char* plugin_name,
                                uint32_t plugin_version) {
  bkp_entry_args in;
  if (args == NULL) return 0;
  bkp_copy_versioned(&in, sizeof in, args, 0);
  if (in.struct_size < BKP_FIELD_END(bkp_entry_args, host_abi_version)) return 0;
  if (BKP_VERSION_MAJOR(in.host_abi_version) != BKP_VERSION_MAJOR(plugin_version)) {
    bkp_write_error(in.error, in.error_len,
                    "%s: built for ABI %u.%u, the host speaks %u.%u; the major versions "
                    "differ, rebuild the plugin against the host's bkp_plugin.h",
                    plugin_name != NULL ? plugin_name : "plugin",
                    (unsigned)BKP_VERSION_MAJOR(plugin_version),
                    (unsigned)BKP_VERSION_MINOR(plugin_version),
                    (unsigned)BKP_VERSION_MAJOR(in.host_abi_version),
                    (unsigned)BKP_VERSION_MINOR(in.host_abi_version));
    return 0;
  }
  return 1;
}

/* ---- settings ---------------------------------------------------------- */

/* Reads the string setting `key` in one call: *out receives a malloc'd,
 * NUL-terminated copy the caller frees. Runs the size query idiom of
 * setting_string (a NULL buffer asks for the size; that query returns
 * BKP_E_INVALID_ARGUMENT with *needed set, which is its success) and then
 * the copy. Returns BKP_OK; BKP_E_NOT_FOUND when the setting is absent (no
 * message: an optional setting is simply not set); BKP_E_INVALID_ARGUMENT
 * when it is not a string; BKP_E_INTERNAL when out of memory. On failure
 * *out is NULL and, except for BKP_E_NOT_FOUND, err says why. */
static inline bkp_status bkp_setting_string_dup(const bkp_host_services* services,
                                                const bkp_settings* settings, const char* key,
                                                char** out, char* err, size_t err_len) {
  size_t needed = 0;
  bkp_status st;
  char* copy;
  *out = NULL;
  st = services->setting_string(settings, key, NULL, 0, &needed);
  if (st == BKP_E_NOT_FOUND) return st;
  if (needed == 0) {
    bkp_write_error(err, err_len, "setting '%s' is not a string", key);
    return BKP_E_INVALID_ARGUMENT;
  }
  copy = (char*)malloc(needed);
  if (copy == NULL) {
    bkp_write_error(err, err_len, "out of memory reading setting '%s' (%zu bytes)", key, needed);
    return BKP_E_INTERNAL;
  }
  st = services->setting_string(settings, key, copy, needed, &needed);
  if (st != BKP_OK) {
    free(copy);
    bkp_write_error(err, err_len, "setting '%s' could not be read (status %d)", key, (int)st);
    return st;
  }
  *out = copy;
  return BKP_OK;
}

/* ---- roles and phases, in the ABI's order ------------------------------ */

/* The number of roles; bkp_role_at(0 .. BKP_ROLE_COUNT-1) lists them in the
 * order a backup lists the source and a restore feeds the sink: control DB,
 * log, events, snapshots. */
#define BKP_ROLE_COUNT 4u

/* The i-th role in order, or 0 past the last. */
static inline uint32_t bkp_role_at(size_t i) {
  switch (i) {
    case 0:
      return BKP_ROLE_CONTROL_DB;
    case 1:
      return BKP_ROLE_LOG;
    case 2:
      return BKP_ROLE_EVENTS;
    case 3:
      return BKP_ROLE_SNAPSHOTS;
    default:
      return 0;
  }
}

/* "control DB", "log", "events", "snapshots"; "unknown role" otherwise.
 * Static strings. */
static inline const char* bkp_role_name(uint32_t role) {
  switch (role) {
    case BKP_ROLE_CONTROL_DB:
      return "control DB";
    case BKP_ROLE_LOG:
      return "log";
    case BKP_ROLE_EVENTS:
      return "events";
    case BKP_ROLE_SNAPSHOTS:
      return "snapshots";
    default:
      return "unknown role";
  }
}

/* The number of phases; bkp_phase_at(0 .. BKP_PHASE_COUNT-1) lists them in
 * the order an operation goes through them. Phases are NOT ordered by value:
 * BKP_PHASE_SNAPSHOTS (5) came with snapshots after BKP_PHASE_FINISHING (4)
 * was numbered, and comes before it. */
#define BKP_PHASE_COUNT 5u

/* The i-th phase in order, or 0 past the last. */
static inline uint32_t bkp_phase_at(size_t i) {
  switch (i) {
    case 0:
      return BKP_PHASE_CONTROL_DB;
    case 1:
      return BKP_PHASE_LOG;
    case 2:
      return BKP_PHASE_EVENTS;
    case 3:
      return BKP_PHASE_SNAPSHOTS;
    case 4:
      return BKP_PHASE_FINISHING;
    default:
      return 0;
  }
}

/* "control DB", "log", "events", "snapshots", "finishing"; "unknown phase"
 * otherwise. Static strings. */
static inline const char* bkp_phase_name(uint32_t phase) {
  switch (phase) {
    case BKP_PHASE_CONTROL_DB:
      return "control DB";
    case BKP_PHASE_LOG:
      return "log";
    case BKP_PHASE_EVENTS:
      return "events";
    case BKP_PHASE_SNAPSHOTS:
      return "snapshots";
    case BKP_PHASE_FINISHING:
      return "finishing";
    default:
      return "unknown phase";
  }
}

/* The phase that copies `role`'s items; 0 for an unknown role. */
static inline uint32_t bkp_role_phase(uint32_t role) {
  switch (role) {
    case BKP_ROLE_CONTROL_DB:
      return BKP_PHASE_CONTROL_DB;
    case BKP_ROLE_LOG:
      return BKP_PHASE_LOG;
    case BKP_ROLE_EVENTS:
      return BKP_PHASE_EVENTS;
    case BKP_ROLE_SNAPSHOTS:
      return BKP_PHASE_SNAPSHOTS;
    default:
      return 0;
  }
}

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BKP_PLUGIN_C_H */
