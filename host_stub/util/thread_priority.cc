// SCHED_IDLE through sched_setscheduler(0, ...), which on Linux acts on the
// calling thread, and the I/O idle class through the ioprio_set system call
// (glibc has no wrapper; the constants are those of linux/ioprio.h, which
// older kernel headers do not ship).
#include "util/thread_priority.h"

#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace hoststub {
namespace {

constexpr int kIoprioClassShift = 13;
constexpr int kIoprioClassIdle = 3;
constexpr int kIoprioWhoProcess = 1;  // with who = a thread id: that thread

int IoprioValue(int io_class, int data) { return (io_class << kIoprioClassShift) | data; }

}  // namespace

int CurrentThreadId() { return static_cast<int>(::syscall(SYS_gettid)); }

BackgroundPriority LowerCallingThreadToBackground() {
  BackgroundPriority out;
  sched_param param{};
  param.sched_priority = 0;
  if (::sched_setscheduler(0, SCHED_IDLE, &param) == 0) {
    out.cpu_idle = true;
  } else {
    out.cpu_error = fmt::format("sched_setscheduler(SCHED_IDLE): {}", std::strerror(errno));
  }
  // The I/O idle class: a request of this thread is served only when the
  // disk has had nothing else to do for a moment, by a scheduler that
  // honours classes (BFQ; mq-deadline since Linux 5.14 dispatches it last).
  if (::syscall(SYS_ioprio_set, kIoprioWhoProcess, 0, IoprioValue(kIoprioClassIdle, 0)) == 0) {
    out.io_idle = true;
  } else {
    out.io_error = fmt::format("ioprio_set(idle class): {}", std::strerror(errno));
  }
  return out;
}

Result<std::string> ThreadSchedulingPolicy(int tid) {
  const int policy = ::sched_getscheduler(tid);
  if (policy < 0) {
    return Status::IOError(fmt::format("sched_getscheduler({}): {}", tid, std::strerror(errno)));
  }
  switch (policy & ~SCHED_RESET_ON_FORK) {
    case SCHED_OTHER:
      return std::string("SCHED_OTHER");
    case SCHED_BATCH:
      return std::string("SCHED_BATCH");
    case SCHED_IDLE:
      return std::string("SCHED_IDLE");
    case SCHED_FIFO:
      return std::string("SCHED_FIFO");
    case SCHED_RR:
      return std::string("SCHED_RR");
    default:
      return fmt::format("policy {}", policy);
  }
}

Result<std::string> ThreadIoPriorityClass(int tid) {
  constexpr int kIoprioGet = SYS_ioprio_get;
  const long value = ::syscall(kIoprioGet, kIoprioWhoProcess, tid);
  if (value < 0) {
    return Status::IOError(fmt::format("ioprio_get({}): {}", tid, std::strerror(errno)));
  }
  switch (static_cast<int>(value) >> kIoprioClassShift) {
    case 0:
      return std::string("none");
    case 1:
      return std::string("rt");
    case 2:
      return std::string("be");
    case 3:
      return std::string("idle");
    default:
      return fmt::format("class {}", value >> kIoprioClassShift);
  }
}

}  // namespace hoststub
