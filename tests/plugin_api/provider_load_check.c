/*
 * provider_load_check.c - loads one provider library the way the host does
 * (dlopen RTLD_NOW | RTLD_LOCAL, dlsym bkp_plugin_entry, negotiate at this
 * header's version) and checks the table's basic promises: name as
 * expected, open/close present, a callback for every capability bit. For
 * the out-of-tree test, which must not depend on the host being built.
 *
 * Usage: provider_load_check <library.so> <expected provider name>
 * Exit 0 and one line "loaded <name> <version> capabilities 0x<bits>", or 1
 * and the reason on stderr.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "bkp/bkp_plugin.h"

static int fail(const char* path, const char* why) {
  fprintf(stderr, "provider_load_check: %s: %s\n", path, why);
  return 1;
}

int main(int argc, char** argv) {
  const char* path;
  void* library;
  void* symbol;
  bkp_plugin_entry_fn entry;
  bkp_entry_args args;
  char reason[512] = "";
  const bkp_provider* p;
  static const struct {
    uint64_t bit;
    size_t offset;
    const char* name;
  } callbacks[] = {
      {BKP_CAP_BACKUP, offsetof(bkp_provider, backup), "backup"},
      {BKP_CAP_RESTORE, offsetof(bkp_provider, restore), "restore"},
      {BKP_CAP_LIST, offsetof(bkp_provider, list), "list"},
      {BKP_CAP_VERIFY, offsetof(bkp_provider, verify), "verify"},
      {BKP_CAP_REMOVE, offsetof(bkp_provider, remove), "remove"},
      {BKP_CAP_EXPIRE, offsetof(bkp_provider, expire), "expire"},
  };
  size_t i;

  if (argc != 3) {
    fprintf(stderr, "usage: provider_load_check <library.so> <expected provider name>\n");
    return 2;
  }
  path = argv[1];
  library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) return fail(path, dlerror());
  symbol = dlsym(library, BKP_PLUGIN_ENTRY_NAME);
  if (symbol == NULL) return fail(path, dlerror());
  /* POSIX guarantees a dlsym'd function address converts; C99 does not say. */
  memcpy(&entry, &symbol, sizeof entry);

  memset(&args, 0, sizeof args);
  args.struct_size = sizeof args;
  args.host_abi_version = BKP_ABI_VERSION;
  args.error = reason;
  args.error_len = sizeof reason;
  p = entry(&args);
  if (p == NULL) return fail(path, reason[0] != '\0' ? reason : "entry refused without a reason");
  if (p->struct_size < offsetof(bkp_provider, expire) + sizeof p->expire) {
    return fail(path, "provider table smaller than ABI 1.0's");
  }
  if (BKP_VERSION_MAJOR(p->abi_version) != BKP_ABI_VERSION_MAJOR) {
    return fail(path, "provider table built for another ABI major");
  }
  if (p->name == NULL || strcmp(p->name, argv[2]) != 0) {
    fprintf(stderr, "provider_load_check: %s: provider is named '%s', expected '%s'\n", path,
            p->name != NULL ? p->name : "(null)", argv[2]);
    return 1;
  }
  if (p->open == NULL || p->close == NULL) return fail(path, "open or close is NULL");
  for (i = 0; i < sizeof callbacks / sizeof callbacks[0]; ++i) {
    void* fn;
    memcpy(&fn, (const char*)p + callbacks[i].offset, sizeof fn);
    if ((p->capabilities & callbacks[i].bit) != 0 && fn == NULL) {
      fprintf(stderr, "provider_load_check: %s: capability %s announced but its callback is NULL\n",
              path, callbacks[i].name);
      return 1;
    }
  }
  printf("loaded %s %s capabilities 0x%llx\n", p->name, p->version != NULL ? p->version : "?",
         (unsigned long long)p->capabilities);
  dlclose(library);
  return 0;
}
