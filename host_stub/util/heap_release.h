// ReleaseFreedHeap: hands the heap memory the process has freed back to the
// kernel.
//
// Why: a backup, verify or restore of a host with tens of thousands of
// segments allocates and frees tens of MiB (the manifests, the file lists)
// on threads of its own. glibc's allocator keeps what a thread freed in
// that thread's arena, mapped and counted in the host's RSS, until
// something asks for it back: after a few operations the idle host held
// 170 MiB for 60 MiB of live data (issue 23). The host calls this when an
// operation ends, so each starts from what the host really uses.
//
// Errors: none (best effort). Thread-safety: any thread; it takes each
// arena's lock in turn, so allocations elsewhere wait for the moment it
// works on theirs (milliseconds).
#pragma once

namespace hoststub {

void ReleaseFreedHeap();

}  // namespace hoststub
