// Background priority for the calling thread: the CPU scheduler's idle
// class (SCHED_IDLE) and the I/O idle class (ioprio), so that work which can
// wait (a hot backup) never takes the CPU, or a place in the disk's queue,
// from work that cannot (appends).
//
// Both settings are the calling thread's own (Linux schedules threads, not
// processes) and are inherited by every thread it creates afterwards: a
// provider's worker threads, started inside the call the lowered thread
// makes, run at the same priority without the provider knowing. They are
// one-way: an unprivileged thread cannot leave SCHED_IDLE again
// (RLIMIT_NICE), so only a thread that ends with its task (one backup's
// worker) may be lowered.
//
// Thread-safety: each call acts on the calling thread only.
#pragma once

#include <string>

#include "util/status.h"

namespace hoststub {

// What the calling thread was given; each part says why it is missing.
struct BackgroundPriority {
  bool cpu_idle = false;  // SCHED_IDLE
  bool io_idle = false;   // IOPRIO_CLASS_IDLE
  std::string cpu_error;  // empty when cpu_idle
  std::string io_error;   // empty when io_idle
};

// Lowers the calling thread to SCHED_IDLE and the I/O idle class. Never
// fails as a whole: a refused part (a seccomp filter, a kernel without the
// call) is reported in the result, and the thread runs on as it was for
// that part.
BackgroundPriority LowerCallingThreadToBackground();

// The scheduling policy of thread `tid` of this process, as its name
// ("SCHED_OTHER", "SCHED_IDLE", ...), or an error naming what could not be
// read. For tests and diagnostics.
Result<std::string> ThreadSchedulingPolicy(int tid);

// The I/O priority class of thread `tid` of this process ("none", "rt",
// "be", "idle"), or an error.
Result<std::string> ThreadIoPriorityClass(int tid);

// The calling thread's id (gettid).
int CurrentThreadId();

}  // namespace hoststub
