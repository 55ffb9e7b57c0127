/*
 * abi_layout_frozen.c - the frozen 1.0 header as a strict C99 compiler sees
 * it, exported so the C++ test can check that the live header keeps every
 * 1.0 field, size and constant. Built without the live header's include
 * directory, so it cannot pick the live header up by accident.
 */
#include "bkp_plugin_v1_0.h"

#if defined(__has_include)
#if __has_include(<bkp/bkp_plugin.h>)
#error "the live ABI header is on this translation unit's include path; only frozen/ may be"
#endif
#endif

typedef char bkp_frozen_is_1_0[BKP_ABI_VERSION == BKP_MAKE_VERSION(1, 0) ? 1 : -1];

#define BKP_LAYOUT_VIEW_FN bkp_layout_frozen_c
#include "abi_layout_c.inc"
