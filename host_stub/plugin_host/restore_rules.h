// What the host's restore sink accepts of one item on its own, apart from
// the order of the items and their sizes (restore_sink.h): a known role; the
// control DB without a context; a segment of a valid context, named as this
// host names the segment of its base. These are the host's rules (its file
// and context names), defined here once: the sink enforces them, and a
// provider's verify asks for them through bkp_host_services.
// restore_item_check, so that a backup verify passes is one the sink takes.
//
// Thread-safety: pure functions.
#pragma once

#include <filesystem>

#include "bkp/bkp_plugin.h"
#include "util/status.h"

namespace hoststub {

// Where `item` is restored, relative to the data directory; or
// InvalidArgument naming the item and what is wrong with it. `item` is
// read as is (the caller copies a plugin's struct by its struct_size).
Result<std::filesystem::path> RestoredPath(const bkp_item& item);

}  // namespace hoststub
