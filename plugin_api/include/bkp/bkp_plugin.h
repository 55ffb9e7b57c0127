/*
 * bkp_plugin.h - the C ABI between an event-store host and a backup provider.
 *
 * INTRODUCTION
 *
 * A backup provider is a shared library that exports exactly one symbol,
 * bkp_plugin_entry (BKP_PLUGIN_ENTRY_NAME). The host calls it once after
 * loading the library, stating the newest ABI version it speaks; the plugin
 * answers with a pointer to its static, constant provider table, or NULL and
 * a reason. From then on everything crosses as plain C through two tables of
 * function pointers:
 *
 *   bkp_provider       the plugin's: identity, capabilities, settings it
 *                      accepts, open/close of an instance, and the backup
 *                      operations (backup, restore, list, verify, remove,
 *                      expire);
 *   bkp_host_services  the host's: logging, progress and cancellation, the
 *                      provider's settings, the BACKUP SOURCE (a consistent
 *                      control-DB snapshot, the log and event segments, and
 *                      reading them) and the RESTORE SINK (which takes the
 *                      control DB, then the log, then the events, then the
 *                      snapshots, and refuses anything out of that order).
 *
 * This header is C99 and compiles as C and as C++. It depends on nothing but
 * <stddef.h>, <stdint.h> and <string.h> (for BKP_INIT).
 *
 * VERSIONING RULES
 *
 *  - A version is (major << 16) | minor. A new major breaks compatibility; a
 *    new minor only APPENDS fields to the end of structs and tables.
 *  - Every struct that crosses starts with uint32_t struct_size, set by its
 *    creator to sizeof the struct it was compiled with. A reader copies
 *    min(its size, struct_size) bytes into a zeroed struct of its own, so a
 *    field the other side does not know reads as zero/NULL. Each field is
 *    marked with the version that brought it.
 *  - Fields named reserved* must be zero. BKP_INIT(&s) zero-fills a struct
 *    and sets its struct_size; use it for every struct you hand across.
 *  - Arrays of structs carry their element size beside the count (e.g.
 *    bkp_provider.setting_spec_size), so their elements can grow too.
 *  - Optional operations are announced by capability bits (BKP_CAP_*), never
 *    guessed from version numbers. A capability bit promises its callback is
 *    non-NULL; the host refuses a plugin that breaks that promise.
 *  - Integers are fixed-width; enumerations cross as uint32_t/int32_t values
 *    of the #defines below, never as C enums.
 *
 * ERRORS
 *
 *  Every fallible call returns a bkp_status (BKP_OK or a BKP_E_* code) and,
 *  on failure, writes a human-readable, NUL-terminated message into a buffer
 *  the CALLER owns: (char *err, size_t err_len). The callee writes at most
 *  err_len bytes including the NUL (truncating if needed) and never writes
 *  when err is NULL or err_len is 0. Messages name the thing at fault (file,
 *  backup id, setting) and what to do. No call may abort the process, throw a
 *  C++ exception across the boundary, or longjmp out of it.
 *
 * THE RULES IN ONE PLACE (docs/writing-a-provider.md says the same)
 *
 *  - Role order: CONTROL_DB, LOG, EVENTS, SNAPSHOTS, for the source's
 *    listings (each role at most once) and for the sink (one control DB
 *    first; within a context's stream, ascending base). Anything else is
 *    BKP_E_OUT_OF_ORDER and leaves the sink unusable.
 *  - Names: a context name is 1-64 characters from A-Z a-z 0-9 _ - . and
 *    does not start with '.'. A log/events/snapshots item is named
 *    "<base as 20 decimal digits>.<log|events|snapshots>", e.g.
 *    "00000000000000000001.log"; the control DB item names no context (its
 *    name is not checked). A backup id (bkp_backup_result.backup_id) is
 *    1-63 bytes and a NUL; the host checks only that, and passes it back
 *    verbatim, so keep to characters that survive a command line, a URL
 *    and a file name: A-Z a-z 0-9 _ - . : (bkp-provider-check notes others).
 *  - The sink checks role, context, name (against base) and base (its
 *    order), and at sink_end that exactly `size` bytes were written; it
 *    ignores id, path, flags and next. restore_item_check (v1.2) applies
 *    the same item rules without writing.
 *  - source_list: when the plugin's callback returns non-BKP_OK, listing
 *    stops and source_list returns that status unchanged, writing a message
 *    into err ("the provider stopped the listing of ..."); a plugin that
 *    wants its own reason keeps it elsewhere (the callback cannot write err).
 *  - The host reports an order violation as status class "Invalid argument"
 *    (a plugin used the ABI wrongly) with the ABI code at the end:
 *    "Invalid argument: <what> [BKP_E_OUT_OF_ORDER]". The code, not the
 *    prefix, says which rule broke.
 *  - Phases are not ordered by value: an operation goes CONTROL_DB, LOG,
 *    EVENTS, SNAPSHOTS, FINISHING, but SNAPSHOTS (5) was numbered after
 *    FINISHING (4). Compare phases by identity, never by < or >.
 *  - The setting-size query: setting_string(settings, key, NULL, 0, &needed)
 *    sets needed = strlen + 1 and returns BKP_E_INVALID_ARGUMENT. That is
 *    the intended idiom, not a failure: read `needed`, allocate, call again.
 *    (bkp_setting_string_dup in bkp_plugin_c.h does both.)
 *
 * OWNERSHIP AND LIFETIME
 *
 *  Whoever creates a thing destroys it: the plugin's instance is created by
 *  open and destroyed by close; source, sink, operation and settings handles
 *  belong to the host. Strings and structs passed INTO a call are borrowed
 *  for the duration of that call unless a comment says otherwise: copy what
 *  you keep. Strings in the provider table and in bkp_setting_spec are
 *  static in the plugin and must stay valid while the library is loaded.
 *
 * THREADING
 *
 *  The host calls one instance's operations one at a time (it runs one backup
 *  operation per host at a time); open/close are never concurrent with an
 *  operation on the same instance. The one exception (v1.1) is continuous
 *  archiving: archive and archive_status run on the host's archiver thread,
 *  one call at a time, possibly while another operation (a backup, a verify,
 *  an expire) runs on the same instance; a provider that announces
 *  BKP_CAP_ARCHIVE makes that safe. Host services may be called from any
 *  thread the plugin creates, but only while the operation that handed out
 *  the handle is running.
 *
 * THE READ PATH (why source_read takes the plugin's buffer)
 *
 *  source_read reads straight from the segment file into a buffer the plugin
 *  supplies: one copy, kernel to plugin, exactly what reading the file itself
 *  would cost, and it works for a host that does not store segments as files.
 *  For plugins that prefer their own I/O (mmap, io_uring, sendfile), each item
 *  also carries the path of the file, which the host keeps from being deleted
 *  or rewritten for the duration of the operation; only its first `size`
 *  bytes belong to the backup.
 */
#ifndef BKP_PLUGIN_H
#define BKP_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Versions                                                                 */
/* ------------------------------------------------------------------------ */

#define BKP_MAKE_VERSION(major, minor) ((((uint32_t)(major)) << 16) | ((uint32_t)(minor)))
#define BKP_VERSION_MAJOR(v) ((uint32_t)(v) >> 16)
#define BKP_VERSION_MINOR(v) ((uint32_t)(v)&0xffffu)

#define BKP_ABI_VERSION_MAJOR 1
#define BKP_ABI_VERSION_MINOR 2
/* The version this header describes. */
#define BKP_ABI_VERSION BKP_MAKE_VERSION(BKP_ABI_VERSION_MAJOR, BKP_ABI_VERSION_MINOR)

/* Zero-fills the struct `ptr` points to and sets its struct_size. */
#define BKP_INIT(ptr) \
  (memset((ptr), 0, sizeof(*(ptr))), (ptr)->struct_size = (uint32_t)sizeof(*(ptr)))

/* ------------------------------------------------------------------------ */
/* Status codes                                                             */
/* ------------------------------------------------------------------------ */

typedef int32_t bkp_status;

#define BKP_OK 0
#define BKP_E_BUSY 1                /* another operation is running */
#define BKP_E_MISSING_FULL_BACKUP 2 /* an incremental needs a full base */
#define BKP_E_BROKEN_CHAIN 3        /* a link of a backup chain is missing/bad */
#define BKP_E_CORRUPT 4             /* stored data fails its checksum or format */
#define BKP_E_REFUSED_BY_POLICY 5   /* e.g. restore onto a non-empty target */
#define BKP_E_CANCELLED 6           /* the operation was cancelled */
#define BKP_E_IO 7                  /* an I/O error (disk, network) */
#define BKP_E_AUTH 8                /* credentials refused */
#define BKP_E_NOT_FOUND 9           /* no such backup, file, bucket, ... */
#define BKP_E_INVALID_ARGUMENT 10   /* bad argument or setting */
#define BKP_E_UNSUPPORTED 11        /* not supported by this side/version */
#define BKP_E_OUT_OF_ORDER 12       /* restore sink/source used out of order */
#define BKP_E_NO_SPACE 13           /* the target is full */
#define BKP_E_UNREACHABLE 14        /* a remote endpoint cannot be reached */
#define BKP_E_INTERNAL 15           /* a bug; the message says where */

/* ------------------------------------------------------------------------ */
/* Opaque handles                                                           */
/* ------------------------------------------------------------------------ */

typedef struct bkp_instance bkp_instance;   /* plugin-owned: open .. close */
typedef struct bkp_host bkp_host;           /* host-owned: valid open .. close */
typedef struct bkp_settings bkp_settings;   /* host-owned: valid during open */
typedef struct bkp_operation bkp_operation; /* host-owned: valid during one op */
typedef struct bkp_source bkp_source;       /* host-owned: valid during backup */
typedef struct bkp_sink bkp_sink;           /* host-owned: valid during restore */

/* ------------------------------------------------------------------------ */
/* Items: what a backup is made of                                          */
/* ------------------------------------------------------------------------ */

/* Roles, in the order a backup reads them and a restore writes them. */
#define BKP_ROLE_CONTROL_DB 1u
#define BKP_ROLE_LOG 2u
#define BKP_ROLE_EVENTS 3u
#define BKP_ROLE_SNAPSHOTS 4u

/* bkp_item.flags */
#define BKP_ITEM_CLOSED 0x1u /* an immutable closed segment */
/* v1.1, archive only: the first `size` bytes of a segment still being
 * appended to, shipped so the recovery point stays bounded on a quiet host.
 * A later piece of the same segment (or the closed segment) extends it. */
#define BKP_ITEM_PARTIAL 0x2u

/* One file of the host's state. Produced by the host's source (backup) and
 * by the plugin for the sink (restore). */
typedef struct bkp_item {
  uint32_t struct_size; /* v1.0 */
  uint32_t role;        /* v1.0: BKP_ROLE_* */
  const char* context;  /* v1.0: context name; NULL for the control DB */
  const char* name;     /* v1.0: file name, e.g. "00000000000000000001.log" */
  uint64_t size;        /* v1.0: bytes that belong to the backup */
  uint64_t base;        /* v1.0: first index/token held (0 for the control DB) */
  uint64_t id;          /* v1.0: source only: the handle for source_read */
  const char* path;     /* v1.0: source only: pinned file, read its first `size` bytes */
  uint32_t flags;       /* v1.0: BKP_ITEM_* */
  uint32_t reserved0;   /* v1.0: zero */
  uint64_t next;        /* v1.0: one past the last index/token held (== base when
                           empty; 0 for the control DB) */
} bkp_item;

/* A context as the control-DB snapshot of a backup records it. */
typedef struct bkp_context_info {
  uint32_t struct_size;  /* v1.0 */
  uint32_t reserved0;    /* v1.0: zero */
  const char* name;      /* v1.0 */
  uint64_t term;         /* v1.0: replication term in the snapshot */
  uint64_t commit_index; /* v1.0: commit index in the snapshot */
} bkp_context_info;

/* Called once per context by source_contexts; like bkp_item_fn. */
typedef bkp_status (*bkp_context_fn)(void* user, const bkp_context_info* context);

/* Called once per item by source_list; return BKP_OK to continue, anything
 * else stops the listing and is returned by source_list. `item` and its
 * strings are valid until the operation ends. */
typedef bkp_status (*bkp_item_fn)(void* user, const bkp_item* item);

/* ------------------------------------------------------------------------ */
/* Progress                                                                 */
/* ------------------------------------------------------------------------ */

/* Phases, in the order an operation goes through them: CONTROL_DB, LOG,
 * EVENTS, SNAPSHOTS, FINISHING. Not ordered by value (SNAPSHOTS came later). */

#define BKP_PHASE_CONTROL_DB 1u
#define BKP_PHASE_LOG 2u
#define BKP_PHASE_EVENTS 3u
#define BKP_PHASE_FINISHING 4u
#define BKP_PHASE_SNAPSHOTS 5u

typedef struct bkp_progress {
  uint32_t struct_size; /* v1.0 */
  uint32_t phase;       /* v1.0: BKP_PHASE_* */
  uint64_t bytes_done;  /* v1.0 */
  uint64_t bytes_total; /* v1.0: 0 if unknown */
  uint64_t files_done;  /* v1.0 */
  uint64_t files_total; /* v1.0: 0 if unknown */
} bkp_progress;

/* Log levels for host_services.log */
#define BKP_LOG_DEBUG 0
#define BKP_LOG_INFO 1
#define BKP_LOG_WARN 2
#define BKP_LOG_ERROR 3

/* ------------------------------------------------------------------------ */
/* Host services: what the host offers a plugin                             */
/* ------------------------------------------------------------------------ */

typedef struct bkp_host_services {
  uint32_t struct_size; /* v1.0 */
  /* v1.0: the newest version the host speaks. The version in force between
   * host and plugin is the lower of this and the plugin's own (same major);
   * a plugin calls a newer entry only if struct_size shows it is there. */
  uint32_t abi_version;

  /* v1.0. Logs one line, attributed to the provider. Never fails. */
  void (*log)(bkp_host* host, int32_t level, const char* message);

  /* --- Settings: the provider's table of the host config, already checked
   * against the plugin's bkp_setting_spec list (unknown keys and wrong types
   * never reach the plugin). Valid only during open. --- */

  /* v1.0. Copies the string setting `key` into buf (NUL-terminated).
   * *needed (if not NULL) receives strlen+1 when the setting is a string,
   * else 0. Returns BKP_E_NOT_FOUND if the key is absent, and
   * BKP_E_INVALID_ARGUMENT if the setting is not a string or buf is NULL or
   * shorter than *needed (buf untouched): (NULL, 0) asks for the size, and
   * its BKP_E_INVALID_ARGUMENT with *needed > 0 is that query's success. */
  bkp_status (*setting_string)(const bkp_settings* settings, const char* key, char* buf, size_t len,
                               size_t* needed);
  /* v1.0. Integer setting. BKP_E_NOT_FOUND if absent. */
  bkp_status (*setting_int)(const bkp_settings* settings, const char* key, int64_t* out);
  /* v1.0. Boolean setting (0 or 1). BKP_E_NOT_FOUND if absent. */
  bkp_status (*setting_bool)(const bkp_settings* settings, const char* key, int32_t* out);

  /* --- Operation: progress and cancellation of the running operation. --- */

  /* v1.0. Reports progress; the host copies what it needs. Never fails. */
  void (*op_progress)(bkp_operation* op, const bkp_progress* progress);
  /* v1.0. Non-zero once the operator asked to cancel. A plugin checks it
   * between files and at least every few MiB, then cleans up and returns
   * BKP_E_CANCELLED. */
  int32_t (*op_cancelled)(bkp_operation* op);

  /* --- Backup source. The host enforces the backup order: roles must be
   * listed CONTROL_DB, LOG, EVENTS, SNAPSHOTS, each at most once and in that
   * order; a role listed out of order fails with BKP_E_OUT_OF_ORDER. Each
   * listing captures the state at that moment: listing the control DB takes
   * its consistent snapshot (SQLite online backup); listing LOG after it can
   * only see entries at or beyond the snapshot's commit index, never fewer.
   * Log compaction is pinned while the source lives. --- */

  /* v1.0. Calls fn for each item of `role`, oldest first (contexts in name
   * order; within a context's stream, ascending base). When fn returns
   * non-BKP_OK, stops and returns that status, with the host's message in
   * err. */
  bkp_status (*source_list)(bkp_source* source, uint32_t role, bkp_item_fn fn, void* user,
                            char* err, size_t err_len);
  /* v1.0. Calls fn for each context of the control-DB snapshot, in name
   * order. Only after the control DB was listed (else BKP_E_OUT_OF_ORDER). */
  bkp_status (*source_contexts)(bkp_source* source, bkp_context_fn fn, void* user, char* err,
                                size_t err_len);
  /* v1.0. Reads up to len bytes of item `id` at offset into buf (owned by
   * the plugin): fewer only at the item's end, 0 past it. *got receives the
   * count. Never reads past the item's listed size. BKP_E_NOT_FOUND for an
   * unknown id. Safe to call from several plugin threads at once, and from
   * inside a source_list callback. */
  bkp_status (*source_read)(bkp_source* source, uint64_t id, uint64_t offset, void* buf, size_t len,
                            size_t* got, char* err, size_t err_len);

  /* --- Restore sink. The host enforces the restore order: one CONTROL_DB
   * item first, then LOG items, then EVENTS, then SNAPSHOTS; within a
   * context's stream, items in ascending base. Anything else fails with
   * BKP_E_OUT_OF_ORDER and leaves the sink unusable. One item is open at a
   * time. The host writes into a staging directory and only makes it the
   * data directory when the plugin's restore returns BKP_OK and the restored
   * state passes the consistency check. --- */

  /* v1.0. Starts an item. `item->size` is the exact byte count that will be
   * written (checked at sink_end). Fields id and path are ignored. */
  bkp_status (*sink_begin)(bkp_sink* sink, const bkp_item* item, char* err, size_t err_len);
  /* v1.0. Appends bytes to the open item. */
  bkp_status (*sink_write)(bkp_sink* sink, const void* data, size_t len, char* err, size_t err_len);
  /* v1.0. Ends the open item; fails if fewer or more bytes than announced
   * were written. */
  bkp_status (*sink_end)(bkp_sink* sink, char* err, size_t err_len);

  /* --- Checks. --- */

  /* v1.2. Whether the restore sink would take `item` on its own, writing
   * nothing: its role, its context's name, and its file name for its base
   * as this host names its files (the host's rules, which a plugin cannot
   * know). The order of items and their sizes are the rules above, the
   * plugin's to keep. BKP_OK, or BKP_E_INVALID_ARGUMENT with the message
   * sink_begin would give. For verify: a backup whose items all pass, in
   * order and whole, is one the sink takes. Any thread, any time between
   * open and close. A 1.0 or 1.1 host's table ends before it. */
  bkp_status (*restore_item_check)(bkp_host* host, const bkp_item* item, char* err, size_t err_len);

  /* v1.2. TIMELINES (PostgreSQL's): a restore from a repository whose
   * continuous archive holds anything starts a new history, so that the
   * restored host's archive goes on beside the one it was restored from
   * instead of colliding with it. A provider with BKP_CAP_ARCHIVE calls this
   * once during such a restore, before it returns: `restored` is the
   * timeline the data it feeds comes from, `newest` the highest timeline
   * its archive knows (1 when it has none but the first). The host then puts
   * the restored directory on timeline newest + 1, branching from
   * `restored`. Not calling it keeps the timeline the restored control DB
   * records. BKP_E_INVALID_ARGUMENT for 0 or restored > newest. */
  bkp_status (*sink_timeline)(bkp_sink* sink, uint32_t restored, uint32_t newest, char* err,
                              size_t err_len);
} bkp_host_services;

/* ------------------------------------------------------------------------ */
/* Settings a provider accepts                                              */
/* ------------------------------------------------------------------------ */

#define BKP_SETTING_STRING 1u
#define BKP_SETTING_INT 2u
#define BKP_SETTING_BOOL 3u

/* bkp_setting_spec.flags */
#define BKP_SETTING_REQUIRED 0x1u
#define BKP_SETTING_SECRET 0x2u /* never echoed in logs or errors */

typedef struct bkp_setting_spec {
  const char* key;         /* v1.0: as written in the host config */
  uint32_t type;           /* v1.0: BKP_SETTING_* */
  uint32_t flags;          /* v1.0: BKP_SETTING_* flags */
  const char* description; /* v1.0: one line, for `hostd plugins` */
} bkp_setting_spec;

/* ------------------------------------------------------------------------ */
/* Operations                                                               */
/* ------------------------------------------------------------------------ */

typedef struct bkp_open_args {
  uint32_t struct_size;              /* v1.0 */
  uint32_t reserved0;                /* v1.0: zero */
  const bkp_host_services* services; /* v1.0: valid until close */
  bkp_host* host;                    /* v1.0: valid until close */
  const bkp_settings* settings;      /* v1.0: valid during open only */
  const char* provider_name;         /* v1.0: the name in the host config */
} bkp_open_args;

#define BKP_BACKUP_FULL 1u
#define BKP_BACKUP_INCREMENTAL 2u

typedef struct bkp_backup_args {
  uint32_t struct_size; /* v1.0 */
  uint32_t type;        /* v1.0: BKP_BACKUP_* */
  bkp_operation* op;    /* v1.0 */
  bkp_source* source;   /* v1.0 */
  uint32_t timeline;    /* v1.2: the host's timeline (see sink_timeline); 0 reads as 1 */
  uint32_t reserved0;   /* v1.2: zero */
} bkp_backup_args;

/* Filled by the plugin's backup. The host zero-fills it and sets
 * struct_size before the call. */
typedef struct bkp_backup_result {
  uint32_t struct_size;  /* v1.0 */
  uint32_t reserved0;    /* v1.0: zero */
  char backup_id[64];    /* v1.0: NUL-terminated id of the new backup */
  uint64_t bytes_read;   /* v1.0: bytes read from the source */
  uint64_t bytes_stored; /* v1.0: bytes newly written to the repository */
  uint64_t files;        /* v1.0: items in the backup */
} bkp_backup_result;

/* bkp_restore_args.target (v1.1): a point in time to restore to. */
#define BKP_TARGET_NONE 0u  /* the backup as it is */
#define BKP_TARGET_TOKEN 1u /* events up to target_token (inclusive) */
#define BKP_TARGET_TIME 2u  /* events appended at or before target_time_ms */

typedef struct bkp_restore_args {
  uint32_t struct_size;  /* v1.0 */
  uint32_t reserved0;    /* v1.0: zero */
  const char* backup_id; /* v1.0; v1.1: may be NULL when a target is set and the
                            provider has BKP_CAP_POINT_IN_TIME: it then picks the
                            backup (and archived segments) that reach the target */
  bkp_operation* op;     /* v1.0 */
  bkp_sink* sink;        /* v1.0 */
  /* v1.1: BKP_TARGET_*. The HOST cuts what the sink received at the target
   * (whole appends only, the log at the matching index); a provider with
   * BKP_CAP_POINT_IN_TIME uses it to choose what to feed, and needs to feed
   * nothing past the first segment that reaches beyond it. */
  uint32_t target;
  /* v1.2 (reserved, zero, in 1.1): the timeline to restore along; 0: the
   * newest (the highest number, with the history it branched from). */
  uint32_t timeline;
  uint64_t target_token;      /* v1.1: BKP_TARGET_TOKEN */
  int64_t target_time_ms;     /* v1.1: BKP_TARGET_TIME, ms since the Unix epoch */
  const char* target_context; /* v1.1: BKP_TARGET_TOKEN: the context the token
                                 counts in; NULL: every context */
} bkp_restore_args;

/* v1.1. One segment (or piece of one) for the archive: see bkp_provider.archive. */
typedef struct bkp_archive_args {
  uint32_t struct_size; /* v1.1 */
  /* v1.2 (reserved, zero, in 1.1): the host's timeline; 0 reads as 1. A
   * host on a timeline above 1 archives only through a 1.2 provider. */
  uint32_t timeline;
  /* v1.1: the segment: role (LOG, EVENTS or SNAPSHOTS), context, name, base,
   * next, flags (BKP_ITEM_CLOSED, or BKP_ITEM_PARTIAL for a piece of the
   * active segment) and size: archive its bytes [0, size). id and path are
   * for source_read and the plugin's own reads, as in a backup. Valid during
   * the call. */
  const bkp_item* item;
  bkp_source* source; /* v1.1: source_read only (source_list refuses) */
  bkp_operation* op;  /* v1.1: op_cancelled turns true when the host stops */
  /* v1.1: the host's clock when it saw the segment close or took the piece:
   * every event in these bytes was appended at or before it. */
  int64_t observed_ms;
  /* v1.1: when the segment's first record was appended (event and snapshot
   * segments; 0 for log segments or when unknown): no event in it is older.
   * With observed_ms it lets a restore to a time pick segments by time. */
  int64_t first_ms;
  /* v1.2: with timeline above 1, the timeline's history as the host
   * recorded it when it was restored (a JSON object: timeline, parent,
   * created_ms, reason, and per context the log index, event token and
   * snapshot token the new timeline starts at); the provider stores it once
   * beside the archive. NULL on timeline 1. */
  const char* timeline_history;
} bkp_archive_args;

/* v1.1. How far the archive reaches in one stream (archive_status). */
typedef struct bkp_archive_position {
  uint32_t struct_size; /* v1.1 */
  uint32_t role;        /* v1.1: BKP_ROLE_LOG, _EVENTS or _SNAPSHOTS */
  const char* context;  /* v1.1 */
  /* v1.1: base of the newest CLOSED segment archived; the host sends closed
   * segments with a greater base next, in order. Meaningful only when
   * has_closed is non-zero. */
  uint64_t closed_base;
  uint32_t has_closed;      /* v1.1: 0 when no closed segment is archived yet */
  uint32_t timeline;        /* v1.2 (reserved, zero, in 1.1): the stream's
                               timeline; 0 reads as 1. archive_status reports
                               the streams of every timeline. */
  const char* partial_name; /* v1.1: the active segment a piece was archived of,
                               or NULL */
  uint64_t partial_size;    /* v1.1: bytes of it the archive holds */
  uint64_t next;            /* v1.1: one past the last index/token archived */
  int64_t archived_ms;      /* v1.1: observed_ms of the newest data archived */
} bkp_archive_position;

/* Called once per stream the archive holds; like bkp_item_fn. The struct
 * and its strings are valid during the callback only. */
typedef bkp_status (*bkp_archive_position_fn)(void* user, const bkp_archive_position* position);

/* What list reports per backup. Valid only during the callback. */
typedef struct bkp_backup_info {
  uint32_t struct_size;  /* v1.0 */
  uint32_t type;         /* v1.0: BKP_BACKUP_* */
  const char* id;        /* v1.0 */
  const char* parent_id; /* v1.0: NULL for a full backup */
  int64_t created_ms;    /* v1.0: ms since the Unix epoch */
  uint64_t bytes;        /* v1.0: original size of its items */
  uint64_t stored_bytes; /* v1.0: bytes it alone occupies in the repository */
  uint64_t files;        /* v1.0 */
  const char* details;   /* v1.0: JSON object with per-context commit index and
                            token ranges; may be NULL */
} bkp_backup_info;

typedef bkp_status (*bkp_backup_info_fn)(void* user, const bkp_backup_info* info);

/* One problem found by verify. Valid only during the callback. */
typedef struct bkp_verify_problem {
  uint32_t struct_size;  /* v1.0 */
  bkp_status status;     /* v1.0: BKP_E_CORRUPT, BKP_E_NOT_FOUND, ... */
  const char* backup_id; /* v1.0 */
  const char* file;      /* v1.0: the stored file, as named in the repository */
  const char* message;   /* v1.0: what is wrong */
} bkp_verify_problem;

/* Return BKP_OK to continue verifying; anything else stops the verify,
 * which then returns that status. */
typedef bkp_status (*bkp_verify_problem_fn)(void* user, const bkp_verify_problem* problem);

typedef struct bkp_retention {
  uint32_t struct_size;  /* v1.0 */
  uint32_t keep_last;    /* v1.0: keep the newest N backups; 0 = no limit */
  int64_t keep_newer_ms; /* v1.0: keep backups newer than this (epoch ms); 0 = no limit */
} bkp_retention;

/* Capability bits: each promises the matching callback. */
#define BKP_CAP_BACKUP (1ull << 0)
#define BKP_CAP_RESTORE (1ull << 1)
#define BKP_CAP_LIST (1ull << 2)
#define BKP_CAP_VERIFY (1ull << 3)
#define BKP_CAP_REMOVE (1ull << 4)
#define BKP_CAP_EXPIRE (1ull << 5)
/* backup accepts BKP_BACKUP_INCREMENTAL; needs BKP_CAP_BACKUP */
#define BKP_CAP_INCREMENTAL (1ull << 6)
/* v1.1: archive and archive_status (continuous archiving of segments) */
#define BKP_CAP_ARCHIVE (1ull << 7)
/* v1.1: restore honours bkp_restore_args.target and accepts a NULL
 * backup_id with a target; needs BKP_CAP_RESTORE */
#define BKP_CAP_POINT_IN_TIME (1ull << 8)
/* v1.2: locks (list the repository's locks, remove stale ones) */
#define BKP_CAP_LOCKS (1ull << 9)

/* v1.2. One lock on a provider's repository, as bkp_provider.locks reports
 * it: an operation (of this or another process, on this or another host)
 * working on the repository. Valid only during the callback. */
typedef struct bkp_lock_info {
  uint32_t struct_size;  /* v1.2 */
  uint32_t exclusive;    /* v1.2: 1 for an exclusive lock (delete, expire,
                            garbage collection), 0 for a shared one */
  const char* id;        /* v1.2: the lock's name in the repository */
  const char* operation; /* v1.2: "backup", "verify", "delete", ...; NULL when
                            the lock cannot be read */
  const char* host;      /* v1.2: the holder's hostname; may be NULL */
  int64_t pid;           /* v1.2: the holder's process id; 0 if unknown */
  int64_t since_ms;      /* v1.2: taken at, ms since the Unix epoch */
  int64_t refreshed_ms;  /* v1.2: last rewritten at, ms since the Unix epoch */
  const char* stale;     /* v1.2: why the lock is stale (its holder is gone, or
                            it was not refreshed in time), or NULL if live */
  uint32_t removed;      /* v1.2: 1 when this call removed it */
  uint32_t reserved0;    /* v1.2: zero */
} bkp_lock_info;

/* v1.2. Called once per lock by bkp_provider.locks; return BKP_OK to go on,
 * anything else stops the call, which returns it. */
typedef bkp_status (*bkp_lock_info_fn)(void* user, const bkp_lock_info* lock);

/* v1.2: bkp_provider.locks flags */
#define BKP_LOCKS_REMOVE_STALE 0x1u /* remove every stale lock it reports */

/* ------------------------------------------------------------------------ */
/* The provider table                                                       */
/* ------------------------------------------------------------------------ */

typedef struct bkp_provider {
  uint32_t struct_size;             /* v1.0 */
  uint32_t abi_version;             /* v1.0: BKP_ABI_VERSION the plugin was built with */
  const char* name;                 /* v1.0: e.g. "local_disk" */
  const char* version;              /* v1.0: the provider's own version, e.g. "1.2.0" */
  const char* description;          /* v1.0: one line */
  uint64_t capabilities;            /* v1.0: BKP_CAP_* */
  const bkp_setting_spec* settings; /* v1.0: the settings it accepts */
  uint32_t settings_count;          /* v1.0 */
  uint32_t setting_spec_size;       /* v1.0: sizeof(bkp_setting_spec) as the plugin was
                                       built; the stride of `settings` */

  /* v1.0, required. Creates an instance from the provider's settings. On
   * success *out is non-NULL; on failure returns a code, writes why into
   * err, and leaves *out NULL. */
  bkp_status (*open)(const bkp_open_args* args, bkp_instance** out, char* err, size_t err_len);
  /* v1.0, required. Destroys an instance; NULL is a no-op. */
  void (*close)(bkp_instance* instance);

  /* v1.0, BKP_CAP_BACKUP. Reads the source in order and stores a backup.
   * On failure nothing that looks like a backup may remain. */
  bkp_status (*backup)(bkp_instance* instance, const bkp_backup_args* args,
                       bkp_backup_result* result, char* err, size_t err_len);
  /* v1.0, BKP_CAP_RESTORE. Feeds a backup to the sink in order. */
  bkp_status (*restore)(bkp_instance* instance, const bkp_restore_args* args, char* err,
                        size_t err_len);
  /* v1.0, BKP_CAP_LIST. Calls fn per complete backup, oldest first. */
  bkp_status (*list)(bkp_instance* instance, bkp_backup_info_fn fn, void* user, char* err,
                     size_t err_len);
  /* v1.0, BKP_CAP_VERIFY. Re-reads and re-checksums one backup (or all when
   * backup_id is NULL), calling fn per problem; BKP_E_CORRUPT if any. */
  bkp_status (*verify)(bkp_instance* instance, const char* backup_id, bkp_operation* op,
                       bkp_verify_problem_fn fn, void* user, char* err, size_t err_len);
  /* v1.0, BKP_CAP_REMOVE. Deletes one backup and the data only it used. */
  bkp_status (*remove)(bkp_instance* instance, const char* backup_id, char* err, size_t err_len);
  /* v1.0, BKP_CAP_EXPIRE. Applies a retention policy; calls fn per backup
   * removed (fn may be NULL). */
  bkp_status (*expire)(bkp_instance* instance, const bkp_retention* retention,
                       bkp_backup_info_fn fn, void* user, char* err, size_t err_len);

  /* v1.1, BKP_CAP_ARCHIVE. Stores one closed segment, or a piece of the
   * active one, in the archive, off the host's write path (see THREADING).
   * The host sends each stream's closed segments in ascending base, each
   * once it closed, and pieces of the active segment as its archive_timeout
   * passes; the same segment may come again after a restart, so a call for
   * something already archived succeeds without storing it twice. Retention
   * (expire) may drop archived segments older than the oldest backup kept. */
  bkp_status (*archive)(bkp_instance* instance, const bkp_archive_args* args, char* err,
                        size_t err_len);
  /* v1.1, BKP_CAP_ARCHIVE. Calls fn for each stream the archive holds, so a
   * host that starts (or restarts after a crash) resumes without a gap or a
   * duplicate. */
  bkp_status (*archive_status)(bkp_instance* instance, bkp_archive_position_fn fn, void* user,
                               char* err, size_t err_len);

  /* v1.2, BKP_CAP_LOCKS. Calls fn for each lock on the repository, live or
   * stale; with BKP_LOCKS_REMOVE_STALE also removes each stale one (its
   * removed field then reads 1) and never a live one. The operator's way out
   * after a crash left a lock behind, which blocks the operations it
   * conflicts with until removed. Safe beside operations of other processes;
   * on the same instance, one call at a time like the others. */
  bkp_status (*locks)(bkp_instance* instance, uint32_t flags, bkp_lock_info_fn fn, void* user,
                      char* err, size_t err_len);
} bkp_provider;

/* ------------------------------------------------------------------------ */
/* The entry point                                                          */
/* ------------------------------------------------------------------------ */

typedef struct bkp_entry_args {
  uint32_t struct_size;      /* v1.0 */
  uint32_t host_abi_version; /* v1.0: the newest version the host speaks */
  char* error;               /* v1.0: caller-owned buffer for a refusal reason */
  size_t error_len;          /* v1.0 */
} bkp_entry_args;

#define BKP_PLUGIN_ENTRY_NAME "bkp_plugin_entry"

#if defined(_WIN32)
#define BKP_PLUGIN_EXPORT __declspec(dllexport)
#else
#define BKP_PLUGIN_EXPORT __attribute__((visibility("default")))
#endif

/* The one symbol a plugin exports. Returns the plugin's static provider
 * table if it can serve a host speaking host_abi_version (same major; the
 * two sides then use the lower minor), else NULL with the reason written to
 * args->error. Must be cheap and side-effect free; may be called more than
 * once. */
typedef const bkp_provider* (*bkp_plugin_entry_fn)(const bkp_entry_args* args);

/* Declared here so the compiler checks a plugin's definition (and gives it C
 * linkage in C++). Defined by plugins only; a host looks it up by name. */
BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BKP_PLUGIN_H */
