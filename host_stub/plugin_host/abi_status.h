// Conversions between the host's Status and the ABI's bkp_status, the names
// of bkp_status codes for messages, and reading a versioned struct a plugin
// handed over.
//
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>

#include "bkp/bkp_plugin.h"
#include "bkp/bkp_plugin.hpp"
#include "util/status.h"

namespace hoststub {

// "BKP_E_BROKEN_CHAIN", ...; "BKP_E_<n>" for a code this host does not know.
std::string BkpStatusName(bkp_status status);

// "control DB", "log", "events", "snapshots" for BKP_ROLE_*, for messages.
const char* BkpRoleName(uint32_t role);

// The ABI code that fits a failed Status (BKP_OK for OK).
bkp_status ToBkpStatus(const Status& status);

// A failed Status carrying `message` and the code's name, for a failure a
// plugin reported; the Status code is the nearest host category.
Status FromBkpStatus(bkp_status status, const std::string& message);

// A struct a plugin passed in (bkp_backup_info, bkp_archive_position, ...)
// may be older, hence shorter, than the host's: reads no more than its
// struct_size declares, into a zeroed copy. NULL gives a zeroed struct.
template <typename T>
T CopyVersioned(const T* given) {
  return bkp::copy_versioned(given);
}

}  // namespace hoststub
