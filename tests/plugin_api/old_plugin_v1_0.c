/*
 * old_plugin_v1_0.c - a provider as it would have been written in the ABI
 * 1.0 days: compiled against the frozen 1.0 header only, so that loading it
 * into today's host proves old plugins keep working. Provider `old_v1_0`,
 * capabilities BACKUP (reads every byte, stores nothing) and LIST (reports no
 * backups), no settings. Test fixture, not shipped.
 */
#include "bkp_plugin_v1_0.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fail the build if the live header could be picked up instead. */
#if defined(__has_include)
#if __has_include(<bkp/bkp_plugin.h>)
#error "the live ABI header is on the old plugin's include path; only frozen/ may be"
#endif
#endif

#define OLD_BUFFER_SIZE (64u * 1024u)

struct bkp_instance {
  const bkp_host_services* services;
};

typedef struct old_item_list {
  const bkp_item** items;
  size_t count;
  size_t capacity;
} old_item_list;

static void old_error(char* err, size_t err_len, const char* message) {
  if (err != NULL && err_len > 0) snprintf(err, err_len, "%s", message);
}

static bkp_status old_open(const bkp_open_args* args, bkp_instance** out, char* err,
                           size_t err_len) {
  bkp_instance* instance;
  if (out == NULL || args == NULL || args->services == NULL) {
    old_error(err, err_len, "old_v1_0: open without arguments");
    return BKP_E_INVALID_ARGUMENT;
  }
  *out = NULL;
  instance = (bkp_instance*)calloc(1, sizeof *instance);
  if (instance == NULL) {
    old_error(err, err_len, "old_v1_0: out of memory");
    return BKP_E_INTERNAL;
  }
  instance->services = args->services;
  *out = instance;
  return BKP_OK;
}

static void old_close(bkp_instance* instance) { free(instance); }

static bkp_status old_collect(void* user, const bkp_item* item) {
  old_item_list* list = (old_item_list*)user;
  if (list->count == list->capacity) {
    size_t capacity = list->capacity != 0 ? list->capacity * 2 : 16;
    const bkp_item** grown =
        (const bkp_item**)realloc((void*)list->items, capacity * sizeof *grown);
    if (grown == NULL) return BKP_E_INTERNAL;
    list->items = grown;
    list->capacity = capacity;
  }
  list->items[list->count++] = item;
  return BKP_OK;
}

/* Lists `role`, then reads each item to its listed size. */
static bkp_status old_backup_role(const bkp_host_services* s, const bkp_backup_args* args,
                                  uint32_t role, old_item_list* list, unsigned char* buf,
                                  bkp_backup_result* result, char* err, size_t err_len) {
  size_t i;
  bkp_status st;
  list->count = 0;
  st = s->source_list(args->source, role, old_collect, list, err, err_len);
  if (st != BKP_OK) return st;
  for (i = 0; i < list->count; ++i) {
    const bkp_item* item = list->items[i];
    uint64_t offset = 0;
    while (offset < item->size) {
      uint64_t left = item->size - offset;
      size_t got = 0;
      if (s->op_cancelled(args->op)) {
        old_error(err, err_len, "old_v1_0: cancelled");
        return BKP_E_CANCELLED;
      }
      st = s->source_read(args->source, item->id, offset, buf,
                          left < OLD_BUFFER_SIZE ? (size_t)left : OLD_BUFFER_SIZE, &got, err,
                          err_len);
      if (st != BKP_OK) return st;
      if (got == 0) {
        if (err != NULL && err_len > 0) {
          snprintf(err, err_len, "old_v1_0: item %s ended before its listed size", item->name);
        }
        return BKP_E_IO;
      }
      offset += got;
    }
    result->bytes_read += item->size;
    result->files += 1;
  }
  return BKP_OK;
}

static bkp_status old_backup(bkp_instance* instance, const bkp_backup_args* args,
                             bkp_backup_result* result, char* err, size_t err_len) {
  static const uint32_t roles[] = {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS,
                                   BKP_ROLE_SNAPSHOTS};
  old_item_list list;
  unsigned char* buf;
  size_t r;
  bkp_status st = BKP_OK;

  if (instance == NULL || args == NULL || result == NULL) {
    old_error(err, err_len, "old_v1_0: backup without arguments");
    return BKP_E_INVALID_ARGUMENT;
  }
  buf = (unsigned char*)malloc(OLD_BUFFER_SIZE);
  if (buf == NULL) {
    old_error(err, err_len, "old_v1_0: out of memory");
    return BKP_E_INTERNAL;
  }
  memset(&list, 0, sizeof list);
  for (r = 0; r < sizeof roles / sizeof roles[0] && st == BKP_OK; ++r) {
    st = old_backup_role(instance->services, args, roles[r], &list, buf, result, err, err_len);
  }
  free((void*)list.items);
  free(buf);
  if (st == BKP_OK) snprintf(result->backup_id, sizeof result->backup_id, "old-v1-0");
  return st;
}

static bkp_status old_list(bkp_instance* instance, bkp_backup_info_fn fn, void* user, char* err,
                           size_t err_len) {
  (void)instance;
  (void)fn;
  (void)user;
  (void)err;
  (void)err_len;
  return BKP_OK;
}

static const bkp_provider old_provider = {
    sizeof(bkp_provider),
    BKP_ABI_VERSION,
    "old_v1_0",
    "1.0.0",
    "test fixture: a provider built against the frozen ABI 1.0 header",
    BKP_CAP_BACKUP | BKP_CAP_LIST,
    NULL,
    0,
    0,
    old_open,
    old_close,
    old_backup,
    NULL,
    old_list,
    NULL,
    NULL,
    NULL,
};

BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args);

BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  if (args == NULL || args->struct_size < 8) return NULL;
  if (BKP_VERSION_MAJOR(args->host_abi_version) != BKP_ABI_VERSION_MAJOR) {
    if (args->struct_size >= sizeof *args && args->error != NULL && args->error_len > 0) {
      snprintf(args->error, args->error_len, "old_v1_0: built for ABI 1.0, host speaks %u.%u",
               (unsigned)BKP_VERSION_MAJOR(args->host_abi_version),
               (unsigned)BKP_VERSION_MINOR(args->host_abi_version));
    }
    return NULL;
  }
  return &old_provider;
}
