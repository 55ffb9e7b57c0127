/*
 * my_provider.c - a backup provider skeleton: the entry point, one setting,
 * open/close, and empty backup/restore/list callbacks. It loads, and passes
 * the conformance kit, as it is; fill in a callback, then announce its
 * capability bit (BKP_CAP_*) in the table, and the kit checks it from then
 * on. Read bkp/bkp_plugin.h (the contract) and docs/writing-a-provider.md.
 *
 * Settings: path (string, required): where the backups go.
 */
#include <stdlib.h>

#include "bkp/bkp_plugin.h"
#include "bkp/bkp_plugin_c.h"

#define PROVIDER_NAME "my_provider"

/* One open instance: what open read from the settings. */
struct bkp_instance {
  const bkp_host_services* services; /* the host's, valid until close */
  bkp_host* host;                    /* the host's, valid until close */
  char* path;                        /* ours: the `path` setting */
};

/* ---- open / close ------------------------------------------------------- */

static bkp_status my_open(const bkp_open_args* args, bkp_instance** out, char* err,
                          size_t err_len) {
  bkp_open_args in;
  bkp_instance* instance;
  bkp_status st;

  *out = NULL;
  if (!bkp_copy_versioned(&in, sizeof in, args, BKP_V1_0_SIZE_OPEN_ARGS) || in.services == NULL ||
      in.services->struct_size < BKP_V1_0_SIZE_HOST_SERVICES) {
    bkp_write_error(err, err_len, PROVIDER_NAME ": open arguments older than ABI 1.0");
    return BKP_E_INVALID_ARGUMENT;
  }
  instance = (bkp_instance*)calloc(1, sizeof *instance);
  if (instance == NULL) {
    bkp_write_error(err, err_len, PROVIDER_NAME ": out of memory opening '%s'",
                    in.provider_name != NULL ? in.provider_name : "?");
    return BKP_E_INTERNAL;
  }
  instance->services = in.services;
  instance->host = in.host;
  st = bkp_setting_string_dup(in.services, in.settings, "path", &instance->path, err, err_len);
  if (st != BKP_OK) {
    if (st == BKP_E_NOT_FOUND) {
      bkp_write_error(err, err_len, PROVIDER_NAME ": setting 'path' of provider '%s' is required",
                      in.provider_name != NULL ? in.provider_name : "?");
      st = BKP_E_INVALID_ARGUMENT;
    }
    free(instance);
    return st;
  }
  *out = instance;
  return BKP_OK;
}

static void my_close(bkp_instance* instance) {
  if (instance == NULL) return;
  free(instance->path);
  free(instance);
}

/* ---- the operations: empty until written -------------------------------- */

/* Backup: list the source's roles in order (bkp_role_at(0..BKP_ROLE_COUNT-1)),
 * read each item, check op_cancelled between reads, store; on any failure
 * or cancel leave nothing that looks like a backup. Then set BKP_CAP_BACKUP. */
static bkp_status my_backup(bkp_instance* instance, const bkp_backup_args* args,
                            bkp_backup_result* result, char* err, size_t err_len) {
  (void)args;
  (void)result;
  bkp_write_error(err, err_len, PROVIDER_NAME ": backup to '%s' is not written yet",
                  instance->path);
  return BKP_E_UNSUPPORTED;
}

/* Restore: feed the sink the control DB, then log, events, snapshots, each
 * stream in ascending base, each item exactly its size. Then set
 * BKP_CAP_RESTORE. */
static bkp_status my_restore(bkp_instance* instance, const bkp_restore_args* args, char* err,
                             size_t err_len) {
  (void)args;
  bkp_write_error(err, err_len, PROVIDER_NAME ": restore from '%s' is not written yet",
                  instance->path);
  return BKP_E_UNSUPPORTED;
}

/* List: call fn once per complete backup, oldest first. Then set BKP_CAP_LIST. */
static bkp_status my_list(bkp_instance* instance, bkp_backup_info_fn fn, void* user, char* err,
                          size_t err_len) {
  (void)fn;
  (void)user;
  bkp_write_error(err, err_len, PROVIDER_NAME ": list of '%s' is not written yet", instance->path);
  return BKP_E_UNSUPPORTED;
}

/* ---- the table and the entry point -------------------------------------- */

static const bkp_setting_spec my_settings[] = {
    {"path", BKP_SETTING_STRING, BKP_SETTING_REQUIRED, "directory the backups are stored in"},
};

static const bkp_provider my_table = {
    sizeof(bkp_provider),
    BKP_ABI_VERSION,
    PROVIDER_NAME,
    "0.1.0",
    "a provider skeleton (replace this line)",
    0, /* capabilities: add BKP_CAP_BACKUP | BKP_CAP_RESTORE | BKP_CAP_LIST as they work */
    my_settings,
    sizeof my_settings / sizeof my_settings[0],
    sizeof(bkp_setting_spec),
    my_open,
    my_close,
    my_backup,
    my_restore,
    my_list,
    NULL, /* verify */
    NULL, /* remove */
    NULL, /* expire */
    NULL, /* archive */
    NULL, /* archive_status */
    NULL, /* locks */
};

BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp_negotiate(args, PROVIDER_NAME, BKP_ABI_VERSION) ? &my_table : NULL;
}
