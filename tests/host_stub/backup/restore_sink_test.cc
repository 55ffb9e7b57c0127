// The restore sink: the order it enforces, safe and force policies, the
// staging directory, and the check before anything replaces the target.
#include <doctest/doctest.h>

#include <ctime>

#include "backup/backup_source.h"
#include "backup/restore_sink.h"
#include "host_stub/abi_test_util.h"
#include "host_stub/storage_test_util.h"
#include "test_support.h"

using namespace hoststub;
using namespace storage_test;
using namespace abi_test;
using testing_support::TempDir;
namespace fs = std::filesystem;

namespace {

// A backup of a small host with two contexts, several segments each.
std::vector<CopiedItem> SampleBackup(const TempDir& dir) {
  auto options = Options(dir / "source");
  options.event_segment_bytes = 4096;
  options.log_segment_bytes = 4096;
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "a", 300);
  AppendNumbered(*store, "b", 10);
  auto source = BackupSource::Create(*store, dir / "scratch");
  REQUIRE(source.ok());
  return CopyAll(source->get());
}

std::unique_ptr<RestoreSink> MakeSink(const fs::path& target,
                                      RestorePolicy policy = RestorePolicy::kSafe) {
  auto sink = RestoreSink::Create(target, policy);
  REQUIRE_MESSAGE(sink.ok(), sink.status().ToString());
  return std::move(*sink);
}

size_t FirstOfRole(const std::vector<CopiedItem>& items, uint32_t role) {
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].role == role) return i;
  }
  FAIL("no item of role " << role);
  return 0;
}

}  // namespace

TEST_CASE("sink: a backup fed in order restores to a directory the checker accepts") {
  TempDir dir;
  auto items = SampleBackup(dir);
  auto sink = MakeSink(dir / "target");
  std::string error;
  for (const auto& item : items) REQUIRE_MESSAGE(Feed(sink.get(), item, &error) == BKP_OK, error);
  auto report = sink->Commit(Options(dir / "unused"));
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->files == items.size());
  CHECK(report->check.ok());
  CHECK_FALSE(fs::exists(sink->staging_dir()));
  auto restored = OpenOrFail(Options(dir / "target"));
  CHECK(restored->State("a")->next_event_token == 300);
  CHECK(restored->State("b")->next_event_token == 10);
}

TEST_CASE("sink: anything out of order is refused and poisons the sink") {
  TempDir dir;
  auto items = SampleBackup(dir);
  const size_t log = FirstOfRole(items, BKP_ROLE_LOG);
  const size_t events = FirstOfRole(items, BKP_ROLE_EVENTS);
  auto sink = MakeSink(dir / "target");
  std::string error;
  SUBCASE("log before the control DB") {
    CHECK(Feed(sink.get(), items[log], &error) == BKP_E_OUT_OF_ORDER);
    CHECK(error.find("before the control DB") != std::string::npos);
    // The whole order, as bkp_plugin.h states it.
    CHECK(error.find("control DB first, then log, then events, then snapshots") !=
          std::string::npos);
  }
  SUBCASE("log after events") {
    REQUIRE(Feed(sink.get(), items[0], &error) == BKP_OK);
    REQUIRE(Feed(sink.get(), items[events], &error) == BKP_OK);
    CHECK(Feed(sink.get(), items[log], &error) == BKP_E_OUT_OF_ORDER);
    CHECK(error.find("log item") != std::string::npos);
    CHECK(error.find("after events items") != std::string::npos);
  }
  SUBCASE("a second control DB") {
    REQUIRE(Feed(sink.get(), items[0], &error) == BKP_OK);
    CHECK(Feed(sink.get(), items[0], &error) == BKP_E_OUT_OF_ORDER);
  }
  SUBCASE("segments of one stream in descending order") {
    REQUIRE(Feed(sink.get(), items[0], &error) == BKP_OK);
    REQUIRE(items[log + 1].role == BKP_ROLE_LOG);
    REQUIRE(items[log + 1].context == items[log].context);
    REQUIRE(Feed(sink.get(), items[log + 1], &error) == BKP_OK);
    CHECK(Feed(sink.get(), items[log], &error) == BKP_E_OUT_OF_ORDER);
    CHECK(error.find("ascending") != std::string::npos);
  }
  SUBCASE("begin while an item is open, write and end with none") {
    char err[256] = "";
    bkp_item control = ItemOf(items[0]);
    REQUIRE(Services().sink_begin(sink.get(), &control, err, sizeof err) == BKP_OK);
    bkp_item next = ItemOf(items[log]);
    CHECK(Services().sink_begin(sink.get(), &next, err, sizeof err) == BKP_E_OUT_OF_ORDER);
    CHECK(std::string(err).find("still open") != std::string::npos);
  }
  SUBCASE("more or fewer bytes than announced") {
    char err[256] = "";
    bkp_item control = ItemOf(items[0]);
    REQUIRE(Services().sink_begin(sink.get(), &control, err, sizeof err) == BKP_OK);
    REQUIRE(Services().sink_write(sink.get(), items[0].bytes.data(), 10, err, sizeof err) ==
            BKP_OK);
    CHECK(Services().sink_end(sink.get(), err, sizeof err) == BKP_E_INVALID_ARGUMENT);
    CHECK(std::string(err).find("ended after 10 of") != std::string::npos);
  }
  SUBCASE("a name that is not the segment's canonical name") {
    REQUIRE(Feed(sink.get(), items[0], &error) == BKP_OK);
    CopiedItem evil = items[log];
    evil.name = "../../../escape.log";
    CHECK(Feed(sink.get(), evil, &error) == BKP_E_INVALID_ARGUMENT);
    CHECK_FALSE(fs::exists(dir / "escape.log"));
  }
  // Whatever went wrong, the sink stays refused and the target untouched.
  CHECK(Feed(sink.get(), items[0], &error) == BKP_E_OUT_OF_ORDER);
  CHECK_FALSE(sink->Commit(Options(dir / "unused")).ok());
  CHECK_FALSE(fs::exists(dir / "target"));
}

TEST_CASE("sink: an incomplete restore changes nothing") {
  TempDir dir;
  auto items = SampleBackup(dir);
  fs::create_directories(dir / "target");
  testing_support::WriteFile(dir / "target" / "keep.txt", "precious");
  {
    auto sink = MakeSink(dir / "target", RestorePolicy::kForce);
    std::string error;
    REQUIRE(Feed(sink.get(), items[0], &error) == BKP_OK);
    // The provider fails here: Commit is never called.
  }
  CHECK(testing_support::ReadFile(dir / "target" / "keep.txt") == "precious");
  // No staging directory is left behind.
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    CHECK(entry.path().filename().string().find("restore-staging") == std::string::npos);
  }
}

TEST_CASE("sink: the safe policy refuses a non-empty target, force keeps it aside") {
  TempDir dir;
  auto items = SampleBackup(dir);
  fs::create_directories(dir / "target");
  testing_support::WriteFile(dir / "target" / "old.txt", "old data");
  auto refused = RestoreSink::Create(dir / "target", RestorePolicy::kSafe);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.status().code() == Status::Code::kRefused);
  CHECK(refused.status().message().find("not empty") != std::string::npos);
  CHECK(refused.status().message().find("force") != std::string::npos);

  auto sink = MakeSink(dir / "target", RestorePolicy::kForce);
  std::string error;
  for (const auto& item : items) REQUIRE(Feed(sink.get(), item, &error) == BKP_OK);
  auto report = sink->Commit(Options(dir / "unused"));
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  REQUIRE_FALSE(report->previous_moved_to.empty());
  CHECK(testing_support::ReadFile(report->previous_moved_to / "old.txt") == "old data");
  CHECK(fs::exists(dir / "target" / "control.db"));
}

TEST_CASE("sink: forced restores in the same second each keep the previous target aside") {
  TempDir dir;
  auto items = SampleBackup(dir);
  const fs::path target = dir / "target";
  fs::create_directories(target);
  testing_support::WriteFile(target / "old.txt", "first");
  // What a forced restore earlier in this second (or the next few, should
  // the clock tick meanwhile) left: the set-aside name of the second is taken.
  for (int ahead = 0; ahead < 5; ++ahead) {
    const std::time_t t = std::time(nullptr) + ahead;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    const fs::path taken = target.string() + ".before-restore-" + stamp;
    fs::create_directories(taken);
    testing_support::WriteFile(taken / "earlier.txt", "earlier");
  }
  std::vector<fs::path> moved;
  for (const char* content : {"first", "second"}) {
    if (moved.size() == 1) testing_support::WriteFile(target / "old.txt", content);
    auto sink = MakeSink(target, RestorePolicy::kForce);
    std::string error;
    for (const auto& item : items) REQUIRE(Feed(sink.get(), item, &error) == BKP_OK);
    auto report = sink->Commit(Options(dir / "unused"));
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    REQUIRE_FALSE(report->previous_moved_to.empty());
    CHECK(testing_support::ReadFile(report->previous_moved_to / "old.txt") == content);
    moved.push_back(report->previous_moved_to);
  }
  CHECK(moved[0] != moved[1]);
  // The earlier set-aside directories are untouched.
  size_t earlier = 0;
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    if (fs::exists(entry.path() / "earlier.txt")) ++earlier;
  }
  CHECK(earlier == 5);
}

TEST_CASE("sink: a target held by a running host is refused under any policy") {
  TempDir dir;
  auto running = OpenOrFail(Options(dir / "target"));
  for (auto policy : {RestorePolicy::kSafe, RestorePolicy::kForce}) {
    auto sink = RestoreSink::Create(dir / "target", policy);
    REQUIRE_FALSE(sink.ok());
    CHECK(sink.status().code() == Status::Code::kBusy);
    CHECK(sink.status().message().find("running host") != std::string::npos);
  }
}

TEST_CASE("sink: restored data that fails the consistency check never replaces the target") {
  TempDir dir;
  auto items = SampleBackup(dir);
  // Drop a closed event segment from the middle: a token gap.
  size_t events = FirstOfRole(items, BKP_ROLE_EVENTS);
  REQUIRE(items[events + 1].role == BKP_ROLE_EVENTS);
  REQUIRE(items[events + 1].closed);
  REQUIRE(items[events + 2].context == items[events].context);
  items.erase(items.begin() + static_cast<long>(events + 1));
  auto sink = MakeSink(dir / "target");
  std::string error;
  for (const auto& item : items) REQUIRE(Feed(sink.get(), item, &error) == BKP_OK);
  auto report = sink->Commit(Options(dir / "unused"));
  REQUIRE_FALSE(report.ok());
  CHECK(report.status().code() == Status::Code::kCorruption);
  CHECK_FALSE(fs::exists(dir / "target"));
}

TEST_CASE("a second store on a locked data directory is refused as busy") {
  TempDir dir;
  auto first = OpenOrFail(Options(dir / "data"));
  auto second = EventStore::Open(Options(dir / "data"));
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().code() == Status::Code::kBusy);
  CHECK(second.status().message().find("in use") != std::string::npos);
}
