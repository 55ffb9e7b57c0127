// The per-context swap protocol (storage/context_swap.h) across a crash:
// a swap whose marker is durable is finished by the next open of the
// store, one without a marker leaves the old context and loses its
// staging, and the safe policy never touches an existing context. Real
// segment files and control DBs; the crash is a swap stopped by a step
// that cannot succeed (a file where set-aside/ must go), as a SIGKILL
// there would leave it.
#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "host_stub/storage_test_util.h"
#include "storage/checker.h"
#include "storage/context_swap.h"
#include "storage/control_db.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using namespace hoststub;

namespace {

// DATA with contexts "c" (old-*) and "other"; a restored "c" (new-*, a
// different length) staged under DATA/.context-restore/; the plan for it.
struct Fixture {
  ts::TempDir dir;
  fs::path data = dir.path() / "data";
  fs::path staging = data / kContextRestoreDir / "staging-test";
  std::vector<std::string> old_c, new_c, other;
  ContextSwapPlan plan;

  Fixture() {
    {
      auto store = storage_test::OpenOrFail(storage_test::Options(data));
      old_c = storage_test::AppendNumbered(*store, "c", 30, "old");
      other = storage_test::AppendNumbered(*store, "other", 10, "other");
    }
    {
      auto store = storage_test::OpenOrFail(storage_test::Options(staging));
      new_c = storage_test::AppendNumbered(*store, "c", 12, "new");
    }
    plan.context = "c";
    plan.staged = staging / "contexts" / "c";
    auto db = ControlDb::Open(staging / "control.db");
    REQUIRE(db.ok());
    auto rows = (*db)->ExportContext("c");
    REQUIRE(rows.ok());
    plan.rows = *rows;
  }

  std::vector<std::string> Payloads(const std::string& context, std::vector<std::string>* notes) {
    auto store = storage_test::OpenOrFail(storage_test::Options(data));
    if (notes) *notes = store->RecoveryNotes();
    return storage_test::ReadAllPayloads(*store, context);
  }
};

bool AnyContains(const std::vector<std::string>& lines, const std::string& part) {
  for (const auto& l : lines) {
    if (ts::Contains(l, part)) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("context swap: a decided swap interrupted midway is finished by the next open") {
  Fixture f;
  f.plan.keep_old_aside = true;
  // set-aside/ cannot be made: the swap stops after its marker is durable.
  ts::WriteFile(f.data / kSetAsideDir, "in the way");
  {
    auto db = ControlDb::Open(f.data / "control.db");
    REQUIRE(db.ok());
    auto swapped = SwapInContext(f.data, **db, f.plan);
    REQUIRE_FALSE(swapped.ok());
  }
  REQUIRE(fs::exists(f.data / kContextRestoreDir / "swap"));
  fs::remove(f.data / kSetAsideDir);

  std::vector<std::string> notes;
  CHECK(f.Payloads("c", &notes) == f.new_c);
  CHECK(AnyContains(notes, "finished the restore of context 'c'"));
  CHECK(f.Payloads("other", nullptr) == f.other);
  CHECK_FALSE(fs::exists(f.data / kContextRestoreDir));
  // The old context is kept aside, whole.
  std::vector<fs::path> aside = ts::ListSorted(f.data / kSetAsideDir);
  REQUIRE(aside.size() == 1);
  CHECK(fs::is_directory(aside[0] / "log"));
  const CheckReport check = CheckDataDir(f.data);
  const std::string first = check.violations.empty() ? "" : check.violations.front();
  INFO(first);
  CHECK(check.ok());
}

TEST_CASE("context swap: staging without a marker is dropped and the old context stays") {
  Fixture f;
  std::vector<std::string> notes;
  CHECK(f.Payloads("c", &notes) == f.old_c);
  CHECK(AnyContains(notes, "ended before it was decided"));
  CHECK_FALSE(fs::exists(f.data / kContextRestoreDir));
  CHECK(CheckDataDir(f.data).ok());
}

TEST_CASE("context swap: done in one go, and the safe policy refuses an existing context") {
  Fixture f;
  {
    auto db = ControlDb::Open(f.data / "control.db");
    REQUIRE(db.ok());
    auto refused = SwapInContext(f.data, **db, f.plan);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == Status::Code::kRefused);
    CHECK(refused.status().message() == "context c already exists; use --as NEW or --policy force");
    CHECK_FALSE(fs::exists(f.data / kContextRestoreDir / "swap"));

    f.plan.keep_old_aside = true;
    auto swapped = SwapInContext(f.data, **db, f.plan);
    REQUIRE_MESSAGE(swapped.ok(), swapped.status().ToString());
    CHECK(swapped->parent_path() == f.data / kSetAsideDir);
    auto rows = (*db)->ExportContext("c");
    REQUIRE(rows.ok());
    CHECK(rows->state.commit_index == f.plan.rows.state.commit_index);
  }
  CHECK(f.Payloads("c", nullptr) == f.new_c);
  CHECK(f.Payloads("other", nullptr) == f.other);
  CHECK(CheckDataDir(f.data).ok());
}

TEST_CASE("context swap: in a running store, readers see the old context or the new, never a mix") {
  Fixture f;
  // Many events in many segments: a read of the old context takes long
  // enough for the swap to fall inside it now and then (without the swap
  // lock in Read this test fails about one run in three; a race, so it
  // cannot fail every time).
  StorageOptions options = storage_test::Options(f.data);
  options.event_segment_bytes = 256 << 10;
  options.log_segment_bytes = 256 << 10;
  auto store = storage_test::OpenOrFail(options);
  for (int i = 0; i < 300; ++i) {
    std::vector<std::string> batch;
    for (int j = 0; j < 1000; ++j) batch.push_back(fmt::format("old-more-{}-{}", i, j));
    REQUIRE(store->Append("c", batch).ok());
    f.old_c.insert(f.old_c.end(), batch.begin(), batch.end());
  }
  // Opening the store dropped the undecided staging: stage it again.
  {
    auto staged = storage_test::OpenOrFail(storage_test::Options(f.staging));
    f.new_c = storage_test::AppendNumbered(*staged, "c", 12, "new");
  }
  auto db = ControlDb::Open(f.staging / "control.db");
  REQUIRE(db.ok());
  auto rows = (*db)->ExportContext("c");
  REQUIRE(rows.ok());
  f.plan.rows = *rows;
  f.plan.keep_old_aside = true;

  std::atomic<bool> stop{false};
  std::atomic<int> mixed{0}, reads{0}, other_failures{0};
  auto reader = [&] {
    while (!stop) {
      auto events = store->Read("c", 0, 1'000'000);
      ++reads;
      if (!events.ok()) {
        ++mixed;
        continue;
      }
      std::vector<std::string> got;
      for (const auto& e : *events) got.push_back(e.payload);
      if (got != f.old_c && got != f.new_c) ++mixed;
    }
  };
  auto writer = [&] {
    while (!stop) {
      if (!store->Append("other", std::vector<std::string>{"o"}).ok()) ++other_failures;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(reader);
  threads.emplace_back(reader);
  threads.emplace_back(writer);

  REQUIRE(store->BeginContextRestore("c").ok());
  CHECK(store->BeginContextRestore("c").code() == Status::Code::kBusy);
  auto refused = store->Append("c", std::vector<std::string>{"during"});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Status::Code::kBusy);
  CHECK(ts::Contains(refused.status().message(), "context c is being restored"));
  const int before_swap = reads;
  auto aside = store->InstallRestoredContext(f.plan);
  REQUIRE_MESSAGE(aside.ok(), aside.status().ToString());
  store->EndContextRestore("c");
  while (reads < before_swap + 20) std::this_thread::yield();  // some after the swap too
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(mixed == 0);
  CHECK(other_failures == 0);
  CHECK(storage_test::ReadAllPayloads(*store, "c") == f.new_c);
  auto appended = store->Append("c", std::vector<std::string>{"after"});
  REQUIRE(appended.ok());
  CHECK(appended->first_token == 12);
  store.reset();
  CHECK(CheckDataDir(f.data).ok());
}

TEST_CASE("context swap: a new timeline in the marker is recorded, also when finished by an open") {
  Fixture f;
  f.plan.keep_old_aside = true;
  f.plan.timeline = TimelineInfo{3, R"({"timeline":3,"parent":2,"contexts":[]})"};
  ts::WriteFile(f.data / kSetAsideDir, "in the way");
  {
    auto db = ControlDb::Open(f.data / "control.db");
    REQUIRE(db.ok());
    REQUIRE_FALSE(SwapInContext(f.data, **db, f.plan).ok());
    auto timeline = (*db)->LoadTimeline();
    REQUIRE(timeline.ok());
    CHECK(timeline->timeline == 1);  // not yet: the swap stopped before its rows
  }
  CHECK(ts::Contains(ts::ReadFile(f.data / kContextRestoreDir / "swap"), "\ntimeline 3\n"));
  fs::remove(f.data / kSetAsideDir);
  CHECK(f.Payloads("c", nullptr) == f.new_c);
  auto db = ControlDb::Open(f.data / "control.db");
  REQUIRE(db.ok());
  auto timeline = (*db)->LoadTimeline();
  REQUIRE(timeline.ok());
  CHECK(timeline->timeline == 3);
  CHECK(timeline->history == f.plan.timeline->history);

  // A history that would break the marker's lines is refused up front.
  f.plan.timeline->history = "{\n}";
  auto refused = SwapInContext(f.data, **db, f.plan);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Status::Code::kInvalidArgument);
}
