/*
 * abi_layout_live.c - the live ABI header as a strict C99 compiler sees it:
 * proves bkp_plugin.h is C (built with -std=c99 -Wall -Wextra -Wpedantic
 * -Wpadded -Werror), asserts the 1.0 layout at compile time, and exports the
 * layout for the C++ test to compare with its own view.
 */
#include "bkp/bkp_plugin.h"

#define BKP_LAYOUT_VIEW_FN bkp_layout_live_c
#include "abi_layout_c.inc"
