/*
 * memory_provider.c - a small provider that keeps its backups in process
 * memory, for testing the conformance kit: built as is it keeps every rule
 * (the kit must pass it), and built with -DBROKEN_<RULE> it breaks exactly
 * one rule (the kit must catch it, and say which):
 *
 *   BROKEN_CAP            announces BKP_CAP_VERIFY without a verify callback
 *   BROKEN_ERR_LEN        writes messages ignoring err_len (and err_len 0)
 *   BROKEN_CANCEL         a cancelled backup still shows up in list
 *   BROKEN_LIST_ORDER     list reports the newest backup first
 *   BROKEN_RESTORE_ORDER  restore feeds the snapshots before the control DB
 *
 * Plain C99 on bkp_plugin_c.h. Settings: label (string, required), named in
 * each backup id. The store is process-wide, so every instance sees the
 * same backups, as instances on one repository would. Not thread-safe
 * beyond what the ABI promises (one operation at a time).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bkp/bkp_plugin.h"
#include "bkp/bkp_plugin_c.h"

#define PIECE 4096u
#define MAX_BACKUPS 256

typedef struct stored_item {
  uint32_t role;
  char context[80];
  char name[80];
  uint64_t base, next, size;
  uint64_t source_id; /* during the backup: the handle for source_read */
  unsigned char* data;
} stored_item;

typedef struct stored_backup {
  char id[64];
  int64_t created;
  stored_item* items;
  size_t count;
} stored_backup;

static stored_backup g_backups[MAX_BACKUPS];
static size_t g_count = 0;
static int64_t g_clock = 0; /* a logical clock: created_ms strictly grows */

struct bkp_instance {
  const bkp_host_services* services;
  char* label;
};

static void fail(char* err, size_t err_len, const char* format, ...) BKP_PRINTF_FORMAT(3, 4);

static void fail(char* err, size_t err_len, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
#ifdef BROKEN_ERR_LEN
  (void)err_len;
  if (err != NULL) vsnprintf(err, 256, format, ap); /* the broken rule: err_len ignored */
#else
  bkp_write_error_v(err, err_len, format, ap);
#endif
  va_end(ap);
}

static void free_backup(stored_backup* b) {
  size_t i;
  for (i = 0; i < b->count; ++i) free(b->items[i].data);
  free(b->items);
  memset(b, 0, sizeof *b);
}

static stored_backup* find_backup(const char* id) {
  size_t i;
  for (i = 0; id != NULL && i < g_count; ++i) {
    if (strcmp(g_backups[i].id, id) == 0) return &g_backups[i];
  }
  return NULL;
}

/* Frees the store when the library is unloaded: the host (and the kit)
 * dlclose it, and memory only its globals held would then be a leak. */
static void free_store(void) __attribute__((destructor));
static void free_store(void) {
  while (g_count > 0) free_backup(&g_backups[--g_count]);
}

/* ---- open / close ---- */

static bkp_status mem_open(const bkp_open_args* args, bkp_instance** out, char* err,
                           size_t err_len) {
  bkp_open_args in;
  bkp_instance* inst;
  bkp_status st;
  *out = NULL;
  if (!bkp_copy_versioned(&in, sizeof in, args, BKP_V1_0_SIZE_OPEN_ARGS)) {
    fail(err, err_len, "memory: open arguments older than ABI 1.0");
    return BKP_E_INVALID_ARGUMENT;
  }
  inst = (bkp_instance*)calloc(1, sizeof *inst);
  if (inst == NULL) {
    fail(err, err_len, "memory: out of memory");
    return BKP_E_INTERNAL;
  }
  inst->services = in.services;
  st = bkp_setting_string_dup(in.services, in.settings, "label", &inst->label, err, err_len);
  if (st != BKP_OK) {
    if (st == BKP_E_NOT_FOUND) fail(err, err_len, "memory: setting 'label' is required");
    free(inst);
    return st == BKP_E_NOT_FOUND ? BKP_E_INVALID_ARGUMENT : st;
  }
  *out = inst;
  return BKP_OK;
}

static void mem_close(bkp_instance* inst) {
  if (inst == NULL) return;
  free(inst->label);
  free(inst);
}

/* ---- backup ---- */

typedef struct listing {
  stored_backup* backup;
  int out_of_memory;
} listing;

static bkp_status keep_item(void* user, const bkp_item* given) {
  listing* l = (listing*)user;
  stored_item* grown;
  stored_item* item;
  bkp_item it;
  bkp_copy_versioned(&it, sizeof it, given, 0);
  grown = (stored_item*)realloc(l->backup->items, (l->backup->count + 1) * sizeof *grown);
  if (grown == NULL) {
    l->out_of_memory = 1;
    return BKP_E_INTERNAL;
  }
  l->backup->items = grown;
  item = &grown[l->backup->count++];
  memset(item, 0, sizeof *item);
  item->role = it.role;
  snprintf(item->context, sizeof item->context, "%s", it.context != NULL ? it.context : "");
  snprintf(item->name, sizeof item->name, "%s", it.name != NULL ? it.name : "");
  item->base = it.base;
  item->next = it.next;
  item->size = it.size;
  item->source_id = it.id;
  item->data = (unsigned char*)malloc(it.size != 0 ? (size_t)it.size : 1);
  if (item->data == NULL) {
    l->out_of_memory = 1;
    return BKP_E_INTERNAL;
  }
  return BKP_OK;
}

/* Reads one listed item whole, checking for a cancel before each piece. */
static bkp_status read_item(const bkp_host_services* s, const bkp_backup_args* in,
                            stored_item* item, char* err, size_t err_len) {
  uint64_t offset = 0;
  while (offset < item->size) {
    size_t want = item->size - offset < PIECE ? (size_t)(item->size - offset) : PIECE;
    size_t got = 0;
    bkp_status st;
    if (s->op_cancelled(in->op)) {
      fail(err, err_len, "memory: backup cancelled while reading %s", item->name);
      return BKP_E_CANCELLED;
    }
    st = s->source_read(in->source, item->source_id, offset, item->data + offset, want, &got, err,
                        err_len);
    if (st != BKP_OK) return st;
    if (got == 0) {
      fail(err, err_len, "memory: %s ended at byte %llu of its listed %llu", item->name,
           (unsigned long long)offset, (unsigned long long)item->size);
      return BKP_E_IO;
    }
    offset += got;
  }
  return BKP_OK;
}

static bkp_status mem_backup(bkp_instance* inst, const bkp_backup_args* args,
                             bkp_backup_result* result, char* err, size_t err_len) {
  const bkp_host_services* s = inst->services;
  bkp_backup_args in;
  stored_backup b;
  size_t r, i;
  bkp_status st = BKP_OK;
  uint64_t bytes = 0;
  if (!bkp_copy_versioned(&in, sizeof in, args, BKP_V1_0_SIZE_BACKUP_ARGS)) {
    fail(err, err_len, "memory: backup arguments older than ABI 1.0");
    return BKP_E_INVALID_ARGUMENT;
  }
  if (in.type != BKP_BACKUP_FULL) {
    fail(err, err_len, "memory: only full backups");
    return BKP_E_UNSUPPORTED;
  }
  if (g_count == MAX_BACKUPS) {
    fail(err, err_len, "memory: the store is full (%d backups)", MAX_BACKUPS);
    return BKP_E_NO_SPACE;
  }
  memset(&b, 0, sizeof b);
  for (r = 0; r < BKP_ROLE_COUNT && st == BKP_OK; ++r) {
    listing l;
    const size_t first = b.count;
    l.backup = &b;
    l.out_of_memory = 0;
    st = s->source_list(in.source, bkp_role_at(r), keep_item, &l, err, err_len);
    if (l.out_of_memory) {
      fail(err, err_len, "memory: out of memory listing %s items", bkp_role_name(bkp_role_at(r)));
      st = BKP_E_INTERNAL;
    }
    for (i = first; i < b.count && st == BKP_OK; ++i) {
      st = read_item(s, &in, &b.items[i], err, err_len);
      bytes += b.items[i].size;
    }
  }
#ifdef BROKEN_CANCEL
  if (st == BKP_E_CANCELLED) {
    /* The broken rule: what was read so far is published as a backup. */
    snprintf(b.id, sizeof b.id, "%s-%lld-partial", inst->label, (long long)++g_clock);
    b.created = g_clock;
    g_backups[g_count++] = b;
    return st;
  }
#endif
  if (st != BKP_OK) {
    free_backup(&b);
    return st;
  }
  b.created = ++g_clock;
  snprintf(b.id, sizeof b.id, "%s-%lld", inst->label, (long long)b.created);
  g_backups[g_count++] = b;
  snprintf(result->backup_id, sizeof result->backup_id, "%s", b.id);
  result->bytes_read = bytes;
  result->bytes_stored = bytes;
  result->files = b.count;
  return BKP_OK;
}

/* ---- restore, list, verify, remove ---- */

static bkp_status feed_item(const bkp_host_services* s, const bkp_restore_args* in,
                            const stored_item* item, char* err, size_t err_len) {
  bkp_item out;
  uint64_t offset = 0;
  bkp_status st;
  BKP_INIT(&out);
  out.role = item->role;
  out.context = item->role == BKP_ROLE_CONTROL_DB ? NULL : item->context;
  out.name = item->name;
  out.size = item->size;
  out.base = item->base;
  out.next = item->next;
  out.flags = BKP_ITEM_CLOSED;
  st = s->sink_begin(in->sink, &out, err, err_len);
  while (st == BKP_OK && offset < item->size) {
    size_t n = item->size - offset < PIECE ? (size_t)(item->size - offset) : PIECE;
    if (s->op_cancelled(in->op)) {
      fail(err, err_len, "memory: restore cancelled in %s", item->name);
      return BKP_E_CANCELLED;
    }
    st = s->sink_write(in->sink, item->data + offset, n, err, err_len);
    offset += n;
  }
  if (st == BKP_OK) st = s->sink_end(in->sink, err, err_len);
  return st;
}

static bkp_status mem_restore(bkp_instance* inst, const bkp_restore_args* args, char* err,
                              size_t err_len) {
  bkp_restore_args in;
  const stored_backup* b;
  size_t i;
  bkp_status st = BKP_OK;
  if (!bkp_copy_versioned(&in, sizeof in, args, BKP_V1_0_SIZE_RESTORE_ARGS)) {
    fail(err, err_len, "memory: restore arguments older than ABI 1.0");
    return BKP_E_INVALID_ARGUMENT;
  }
  b = find_backup(in.backup_id);
  if (b == NULL) {
    fail(err, err_len, "memory: no backup '%s'", in.backup_id != NULL ? in.backup_id : "(null)");
    return BKP_E_NOT_FOUND;
  }
  for (i = 0; i < b->count && st == BKP_OK; ++i) {
#ifdef BROKEN_RESTORE_ORDER
    const stored_item* item = &b->items[b->count - 1 - i]; /* the broken rule: backwards */
#else
    const stored_item* item = &b->items[i];
#endif
    st = feed_item(inst->services, &in, item, err, err_len);
  }
  return st;
}

static bkp_status report(const stored_backup* b, bkp_backup_info_fn fn, void* user) {
  bkp_backup_info info;
  uint64_t bytes = 0;
  size_t i;
  for (i = 0; i < b->count; ++i) bytes += b->items[i].size;
  BKP_INIT(&info);
  info.type = BKP_BACKUP_FULL;
  info.id = b->id;
  info.created_ms = b->created;
  info.bytes = bytes;
  info.stored_bytes = bytes;
  info.files = b->count;
  return fn(user, &info);
}

static bkp_status mem_list(bkp_instance* inst, bkp_backup_info_fn fn, void* user, char* err,
                           size_t err_len) {
  size_t i;
  (void)inst;
  for (i = 0; i < g_count; ++i) {
#ifdef BROKEN_LIST_ORDER
    const stored_backup* b = &g_backups[g_count - 1 - i]; /* the broken rule: newest first */
#else
    const stored_backup* b = &g_backups[i];
#endif
    bkp_status st = report(b, fn, user);
    if (st != BKP_OK) {
      fail(err, err_len, "memory: list stopped by its callback");
      return st;
    }
  }
  return BKP_OK;
}

#ifndef BROKEN_CAP
static bkp_status mem_verify(bkp_instance* inst, const char* backup_id, bkp_operation* op,
                             bkp_verify_problem_fn fn, void* user, char* err, size_t err_len) {
  (void)inst;
  (void)op;
  (void)fn;
  (void)user;
  if (backup_id != NULL && find_backup(backup_id) == NULL) {
    fail(err, err_len, "memory: no backup '%s'", backup_id);
    return BKP_E_NOT_FOUND;
  }
  return BKP_OK;
}
#endif

static bkp_status mem_remove(bkp_instance* inst, const char* backup_id, char* err, size_t err_len) {
  stored_backup* b = find_backup(backup_id);
  (void)inst;
  if (b == NULL) {
    fail(err, err_len, "memory: no backup '%s'", backup_id != NULL ? backup_id : "(null)");
    return BKP_E_NOT_FOUND;
  }
  free_backup(b);
  memmove(b, b + 1, (size_t)(&g_backups[g_count] - (b + 1)) * sizeof *b);
  --g_count;
  return BKP_OK;
}

/* ---- table and entry ---- */

static const bkp_setting_spec mem_settings[] = {
    {"label", BKP_SETTING_STRING, BKP_SETTING_REQUIRED, "prefix of every backup id"},
};

static const bkp_provider mem_provider = {
    sizeof(bkp_provider),
    BKP_ABI_VERSION,
    "memory",
    "1.0.0",
    "keeps backups in process memory (a conformance kit fixture)",
    BKP_CAP_BACKUP | BKP_CAP_RESTORE | BKP_CAP_LIST | BKP_CAP_VERIFY | BKP_CAP_REMOVE,
    mem_settings,
    sizeof mem_settings / sizeof mem_settings[0],
    sizeof(bkp_setting_spec),
    mem_open,
    mem_close,
    mem_backup,
    mem_restore,
    mem_list,
#ifdef BROKEN_CAP
    NULL, /* the broken rule: BKP_CAP_VERIFY without its callback */
#else
    mem_verify,
#endif
    mem_remove,
    NULL, /* expire */
    NULL, /* archive */
    NULL, /* archive_status */
    NULL, /* locks */
};

BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp_negotiate(args, "memory", BKP_ABI_VERSION) ? &mem_provider : NULL;
}
