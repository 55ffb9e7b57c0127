/*
 * abi_layout.h - what the C layout translation units (abi_layout_live.c,
 * abi_layout_frozen.c) export to the C++ layout test: the ABI 1.0 struct
 * layout and constants exactly as a C compiler saw them, one table per
 * header. Tables are static; nothing is allocated.
 */
#ifndef BKP_TESTS_ABI_LAYOUT_H
#define BKP_TESTS_ABI_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One row per struct (field NULL, size = sizeof the struct) followed by one
 * row per field, in the order of abi_v1_0_layout.def. */
typedef struct bkp_layout_row {
  const char* type;
  const char* field;
  size_t offset;
  size_t size;
} bkp_layout_row;

typedef struct bkp_constant_row {
  const char* name;
  uint64_t value;
} bkp_constant_row;

/* Everything one header looks like to C. */
typedef struct bkp_header_view {
  const char* entry_name; /* BKP_PLUGIN_ENTRY_NAME */
  const bkp_layout_row* layout;
  size_t layout_count;
  const bkp_constant_row* constants;
  size_t constant_count;
  uint32_t abi_version; /* BKP_ABI_VERSION */
  uint32_t unused;      /* explicit, so -Wpadded stays quiet */
} bkp_header_view;

/* The live header, plugin_api/include/bkp/bkp_plugin.h. */
bkp_header_view bkp_layout_live_c(void);
/* The frozen copy, tests/plugin_api/frozen/bkp_plugin_v1_0.h. */
bkp_header_view bkp_layout_frozen_c(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* BKP_TESTS_ABI_LAYOUT_H */
