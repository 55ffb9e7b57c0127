// Log compaction: deletes only segments wholly below the retention point,
// never the active one, nothing at all while a pin is held, and nothing a
// compaction floor (an archiver that has not yet archived it) holds.
#include <doctest/doctest.h>

#include <thread>

#include "host_stub/storage_test_util.h"
#include "storage/segment.h"
#include "test_support.h"

using namespace hoststub;
using namespace storage_test;
using testing_support::ListSorted;
using testing_support::TempDir;
namespace fs = std::filesystem;

namespace {

StorageOptions CompactingOptions(const fs::path& dir) {
  auto o = Options(dir);
  o.log_segment_bytes = 4096;
  o.log_retention_entries = 50;
  return o;
}

}  // namespace

TEST_CASE("compaction deletes only log segments wholly below the retention point") {
  TempDir dir;
  auto store = OpenOrFail(CompactingOptions(dir.path()));
  auto written = AppendNumbered(*store, "c", 300);
  auto before = store->Segments("c", StreamRole::kLog);
  REQUIRE(before.ok());
  REQUIRE(before->size() > 4);
  const uint64_t retention_point = 300 - 50;
  auto report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK_FALSE(report->pinned);
  CHECK_FALSE(report->deleted.empty());
  auto after = store->Segments("c", StreamRole::kLog);
  REQUIRE(after.ok());
  for (size_t i = 0; i < before->size(); ++i) {
    const auto& seg = (*before)[i];
    const bool wholly_below = i + 1 < before->size() && (*before)[i + 1].base <= retention_point;
    CAPTURE(seg.path);
    CHECK(fs::exists(seg.path) != wholly_below);
  }
  // The segment holding the retention point survives, so nothing at or above
  // it is gone.
  CHECK(after->front().base <= retention_point);
  auto state = store->State("c");
  REQUIRE(state.ok());
  CHECK(state->first_log_index == after->front().base);
  // Events are never compacted.
  CHECK(ReadAllPayloads(*store, "c") == written);
  // And the store reopens on the compacted log.
  store.reset();
  store = OpenOrFail(CompactingOptions(dir.path()));
  CHECK(store->State("c")->last_log_index == 300);
}

TEST_CASE("nothing is deleted while a pin is held") {
  TempDir dir;
  auto store = OpenOrFail(CompactingOptions(dir.path()));
  AppendNumbered(*store, "c", 300);
  const auto files_before = ListSorted(StreamDir(dir.path(), "c", "log"));
  {
    CompactionPin pin = store->PinCompaction();
    CHECK(store->CompactionPinned());
    auto report = store->CompactLogs();
    REQUIRE(report.ok());
    CHECK(report->pinned);
    CHECK(report->deleted.empty());
    CHECK(ListSorted(StreamDir(dir.path(), "c", "log")) == files_before);
    // A second pin, released first, does not unpin the first.
    { CompactionPin second = store->PinCompaction(); }
    CHECK(store->CompactionPinned());
    CHECK(store->CompactLogs()->deleted.empty());
  }
  CHECK_FALSE(store->CompactionPinned());
  auto report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK_FALSE(report->deleted.empty());
}

TEST_CASE("background compaction honours the pin") {
  TempDir dir;
  auto options = CompactingOptions(dir.path());
  options.compaction_interval = std::chrono::milliseconds(5);
  auto store = OpenOrFail(options);
  CompactionPin pin = store->PinCompaction();
  AppendNumbered(*store, "c", 300);
  const auto files_before = ListSorted(StreamDir(dir.path(), "c", "log"));
  // Appends keep going while pinned; the directory must not shrink. Checked
  // across many flusher ticks, bounded by count, not by a timing assertion.
  for (int i = 0; i < 50; ++i) {
    AppendNumbered(*store, "c", 2, "more");
    auto now = ListSorted(StreamDir(dir.path(), "c", "log"));
    REQUIRE(now.size() >= files_before.size());
    CHECK(now.front() == files_before.front());
  }
  pin = CompactionPin();
  // Once released the flusher compacts; wait for it with a deadline.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs::exists(files_before.front()) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  CHECK_FALSE(fs::exists(files_before.front()));
}

TEST_CASE("a compaction floor keeps the log its holder has not yet taken") {
  TempDir dir;
  auto store = OpenOrFail(CompactingOptions(dir.path()));
  AppendNumbered(*store, "c", 300);
  auto before = store->Segments("c", StreamRole::kLog);
  REQUIRE(before.ok());
  REQUIRE(before->size() > 4);
  const uint64_t retention_point = 300 - 50;
  size_t past_retention = 0;  // segments retention alone would delete
  while ((*before)[past_retention + 1].base <= retention_point) ++past_retention;
  REQUIRE(past_retention > 2);
  const auto files_before = ListSorted(StreamDir(dir.path(), "c", "log"));

  CompactionFloor floor = store->AddCompactionFloor();
  // Never raised for "c": all of its log stays.
  auto report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->deleted.empty());
  CHECK(report->kept_for_archive == past_retention);
  CHECK(ListSorted(StreamDir(dir.path(), "c", "log")) == files_before);

  // Raised to the third segment's base: the two below it go, nothing else,
  // though retention would allow more.
  floor.Raise("c", (*before)[2].base);
  report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->deleted == std::vector<fs::path>{(*before)[0].path, (*before)[1].path});
  CHECK(report->kept_for_archive == past_retention - 2);
  // A floor never goes down.
  floor.Raise("c", 1);
  report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->deleted.empty());
  CHECK(fs::exists((*before)[2].path));

  // Once the holder is gone, retention alone decides.
  floor = CompactionFloor();
  report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->kept_for_archive == 0);
  CHECK(report->deleted.size() == past_retention - 2);
}

TEST_CASE("compaction deletes no log until every expected floor is held, then the lowest wins") {
  TempDir dir;
  auto options = CompactingOptions(dir.path());
  options.compaction_floors = 2;
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "c", 300);
  auto segments = store->Segments("c", StreamRole::kLog);
  REQUIRE(segments.ok());
  REQUIRE(segments->size() > 4);

  CompactionFloor first = store->AddCompactionFloor();
  first.Raise("c", (*segments)[3].base);
  // The second archiver has not said how far it got: nothing goes.
  auto report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->deleted.empty());
  CHECK(report->kept_for_archive > 0);

  CompactionFloor second = store->AddCompactionFloor();
  second.Raise("c", (*segments)[1].base);
  report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->deleted == std::vector<fs::path>{(*segments)[0].path});

  // One floor gone again: back to holding everything.
  second = CompactionFloor();
  report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->deleted.empty());
  CHECK(fs::exists((*segments)[1].path));
}
