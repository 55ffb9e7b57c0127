/*
 * null_provider.c - the `null` backup provider: reads every byte the host's
 * backup source offers, in the backup order, and stores nothing. It is the
 * baseline for what the ABI and the host's read path cost, so it reads with
 * one buffer straight from source_read and never touches the bytes.
 *
 * Written in plain C99 to prove a provider needs nothing but bkp_plugin.h
 * and its C helpers (bkp_plugin_c.h: errors, negotiation, versioned copies,
 * role names).
 * Settings: buffer_kib (integer, optional, 4..65536, default 1024).
 * Thread-safety: the host runs one operation per instance at a time (see
 * bkp_plugin.h); an instance holds no mutable state between calls.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bkp/bkp_plugin.h"
#include "bkp/bkp_plugin_c.h"

#define NULL_BUFFER_KIB_DEFAULT 1024
#define NULL_BUFFER_KIB_MIN 4
#define NULL_BUFFER_KIB_MAX 65536

struct bkp_instance {
  const bkp_host_services* services; /* borrowed from the host until close */
  bkp_host* host;                    /* borrowed from the host until close */
  size_t buffer_size;                /* bytes per source_read */
};

/* The items of one role, as listed; the host keeps each item alive until the
 * operation ends, so pointers are enough. */
typedef struct item_list {
  const bkp_item** items;
  size_t count;
  size_t capacity;
  uint64_t bytes;
  int out_of_memory;
} item_list;

static double monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t epoch_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- open / close ------------------------------------------------------- */

static bkp_status null_open(const bkp_open_args* args, bkp_instance** out, char* err,
                            size_t err_len) {
  bkp_open_args in;
  const bkp_host_services* services;
  int64_t buffer_kib = NULL_BUFFER_KIB_DEFAULT;
  bkp_status st;
  bkp_instance* instance;

  if (out == NULL) {
    bkp_write_error(err, err_len, "null: open called without an output pointer");
    return BKP_E_INVALID_ARGUMENT;
  }
  *out = NULL;
  if (!bkp_copy_versioned(&in, sizeof in, args, BKP_V1_0_SIZE_OPEN_ARGS)) {
    bkp_write_error(err, err_len, "null: open arguments missing or older than ABI 1.0");
    return BKP_E_INVALID_ARGUMENT;
  }
  services = in.services;
  if (services == NULL || services->struct_size < BKP_V1_0_SIZE_HOST_SERVICES) {
    bkp_write_error(err, err_len, "null: host services table missing or older than ABI 1.0");
    return BKP_E_INVALID_ARGUMENT;
  }

  st = services->setting_int(in.settings, "buffer_kib", &buffer_kib);
  if (st == BKP_E_NOT_FOUND) {
    buffer_kib = NULL_BUFFER_KIB_DEFAULT;
  } else if (st != BKP_OK) {
    bkp_write_error(err, err_len,
                    "null: setting buffer_kib of provider '%s' cannot be read as an integer",
                    in.provider_name != NULL ? in.provider_name : "?");
    return st;
  } else if (buffer_kib < NULL_BUFFER_KIB_MIN || buffer_kib > NULL_BUFFER_KIB_MAX) {
    bkp_write_error(err, err_len,
                    "null: setting buffer_kib = %lld of provider '%s' is out of range; use %d..%d "
                    "(KiB per read)",
                    (long long)buffer_kib, in.provider_name != NULL ? in.provider_name : "?",
                    NULL_BUFFER_KIB_MIN, NULL_BUFFER_KIB_MAX);
    return BKP_E_INVALID_ARGUMENT;
  }

  instance = (bkp_instance*)calloc(1, sizeof *instance);
  if (instance == NULL) {
    bkp_write_error(err, err_len, "null: out of memory creating an instance");
    return BKP_E_INTERNAL;
  }
  instance->services = services;
  instance->host = in.host;
  instance->buffer_size = (size_t)buffer_kib * 1024u;
  *out = instance;
  return BKP_OK;
}

static void null_close(bkp_instance* instance) { free(instance); }

/* ---- backup ------------------------------------------------------------- */

static bkp_status collect_item(void* user, const bkp_item* item) {
  item_list* list = (item_list*)user;
  if (list->count == list->capacity) {
    size_t capacity = list->capacity != 0 ? list->capacity * 2 : 64;
    const bkp_item** grown =
        (const bkp_item**)realloc((void*)list->items, capacity * sizeof *grown);
    if (grown == NULL) {
      list->out_of_memory = 1;
      return BKP_E_INTERNAL;
    }
    list->items = grown;
    list->capacity = capacity;
  }
  list->items[list->count++] = item;
  list->bytes += item->size;
  return BKP_OK;
}

/* Everything one backup call tracks, so the helpers stay small. */
typedef struct backup_run {
  const bkp_host_services* services;
  bkp_operation* op;
  bkp_source* source;
  unsigned char* buffer;
  size_t buffer_size;
  bkp_progress progress; /* cumulative; totals are of the items listed so far */
} backup_run;

static void item_label(const bkp_item* item, char* label, size_t len) {
  if (item->context != NULL) {
    snprintf(label, len, "%s item %s/%s", bkp_role_name(item->role), item->context,
             item->name != NULL ? item->name : "?");
  } else {
    snprintf(label, len, "%s item %s", bkp_role_name(item->role),
             item->name != NULL ? item->name : "?");
  }
}

/* Reads every byte of one item and discards it. */
static bkp_status read_item(backup_run* run, const bkp_item* item, char* err, size_t err_len) {
  uint64_t offset = 0;
  char label[512];

  while (offset < item->size) {
    uint64_t left = item->size - offset;
    size_t want = left < run->buffer_size ? (size_t)left : run->buffer_size;
    size_t got = 0;
    char why[512] = "";
    bkp_status st;

    if (run->services->op_cancelled(run->op)) {
      item_label(item, label, sizeof label);
      bkp_write_error(err, err_len, "null: cancelled while reading %s", label);
      return BKP_E_CANCELLED;
    }
    st = run->services->source_read(run->source, item->id, offset, run->buffer, want, &got, why,
                                    sizeof why);
    if (st != BKP_OK) {
      item_label(item, label, sizeof label);
      bkp_write_error(err, err_len, "null: reading %s at byte %llu: %s", label,
                      (unsigned long long)offset,
                      why[0] != '\0' ? why : "(no message from the host)");
      return st;
    }
    if (got == 0 || got > want) {
      item_label(item, label, sizeof label);
      bkp_write_error(
          err, err_len,
          "null: %s returned %zu bytes at byte %llu of its announced %llu (asked for %zu)", label,
          got, (unsigned long long)offset, (unsigned long long)item->size, want);
      return got == 0 ? BKP_E_IO : BKP_E_INTERNAL;
    }
    offset += got;
    run->progress.bytes_done += got;
    run->services->op_progress(run->op, &run->progress);
  }
  return BKP_OK;
}

/* Lists one role and reads each of its items, in the host's order. */
static bkp_status backup_role(backup_run* run, uint32_t role, item_list* list, char* err,
                              size_t err_len) {
  size_t i;
  bkp_status st;

  list->count = 0;
  list->bytes = 0;
  st = run->services->source_list(run->source, role, collect_item, list, err, err_len);
  if (list->out_of_memory) {
    bkp_write_error(err, err_len, "null: out of memory listing the %s items", bkp_role_name(role));
    return BKP_E_INTERNAL;
  }
  if (st != BKP_OK) return st; /* the host wrote why */

  run->progress.phase = bkp_role_phase(role);
  run->progress.files_total += list->count;
  run->progress.bytes_total += list->bytes;
  run->services->op_progress(run->op, &run->progress);

  for (i = 0; i < list->count; ++i) {
    st = read_item(run, list->items[i], err, err_len);
    if (st != BKP_OK) return st;
    run->progress.files_done += 1;
  }
  return BKP_OK;
}

static bkp_status null_backup(bkp_instance* instance, const bkp_backup_args* args,
                              bkp_backup_result* result, char* err, size_t err_len) {
  static const uint32_t kRoles[] = {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS,
                                    BKP_ROLE_SNAPSHOTS};
  bkp_backup_args in;
  backup_run run;
  item_list list;
  size_t r;
  bkp_status st = BKP_OK;
  double started, seconds;

  if (instance == NULL || !bkp_copy_versioned(&in, sizeof in, args, BKP_V1_0_SIZE_BACKUP_ARGS) ||
      result == NULL || result->struct_size < BKP_V1_0_SIZE_BACKUP_RESULT) {
    bkp_write_error(err, err_len, "null: backup called with missing or pre-1.0 arguments");
    return BKP_E_INVALID_ARGUMENT;
  }
  if (in.type != BKP_BACKUP_FULL) {
    bkp_write_error(err, err_len, "null: only full backups are supported (asked for type %u)",
                    (unsigned)in.type);
    return BKP_E_UNSUPPORTED;
  }

  memset(&run, 0, sizeof run);
  memset(&list, 0, sizeof list);
  run.services = instance->services;
  run.op = in.op;
  run.source = in.source;
  run.buffer_size = instance->buffer_size;
  run.progress.struct_size = sizeof run.progress;
  run.buffer = (unsigned char*)malloc(run.buffer_size);
  if (run.buffer == NULL) {
    bkp_write_error(err, err_len, "null: out of memory allocating a %zu KiB read buffer",
                    run.buffer_size / 1024u);
    return BKP_E_INTERNAL;
  }

  started = monotonic_seconds();
  for (r = 0; r < sizeof kRoles / sizeof kRoles[0] && st == BKP_OK; ++r) {
    st = backup_role(&run, kRoles[r], &list, err, err_len);
  }
  free((void*)list.items);
  free(run.buffer);
  if (st != BKP_OK) return st;

  seconds = monotonic_seconds() - started;
  run.progress.phase = BKP_PHASE_FINISHING;
  run.services->op_progress(run.op, &run.progress);
  {
    char line[256];
    double mib = (double)run.progress.bytes_done / (1024.0 * 1024.0);
    snprintf(line, sizeof line, "null: read %llu files, %llu bytes in %.3f s (%.1f MiB/s)",
             (unsigned long long)run.progress.files_done,
             (unsigned long long)run.progress.bytes_done, seconds,
             seconds > 0.0 ? mib / seconds : 0.0);
    run.services->log(instance->host, BKP_LOG_INFO, line);
  }

  snprintf(result->backup_id, sizeof result->backup_id, "null-%lld", (long long)epoch_ms());
  result->bytes_read = run.progress.bytes_done;
  result->bytes_stored = 0;
  result->files = run.progress.files_done;
  return BKP_OK;
}

/* ---- the provider table and the entry point ----------------------------- */

static const bkp_setting_spec null_settings[] = {
    {"buffer_kib", BKP_SETTING_INT, 0, "KiB read per source_read call, 4..65536 (default 1024)"},
};

static const bkp_provider null_provider = {
    sizeof(bkp_provider),
    BKP_ABI_VERSION,
    "null",
    "1.0.0",
    "reads every byte of the backup source and stores nothing (read-path baseline)",
    BKP_CAP_BACKUP,
    null_settings,
    sizeof null_settings / sizeof null_settings[0],
    sizeof(bkp_setting_spec),
    null_open,
    null_close,
    null_backup,
    NULL, /* restore */
    NULL, /* list */
    NULL, /* verify */
    NULL, /* remove */
    NULL, /* expire */
    NULL, /* archive */
    NULL, /* archive_status */
    NULL, /* locks */
};

BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args);

BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp_negotiate(args, "null", BKP_ABI_VERSION) ? &null_provider : NULL;
}
