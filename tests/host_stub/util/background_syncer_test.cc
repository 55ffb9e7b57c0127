// BackgroundSyncer: every file added is synced and closed by Finish, a
// failing sync is reported, naming its file, rather than lost on the
// syncer's threads, and the files it holds open at a time are bounded.
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "test_support.h"
#include "util/background_syncer.h"
#include "util/file.h"

namespace fs = std::filesystem;
using hoststub::BackgroundSyncer;
using hoststub::File;

TEST_CASE("background syncer: files are synced in the background, a failure is reported") {
  testing_support::TempDir dir;
  BackgroundSyncer syncer;
  CHECK(syncer.Finish().ok());  // nothing added: nothing to wait for

  for (int i = 0; i < 20; ++i) {
    auto file = File::Open(dir.path() / ("f" + std::to_string(i)), File::Mode::kCreateNew);
    REQUIRE(file.ok());
    REQUIRE((*file)->PWriteAll("data", 4, 0).ok());
    CHECK(syncer.Add(std::move(*file)).ok());
  }
  CHECK(syncer.Finish().ok());

  // fdatasync of a FIFO fails (EINVAL): the error comes back from Finish.
  const fs::path fifo = dir.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto pipe = File::Open(fifo, File::Mode::kReadWrite);
  REQUIRE(pipe.ok());
  CHECK(syncer.Add(std::move(*pipe)).ok());
  auto file = File::Open(dir.path() / "after", File::Mode::kCreateNew);
  REQUIRE(file.ok());
  (void)syncer.Add(std::move(*file));  // may see the failure already, or not yet
  const hoststub::Status st = syncer.Finish();
  CHECK_FALSE(st.ok());
  CHECK_MESSAGE(st.message().find(fifo.string()) != std::string::npos, st.message());

  // Once a sync failed, Add reports it too: the restore stops at the next
  // file instead of writing the rest for nothing.
  auto later = File::Open(dir.path() / "later", File::Mode::kCreateNew);
  REQUIRE(later.ok());
  const hoststub::Status again = syncer.Add(std::move(*later));
  CHECK_FALSE(again.ok());
  CHECK_MESSAGE(again.message().find(fifo.string()) != std::string::npos, again.message());
}

// However many files pass through, the syncer holds at most threads +
// max_waiting of them open at a time: Add waits for room.
TEST_CASE("background syncer: the files it holds open are bounded, not the files added") {
  testing_support::TempDir dir;
  auto open_fds = [] {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  const size_t before = open_fds();
  size_t most = 0;
  {
    BackgroundSyncer syncer(2, 3);
    for (int i = 0; i < 200; ++i) {
      auto file = File::Open(dir.path() / ("f" + std::to_string(i)), File::Mode::kCreateNew);
      REQUIRE(file.ok());
      REQUIRE((*file)->PWriteAll("data", 4, 0).ok());
      REQUIRE(syncer.Add(std::move(*file)).ok());
      most = std::max(most, open_fds());
    }
    CHECK(syncer.Finish().ok());
    CHECK(open_fds() == before);
  }
  // 2 syncing + 3 waiting (`before` counts the listing's own descriptor).
  CHECK_MESSAGE(most <= before + 2 + 3, "held " << most - before << " open");
}

// Abandon closes every file it holds before it returns: the restore sink
// removes its staging right after, which needs descriptors of its own.
TEST_CASE("background syncer: abandon closes what it holds and takes no more") {
  testing_support::TempDir dir;
  BackgroundSyncer syncer(1, 8);
  for (int i = 0; i < 8; ++i) {
    auto file = File::Open(dir.path() / ("f" + std::to_string(i)), File::Mode::kCreateNew);
    REQUIRE(file.ok());
    REQUIRE(syncer.Add(std::move(*file)).ok());
  }
  syncer.Abandon();
  auto file = File::Open(dir.path() / "late", File::Mode::kCreateNew);
  REQUIRE(file.ok());
  CHECK(syncer.Add(std::move(*file)).code() == hoststub::Status::Code::kCancelled);
}

// Out of descriptors, the message names the limit and how to raise it, not
// only "Too many open files".
TEST_CASE("file: EMFILE names the RLIMIT_NOFILE limit and how to raise it") {
  testing_support::TempDir dir;
  // The lowest free descriptor number: a limit of it leaves none free.
  const int lowest_free = ::dup(0);
  REQUIRE(lowest_free >= 0);
  ::close(lowest_free);
  const auto open_now = static_cast<rlim_t>(lowest_free);
  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  rlimit lowered = before;
  lowered.rlim_cur = open_now;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  auto file = File::Open(dir.path() / "one-too-many", File::Mode::kCreateNew);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);
  REQUIRE_FALSE(file.ok());
  const std::string& msg = file.status().message();
  CHECK_MESSAGE(msg.find("one-too-many") != std::string::npos, msg);
  CHECK_MESSAGE(
      msg.find("limit of " + std::to_string(open_now) + " open files") != std::string::npos, msg);
  CHECK_MESSAGE(msg.find("LimitNOFILE=") != std::string::npos, msg);
}
