// xxHash for the engine, with XXH3 dispatched at run time to the widest
// vector unit the CPU has. Include this instead of <xxhash.h>.
//
// Why: Debian's libxxhash is built for baseline x86-64, so its plain XXH3
// entry points run the scalar/SSE2 code: 0.09 s per GiB streamed and
// 0.4 s per GiB hashed in KiB-sized pieces, on our 2-core machine. The same
// library exports XXH3_*_dispatch (xxh_x86dispatch.h), which picks AVX2 or
// AVX-512 once per process: 0.02 s and 0.06 s per GiB, the same hashes
// (XXH3's output does not depend on the code path). A restore hashes every
// byte it writes, and a backup every byte it reads, so this is a fifth of a
// restore's decoding time. Elsewhere (no dispatch header, another CPU) the
// plain functions remain.
//
// Thread-safety: as xxHash's (the dispatch choice is made once, safely).
#pragma once

#include <xxhash.h>

#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
// Replaces XXH3_64bits, XXH3_64bits_update, XXH3_128bits_update, ... by
// their dispatching twins, as macros.
#include <xxh_x86dispatch.h>
#endif
