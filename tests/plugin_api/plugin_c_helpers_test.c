/*
 * plugin_c_helpers_test.c - bkp_plugin_c.h as a C author uses it, compiled
 * as strict C99 (-std=c99 -Wall -Wextra -Wpedantic -Werror). A plain C
 * program: each failed check prints where and what, and the exit status is
 * the number of failures (capped), so CTest needs no C test framework.
 *
 * The expected v1.0 sizes come from abi_v1_0_layout.def, the hand-written
 * published layout, not from the helpers' own offsetof arithmetic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bkp/bkp_plugin.h"
#include "bkp/bkp_plugin_c.h"

static int failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

/* ---- errors ---- */

static void test_write_error(void) {
  char buf[16];
  memset(buf, 'x', sizeof buf);
  bkp_write_error(NULL, 0, "nothing %d", 1);
  bkp_write_error(NULL, 8, "nothing %d", 2); /* NULL wins over a length */
  bkp_write_error(buf, 0, "nothing %d", 3);
  CHECK(buf[0] == 'x'); /* err_len 0: untouched */

  bkp_write_error(buf, 6, "path %s is gone", "/srv");
  CHECK(strcmp(buf, "path ") == 0); /* truncated to 5 characters and the NUL */
  CHECK(buf[6] == 'x');             /* nothing past err_len */

  bkp_write_error(buf, sizeof buf, "code %d", 42);
  CHECK(strcmp(buf, "code 42") == 0);
}

/* ---- negotiation ---- */

static void test_negotiate(void) {
  char reason[256];
  bkp_entry_args args;

  BKP_INIT(&args);
  args.host_abi_version = BKP_MAKE_VERSION(1, 0);
  args.error = reason;
  args.error_len = sizeof reason;
  reason[0] = '\0';
  CHECK(bkp_negotiate(&args, "demo", BKP_ABI_VERSION) == 1); /* older minor: served */
  args.host_abi_version = BKP_MAKE_VERSION(1, 0x7fff);
  CHECK(bkp_negotiate(&args, "demo", BKP_ABI_VERSION) == 1); /* newer minor: served */
  CHECK(reason[0] == '\0');

  args.host_abi_version = BKP_MAKE_VERSION(2, 0);
  CHECK(bkp_negotiate(&args, "demo", BKP_ABI_VERSION) == 0);
  CHECK(strstr(reason, "demo") != NULL);
  CHECK(strstr(reason, "2.0") != NULL);
  CHECK(strstr(reason, "major") != NULL);

  /* Refusals with nowhere (or no room) to write stay safe. */
  args.error = NULL;
  args.error_len = 0;
  CHECK(bkp_negotiate(&args, "demo", BKP_ABI_VERSION) == 0);
  memset(reason, 'x', sizeof reason);
  args.error = reason;
  args.error_len = 0;
  CHECK(bkp_negotiate(&args, "demo", BKP_ABI_VERSION) == 0);
  CHECK(reason[0] == 'x');

  CHECK(bkp_negotiate(NULL, "demo", BKP_ABI_VERSION) == 0);
  /* A struct too small to hold host_abi_version is refused, not read past. */
  args.struct_size = 4;
  args.host_abi_version = BKP_ABI_VERSION;
  CHECK(bkp_negotiate(&args, "demo", BKP_ABI_VERSION) == 0);
}

/* ---- versioned copies and the v1.0 sizes ---- */

static void test_copy_versioned(void) {
  bkp_progress sent;
  bkp_progress got;
  BKP_INIT(&sent);
  sent.phase = BKP_PHASE_LOG;
  sent.bytes_done = 7;
  sent.files_total = 9;

  /* A peer that sent only up to bytes_done: the rest reads as zero. */
  sent.struct_size = (uint32_t)BKP_FIELD_END(bkp_progress, bytes_done);
  memset(&got, 0xff, sizeof got);
  CHECK(bkp_copy_versioned(&got, sizeof got, &sent, 8) == 1);
  CHECK(got.phase == BKP_PHASE_LOG && got.bytes_done == 7);
  CHECK(got.files_total == 0 && got.bytes_total == 0);
  CHECK(got.struct_size == sent.struct_size); /* still tells what the peer sent */

  /* Below the minimum: refused, and the copy is all zero. */
  CHECK(bkp_copy_versioned(&got, sizeof got, &sent, BKP_V1_0_SIZE_PROGRESS) == 0);
  CHECK(got.phase == 0 && got.bytes_done == 0);
  CHECK(bkp_copy_versioned(&got, sizeof got, NULL, 0) == 0);

  /* A newer peer's larger struct is cut at ours. */
  {
    struct {
      bkp_progress progress;
      uint64_t appended;
    } newer;
    memset(&newer, 0, sizeof newer);
    newer.progress.struct_size = (uint32_t)sizeof newer;
    newer.progress.files_done = 3;
    newer.appended = 99;
    CHECK(bkp_copy_versioned(&got, sizeof got, &newer, BKP_V1_0_SIZE_PROGRESS) == 1);
    CHECK(got.files_done == 3);
  }
}

typedef struct size_row {
  const char* type;
  size_t expected; /* from abi_v1_0_layout.def */
} size_row;

static size_t helper_size(const char* type) {
#define ROW(name, macro) \
  if (strcmp(type, name) == 0) return macro;
  ROW("bkp_item", BKP_V1_0_SIZE_ITEM)
  ROW("bkp_context_info", BKP_V1_0_SIZE_CONTEXT_INFO)
  ROW("bkp_progress", BKP_V1_0_SIZE_PROGRESS)
  ROW("bkp_host_services", BKP_V1_0_SIZE_HOST_SERVICES)
  ROW("bkp_setting_spec", BKP_V1_0_SIZE_SETTING_SPEC)
  ROW("bkp_open_args", BKP_V1_0_SIZE_OPEN_ARGS)
  ROW("bkp_backup_args", BKP_V1_0_SIZE_BACKUP_ARGS)
  ROW("bkp_backup_result", BKP_V1_0_SIZE_BACKUP_RESULT)
  ROW("bkp_restore_args", BKP_V1_0_SIZE_RESTORE_ARGS)
  ROW("bkp_backup_info", BKP_V1_0_SIZE_BACKUP_INFO)
  ROW("bkp_verify_problem", BKP_V1_0_SIZE_VERIFY_PROBLEM)
  ROW("bkp_retention", BKP_V1_0_SIZE_RETENTION)
  ROW("bkp_provider", BKP_V1_0_SIZE_PROVIDER)
  ROW("bkp_entry_args", BKP_V1_0_SIZE_ENTRY_ARGS)
#undef ROW
  return 0;
}

static void test_v1_0_sizes(void) {
  static const size_row rows[] = {
#define BKP_LAYOUT_STRUCT(type, size) {#type, size},
#define BKP_LAYOUT_FIELD(type, field, offset, size)
#include "abi_v1_0_layout.def"
#undef BKP_LAYOUT_STRUCT
#undef BKP_LAYOUT_FIELD
  };
  size_t i;
  for (i = 0; i < sizeof rows / sizeof rows[0]; ++i) {
    const size_t got = helper_size(rows[i].type);
    if (got != rows[i].expected) {
      fprintf(stderr, "v1.0 size of %s: the helper says %zu, the published layout %zu\n",
              rows[i].type, got, rows[i].expected);
      ++failures;
    }
  }
  CHECK(i == 14); /* every versioned struct of 1.0 and the setting spec */
}

/* ---- settings: a host table over two fixed settings ---- */

static bkp_status fixture_setting_string(const bkp_settings* settings, const char* key, char* buf,
                                         size_t len, size_t* needed) {
  static const char kPath[] = "/var/backups/a rather long path to be sure it is not guessed";
  (void)settings;
  if (strcmp(key, "count") == 0) {
    if (needed != NULL) *needed = 0;
    return BKP_E_INVALID_ARGUMENT; /* an integer setting */
  }
  if (strcmp(key, "path") != 0) return BKP_E_NOT_FOUND;
  if (needed != NULL) *needed = sizeof kPath;
  if (buf == NULL || len < sizeof kPath) return BKP_E_INVALID_ARGUMENT;
  memcpy(buf, kPath, sizeof kPath);
  return BKP_OK;
}

static void test_setting_string_dup(void) {
  bkp_host_services services;
  char err[128];
  char* value = (char*)1;
  BKP_INIT(&services);
  services.setting_string = fixture_setting_string;

  CHECK(bkp_setting_string_dup(&services, NULL, "path", &value, err, sizeof err) == BKP_OK);
  CHECK(value != NULL &&
        strcmp(value, "/var/backups/a rather long path to be sure it is not guessed") == 0);
  free(value);

  value = (char*)1;
  CHECK(bkp_setting_string_dup(&services, NULL, "absent", &value, err, sizeof err) ==
        BKP_E_NOT_FOUND);
  CHECK(value == NULL);

  err[0] = '\0';
  CHECK(bkp_setting_string_dup(&services, NULL, "count", &value, err, sizeof err) ==
        BKP_E_INVALID_ARGUMENT);
  CHECK(value == NULL);
  CHECK(strstr(err, "'count'") != NULL && strstr(err, "not a string") != NULL);
  CHECK(bkp_setting_string_dup(&services, NULL, "count", &value, NULL, 0) ==
        BKP_E_INVALID_ARGUMENT);
}

/* ---- roles and phases ---- */

static void test_roles_and_phases(void) {
  CHECK(BKP_ROLE_COUNT == 4);
  CHECK(bkp_role_at(0) == BKP_ROLE_CONTROL_DB);
  CHECK(bkp_role_at(1) == BKP_ROLE_LOG);
  CHECK(bkp_role_at(2) == BKP_ROLE_EVENTS);
  CHECK(bkp_role_at(3) == BKP_ROLE_SNAPSHOTS);
  CHECK(bkp_role_at(4) == 0);
  CHECK(strcmp(bkp_role_name(BKP_ROLE_CONTROL_DB), "control DB") == 0);
  CHECK(strcmp(bkp_role_name(BKP_ROLE_SNAPSHOTS), "snapshots") == 0);
  CHECK(strcmp(bkp_role_name(99), "unknown role") == 0);

  /* Phases run in this order although SNAPSHOTS (5) > FINISHING (4). */
  CHECK(BKP_PHASE_COUNT == 5);
  CHECK(bkp_phase_at(0) == BKP_PHASE_CONTROL_DB);
  CHECK(bkp_phase_at(1) == BKP_PHASE_LOG);
  CHECK(bkp_phase_at(2) == BKP_PHASE_EVENTS);
  CHECK(bkp_phase_at(3) == BKP_PHASE_SNAPSHOTS);
  CHECK(bkp_phase_at(4) == BKP_PHASE_FINISHING);
  CHECK(bkp_phase_at(5) == 0);
  CHECK(strcmp(bkp_phase_name(BKP_PHASE_FINISHING), "finishing") == 0);
  CHECK(strcmp(bkp_phase_name(0), "unknown phase") == 0);
  CHECK(bkp_role_phase(BKP_ROLE_SNAPSHOTS) == BKP_PHASE_SNAPSHOTS);
  CHECK(bkp_role_phase(BKP_ROLE_EVENTS) == BKP_PHASE_EVENTS);
  CHECK(bkp_role_phase(0) == 0);
}

int main(void) {
  test_write_error();
  test_negotiate();
  test_copy_versioned();
  test_v1_0_sizes();
  test_setting_string_dup();
  test_roles_and_phases();
  if (failures != 0) fprintf(stderr, "%d check(s) failed\n", failures);
  return failures > 100 ? 100 : failures;
}
