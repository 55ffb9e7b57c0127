// Recovery on open: torn tails are truncated at the last whole record, damage
// in a closed segment is refused with file and offset, and the log and event
// streams are brought back in step.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "host_stub/storage_test_util.h"
#include "storage/checker.h"
#include "storage/record.h"
#include "storage/segment.h"
#include "test_support.h"

using namespace hoststub;
using namespace storage_test;
using testing_support::FlipByte;
using testing_support::ListSorted;
using testing_support::TempDir;
namespace fs = std::filesystem;

namespace {

// Offsets at which each record of a segment starts, plus the file's end.
std::vector<uint64_t> RecordOffsets(const fs::path& segment, StreamRole kind) {
  std::vector<uint64_t> offsets;
  auto base = ParseSegmentFileName(kind, segment.filename().string());
  REQUIRE(base.has_value());
  auto scan = ScanSegment(segment, kind, *base, [&](uint64_t offset, std::string_view) {
    offsets.push_back(offset);
    return true;
  });
  REQUIRE(scan.ok());
  REQUIRE(scan->clean());
  offsets.push_back(scan->file_size);
  return offsets;
}

void CopyTree(const fs::path& from, const fs::path& to) {
  fs::remove_all(to);
  fs::copy(from, to, fs::copy_options::recursive);
}

}  // namespace

TEST_CASE("torn log tail: recovery keeps exactly the whole entries before the tear") {
  TempDir dir;
  const fs::path pristine = dir / "pristine";
  std::vector<std::string> written;
  {
    auto store = OpenOrFail(Options(pristine));
    written = AppendNumbered(*store, "c", 12);
  }
  const fs::path log_segment = ListSorted(StreamDir(pristine, "c", "log")).back();
  const auto offsets = RecordOffsets(log_segment, StreamRole::kLog);
  REQUIRE(offsets.size() == 13);
  const fs::path work = dir / "work";
  // Every byte offset inside the last three entries.
  for (uint64_t cut = offsets[9]; cut < offsets.back(); ++cut) {
    if (!testing_support::TakeCutOffset(cut, offsets)) continue;
    CAPTURE(cut);
    CopyTree(pristine, work);
    fs::resize_file(StreamDir(work, "c", "log") / log_segment.filename(), cut);
    auto store = OpenOrFail(Options(work));
    size_t whole = 0;
    while (whole + 1 < offsets.size() && offsets[whole + 1] <= cut) ++whole;
    auto state = store->State("c");
    REQUIRE(state.ok());
    CHECK(state->last_log_index == whole);
    // The events of the lost entries ran ahead of the log and were cut back.
    auto payloads = ReadAllPayloads(*store, "c");
    CHECK(payloads ==
          std::vector<std::string>(written.begin(), written.begin() + static_cast<long>(whole)));
    auto next = store->Append("c", std::vector<std::string>{"next"});
    REQUIRE(next.ok());
    CHECK(next->log_index == whole + 1);
    CHECK(next->first_token == whole);
  }
}

TEST_CASE("torn event tail: the events are re-applied from the log") {
  TempDir dir;
  const fs::path pristine = dir / "pristine";
  std::vector<std::string> written;
  {
    auto store = OpenOrFail(Options(pristine));
    written = AppendNumbered(*store, "c", 10);
  }
  const fs::path seg = ListSorted(StreamDir(pristine, "c", "events")).back();
  const auto offsets = RecordOffsets(seg, StreamRole::kEvents);
  const fs::path work = dir / "work";
  for (uint64_t cut = offsets[7]; cut < offsets.back(); ++cut) {
    CAPTURE(cut);
    CopyTree(pristine, work);
    fs::resize_file(StreamDir(work, "c", "events") / seg.filename(), cut);
    auto store = OpenOrFail(Options(work));
    CHECK(ReadAllPayloads(*store, "c") == written);
    bool noted = false;
    for (const auto& n : store->RecoveryNotes()) noted |= n.find("applied") != std::string::npos;
    CHECK(noted);
  }
}

TEST_CASE("a flipped byte in a closed segment is refused with file and offset") {
  TempDir dir;
  auto options = Options(dir.path());
  options.event_segment_bytes = 4096;
  {
    auto store = OpenOrFail(options);
    AppendNumbered(*store, "c", 150);
  }
  auto segments = ListSorted(StreamDir(dir.path(), "c", "events"));
  REQUIRE(segments.size() >= 3);
  const fs::path closed = segments[1];
  const auto offsets = RecordOffsets(closed, StreamRole::kEvents);
  const uint64_t bad_record = offsets[3];
  FlipByte(closed, bad_record + kRecordHeaderSize + 10);  // inside the payload
  const auto size_before = fs::file_size(closed);
  auto store = EventStore::Open(options);
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().code() == Status::Code::kCorruption);
  const std::string& msg = store.status().message();
  CHECK(msg.find(closed.string()) != std::string::npos);
  CHECK(msg.find("offset " + std::to_string(bad_record)) != std::string::npos);
  // Nothing was modified: the operator can still copy the directory away.
  CHECK(fs::file_size(closed) == size_before);
  CHECK(fs::file_size(segments.back()) > kSegmentHeaderSize);
}

TEST_CASE("a flipped byte in the active tail is truncated there") {
  TempDir dir;
  auto options = Options(dir.path());
  std::vector<std::string> written;
  {
    auto store = OpenOrFail(options);
    written = AppendNumbered(*store, "c", 10);
  }
  // Damage the log's eighth entry: entries 8..10 are lost, and their events
  // with them, since the log is the source of truth.
  const fs::path log_seg = ListSorted(StreamDir(dir.path(), "c", "log")).back();
  const auto offsets = RecordOffsets(log_seg, StreamRole::kLog);
  FlipByte(log_seg, offsets[7] + kRecordHeaderSize + 3);
  auto store = OpenOrFail(options);
  auto state = store->State("c");
  REQUIRE(state.ok());
  CHECK(state->last_log_index == 7);
  CHECK(fs::file_size(log_seg) == offsets[7]);
  CHECK(ReadAllPayloads(*store, "c") ==
        std::vector<std::string>(written.begin(), written.begin() + 7));
  bool noted = false;
  for (const auto& n : store->RecoveryNotes()) noted |= n.find("truncated") != std::string::npos;
  CHECK(noted);
}

TEST_CASE("a segment whose header was torn at creation is rewritten, a damaged full one refused") {
  TempDir dir;
  auto options = Options(dir.path());
  options.event_segment_bytes = 4096;
  std::vector<std::string> written;
  {
    auto store = OpenOrFail(options);
    written = AppendNumbered(*store, "c", 150);
  }
  auto segments = ListSorted(StreamDir(dir.path(), "c", "events"));
  REQUIRE(segments.size() >= 2);
  SUBCASE("torn at creation") {
    // As if the host died right after creating the next segment file.
    auto state_store = OpenOrFail(options);
    auto next_token = state_store->State("c")->next_event_token;
    state_store.reset();
    const fs::path fresh =
        StreamDir(dir.path(), "c", "events") / SegmentFileName(StreamRole::kEvents, next_token);
    testing_support::WriteFile(fresh, "EVST");
    auto store = OpenOrFail(options);
    CHECK(ReadAllPayloads(*store, "c") == written);
    REQUIRE(store->Append("c", std::vector<std::string>{"more"}).ok());
  }
  SUBCASE("damaged header on a segment with data") {
    FlipByte(segments.back(), 2);
    auto store = EventStore::Open(options);
    REQUIRE_FALSE(store.ok());
    CHECK(store.status().message().find(segments.back().string()) != std::string::npos);
  }
}

namespace {

// "<tag>-<i>" padded to 40 bytes: a batch of equal-length events, so that a
// cut by record count is a cut by bytes too.
std::vector<std::string> EqualBatch(const std::string& tag, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string e = tag + "-" + std::to_string(i);
    e.resize(40, '.');
    out.push_back(e);
  }
  return out;
}

bool Noted(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

}  // namespace

// Issue 15 §1: the log entry is durable, the events tail is not. Recovery
// used to keep tokens 0..3 and hand token 4 to the next append under a new
// log entry, so two log entries claimed token 4.
TEST_CASE("a half-applied log entry is finished by recovery: its tokens are never reused") {
  TempDir dir;
  const fs::path data = dir / "data";
  const auto batch = EqualBatch("batch", 6);
  {
    auto store = OpenOrFail(Options(data));
    REQUIRE(store->Append("x", std::vector<std::string>{"first"}).ok());
    auto r = store->Append("x", batch);
    REQUIRE(r.ok());
    REQUIRE(r->first_token == 1);
    REQUIRE(r->last_token == 6);
  }
  const fs::path seg = ListSorted(StreamDir(data, "x", "events")).back();
  const auto offsets = RecordOffsets(seg, StreamRole::kEvents);
  REQUIRE(offsets.size() == 8);
  fs::resize_file(seg, offsets[4]);  // tokens 0..3 remain

  auto before = CheckDataDir(data);
  CHECK(Noted(before.notes, "not yet applied; recovery applies them"));

  std::vector<std::string> want{"first"};
  want.insert(want.end(), batch.begin(), batch.end());
  {
    auto store = OpenOrFail(Options(data));
    CHECK(ReadAllPayloads(*store, "x") == want);
    auto next = store->Append("x", std::vector<std::string>{"after"});
    REQUIRE(next.ok());
    CHECK(next->log_index == 3);
    CHECK(next->first_token == 7);
    want.push_back("after");
    CHECK(ReadAllPayloads(*store, "x") == want);
  }
  auto after = CheckDataDir(data);
  const std::string first_violation = after.violations.empty() ? "" : after.violations.front();
  INFO(first_violation);
  CHECK(after.ok());
  CHECK_FALSE(Noted(after.notes, "not yet applied"));
}

TEST_CASE("a half-applied batch that straddled an event segment roll is finished by recovery") {
  TempDir dir;
  const fs::path pristine = dir / "pristine";
  const auto batch = EqualBatch("roll", 6);
  auto options = Options(pristine);
  // Header 32 + the first event (240) + two batch records (80 each) = 432:
  // the third record of the batch rolls to a new segment, which takes the rest.
  options.event_segment_bytes = 440;
  const std::string first(200, 'f');
  {
    auto store = OpenOrFail(options);
    REQUIRE(store->Append("x", std::vector<std::string>{first}).ok());
    REQUIRE(store->Append("x", batch).ok());
  }
  const auto segments = ListSorted(StreamDir(pristine, "x", "events"));
  REQUIRE(segments.size() == 2);
  REQUIRE(segments.back().filename() == SegmentFileName(StreamRole::kEvents, 3));
  const auto offsets = RecordOffsets(segments.back(), StreamRole::kEvents);
  std::vector<std::string> want{first};
  want.insert(want.end(), batch.begin(), batch.end());

  const fs::path work = dir / "work";
  options.data_dir = work;
  // Every cut of the new segment, and the new segment gone altogether (its
  // directory entry was not yet durable).
  std::vector<int64_t> cuts{-1};
  for (uint64_t cut = 0; cut < offsets.back(); ++cut) {
    if (testing_support::TakeCutOffset(cut, offsets)) cuts.push_back(static_cast<int64_t>(cut));
  }
  for (int64_t cut : cuts) {
    CAPTURE(cut);
    CopyTree(pristine, work);
    const fs::path active = StreamDir(work, "x", "events") / segments.back().filename();
    if (cut < 0) {
      fs::remove(active);
    } else {
      fs::resize_file(active, static_cast<uint64_t>(cut));
    }
    {
      auto store = OpenOrFail(options);
      CHECK(ReadAllPayloads(*store, "x") == want);
      auto next = store->Append("x", std::vector<std::string>{"after"});
      REQUIRE(next.ok());
      CHECK(next->log_index == 3);
      CHECK(next->first_token == 7);
    }
    auto report = CheckDataDir(work);
    const std::string first_violation = report.violations.empty() ? "" : report.violations.front();
    INFO(first_violation);
    CHECK(report.ok());
  }
}

TEST_CASE("a file that reads shorter than its size is judged on the bytes it gave") {
  // /sys files say they are 4096 bytes and read a line: the header read
  // comes back short. Judging the 32-byte header on the bytes never read
  // would report whatever was in the buffer; the scan must say it is short.
  const fs::path sys_file = "/sys/kernel/profiling";
  std::error_code ec;
  if (!fs::exists(sys_file, ec) || fs::file_size(sys_file, ec) < kSegmentHeaderSize) {
    MESSAGE("skipped: no /sys file whose size exceeds its content");
    return;
  }
  auto scan = ScanSegment(sys_file, StreamRole::kLog, 1);
  REQUIRE(scan.ok());
  CHECK_FALSE(scan->header_ok);
  CHECK(scan->error.find("shorter than the segment header") != std::string::npos);
  CHECK(scan->error_offset == 0);
}
