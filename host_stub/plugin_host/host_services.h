// The host services table handed to every provider at open: logging,
// settings, progress and cancellation, the backup source and the restore
// sink, each entry a noexcept C function that forwards to the host object
// behind the handle and turns any C++ exception into a status and message.
//
// Thread-safety: the table is immutable; each function is as thread-safe as
// the handle it is called on (see host_handles.h, and for the source and
// sink the header of their implementation).
#pragma once

#include "bkp/bkp_plugin.h"

namespace hoststub {

// The one table, version BKP_ABI_VERSION; static storage, never freed.
const bkp_host_services* HostServices();

}  // namespace hoststub
