// Storing lost objects again: the objects verify set aside as damaged,
// found missing, or found damaged but could not move yet (quarantine.h) that the repository still
// references (in a backup's manifest or an archive record), each stored again from the live host's
// bytes, so that every backup that references it is whole again. Every backup runs it first, before
// it plans what to reuse.
//
// An object is stored again only from the very bytes it held: the host's
// file of the same role, context and name must still hold the chunk's byte
// range, and those bytes must hash (XXH128) to the object's name before
// anything is written; a damaged object still in place is written over,
// and its pending record dropped. Closed segments are immutable, and an active one only
// grows, so their bytes usually are still there; a control DB snapshot or a
// compacted log segment is not, and stays damaged.
//
// Errors: throws bkp::Error for a failure of the source or the repository.
// An object that cannot be stored again is no error: the host's log says
// which and why (WARN), as it says each one stored again (INFO).
// Thread-safety: one job per repository at a time; the caller holds the
// repository's publish lock.
#pragma once

#include <cstdint>
#include <map>

#include "bkp/bkp_plugin.hpp"
#include "repo/manifest.h"
#include "repo/rate_limiter.h"
#include "repo/repository.h"

namespace repo {

// A file the host listed for this operation.
struct LiveFile {
  uint64_t id = 0;  // for bkp::Source::read
  uint64_t size = 0;
};
using LiveFiles = std::map<FileKey, LiveFile>;

struct RepairStats {
  uint64_t lost = 0;        // quarantined objects still referenced and missing
  uint64_t repaired = 0;    // of them, stored again
  uint64_t bytes_read = 0;  // read from the host
  uint64_t bytes_new = 0;   // stored bytes added
};

RepairStats StoreLostObjects(Repository& repository, const bkp::Source& source,
                             const LiveFiles& live, const bkp::Operation& op, const bkp::Host& host,
                             RateLimiter& limiter);

}  // namespace repo
