// LowerCallingThreadToBackground on real threads: the kernel's own answer
// (sched_getscheduler, ioprio_get) for the lowered thread, for a thread it
// starts afterwards (a provider's worker), and for the threads it must not
// touch.
#include "util/thread_priority.h"

#include <doctest/doctest.h>

#include <string>
#include <thread>

using namespace hoststub;

namespace {

struct Seen {
  std::string policy;
  std::string io_class;
};

Seen Observe(int tid) {
  Result<std::string> policy = ThreadSchedulingPolicy(tid);
  Result<std::string> io = ThreadIoPriorityClass(tid);
  REQUIRE_MESSAGE(policy.ok(), policy.status().ToString());
  REQUIRE_MESSAGE(io.ok(), io.status().ToString());
  return {*policy, *io};
}

}  // namespace

TEST_CASE("thread priority: a lowered thread and the threads it starts run in the idle classes") {
  const int main_tid = CurrentThreadId();
  const Seen main_before = Observe(main_tid);
  REQUIRE(main_before.policy == "SCHED_OTHER");

  BackgroundPriority got;
  Seen lowered, child, sibling;
  std::thread worker([&] {
    got = LowerCallingThreadToBackground();
    lowered = Observe(CurrentThreadId());
    // Started after the call, like a provider's workers inside its backup.
    std::thread inner([&] { child = Observe(CurrentThreadId()); });
    inner.join();
  });
  worker.join();
  std::thread later([&] { sibling = Observe(CurrentThreadId()); });
  later.join();

  INFO(got.cpu_error << " / " << got.io_error);
  CHECK(got.cpu_idle);
  CHECK(got.io_idle);
  CHECK(lowered.policy == "SCHED_IDLE");
  CHECK(lowered.io_class == "idle");
  CHECK(child.policy == "SCHED_IDLE");
  CHECK(child.io_class == "idle");
  // Neither the thread that started the lowered one, nor a thread it starts
  // later, is touched.
  CHECK(Observe(main_tid).policy == main_before.policy);
  CHECK(Observe(main_tid).io_class == main_before.io_class);
  CHECK(sibling.policy == "SCHED_OTHER");
  CHECK(sibling.io_class != "idle");
}

TEST_CASE("thread priority: an unknown thread id is an error naming the call") {
  Result<std::string> policy = ThreadSchedulingPolicy(0x3fffffff);
  REQUIRE_FALSE(policy.ok());
  CHECK(policy.status().message().find("sched_getscheduler") != std::string::npos);
  Result<std::string> io = ThreadIoPriorityClass(0x3fffffff);
  REQUIRE_FALSE(io.ok());
  CHECK(io.status().message().find("ioprio_get") != std::string::npos);
}
