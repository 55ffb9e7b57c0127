// ReleaseFreedHeap (see heap_release.h).
#include "util/heap_release.h"

#include <cstdlib>  // defines __GLIBC__ on glibc

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace hoststub {

void ReleaseFreedHeap() {
#if defined(__GLIBC__)
  // 0: keep no slack at the top of the main heap; every arena's free pages
  // are returned with MADV_DONTNEED, not only those at its end.
  ::malloc_trim(0);
#endif
}

}  // namespace hoststub
