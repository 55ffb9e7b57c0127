// The consistency checker: passes a healthy directory and reports each
// invariant violation a test plants, both in-process and via `hostd check`.
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <algorithm>
#include <fstream>

#include "host_stub/storage_test_util.h"
#include "storage/checker.h"
#include "storage/control_db.h"
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

void MakeHealthyDir(const fs::path& data) {
  auto options = Options(data);
  options.event_segment_bytes = 4096;
  options.log_segment_bytes = 4096;
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "c", 300);
  AppendNumbered(*store, "other", 5);
}

bool HasLine(const std::vector<std::string>& lines, const std::string& needle) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& l) { return l.find(needle) != std::string::npos; });
}

void Sql(const fs::path& db_file, const char* sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_file.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE_MESSAGE(rc == SQLITE_OK, msg);
}

}  // namespace

TEST_CASE("checker passes a healthy data directory") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  auto report = CheckDataDir(dir.path());
  const std::string first = report.violations.empty() ? "" : report.violations.front();
  INFO(first);
  CHECK(report.ok());
  CHECK(HasLine(report.summary, "context 'c': log 1..300"));
  CHECK(HasLine(report.summary, "events 0..299"));
}

TEST_CASE("hostd check names the log's term and the control DB's apart") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  // A start (as the recovery of every restore) gives each context a new
  // term in the control DB; no entry is logged in it yet.
  OpenOrFail(Options(dir.path())).reset();
  auto out = testing_support::RunCommand({HOSTD_BIN, "check", "--data-dir", dir.path().string()});
  CHECK_MESSAGE(out.exit_code == 0, out.output);
  CHECK_MESSAGE(out.output.find("context 'c': log 1..300 (300 records) last entry's term 1; "
                                "control DB term 2 commit 300;") != std::string::npos,
                out.output);
}

TEST_CASE("checker: commit index beyond the last log entry") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  {
    auto db = ControlDb::Open(dir / "control.db");
    REQUIRE(db.ok());
    REQUIRE((*db)->SaveCommitIndexes({{"c", 500}}).ok());
  }
  auto report = CheckDataDir(dir.path());
  CHECK_FALSE(report.ok());
  CHECK(HasLine(report.violations, "commit index 500 is beyond the last log entry 300"));
}

TEST_CASE("checker: a missing log segment is a gap in the indexes") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  auto segs = ListSorted(StreamDir(dir.path(), "c", "log"));
  REQUIRE(segs.size() >= 3);
  fs::remove(segs[1]);
  auto report = CheckDataDir(dir.path());
  CHECK(HasLine(report.violations, segs[2].string() + ": starts at"));
}

TEST_CASE("checker: a missing event segment is a gap in the tokens") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  auto segs = ListSorted(StreamDir(dir.path(), "c", "events"));
  REQUIRE(segs.size() >= 3);
  fs::remove(segs[1]);
  auto report = CheckDataDir(dir.path());
  CHECK(HasLine(report.violations, segs[2].string() + ": starts at"));
}

TEST_CASE("checker: damage inside a closed segment is a violation, a torn active tail a note") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  auto segs = ListSorted(StreamDir(dir.path(), "c", "events"));
  SUBCASE("closed") {
    FlipByte(segs[0], kSegmentHeaderSize + kRecordHeaderSize + 2);
    auto report = CheckDataDir(dir.path());
    CHECK(HasLine(report.violations, segs[0].string() + ": closed segment damaged at offset " +
                                         std::to_string(kSegmentHeaderSize)));
  }
  SUBCASE("active") {
    fs::resize_file(segs.back(), fs::file_size(segs.back()) - 3);
    auto report = CheckDataDir(dir.path());
    CHECK(report.ok());
    CHECK(HasLine(report.notes, segs.back().string() + ": torn tail"));
  }
}

TEST_CASE("checker: a context without its control DB row, and a row without its directory") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  SUBCASE("no row") {
    Sql(dir / "control.db",
        "DELETE FROM replication_state WHERE context='other'; DELETE FROM contexts WHERE "
        "name='other';");
    auto report = CheckDataDir(dir.path());
    CHECK(HasLine(report.violations, "context 'other': has segments"));
  }
  SUBCASE("no directory") {
    fs::remove_all(dir / "contexts" / "other");
    auto report = CheckDataDir(dir.path());
    CHECK(HasLine(report.violations, "context 'other': in the control DB but"));
  }
}

TEST_CASE("checker: a log entry whose term goes backwards") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  // Plant entry 301 with term 0 in a fresh log segment after the last one.
  std::string payload;
  EncodeLogEntry(301, 0, 300, StreamRole::kEvents, std::vector<std::string>{"x"}, &payload);
  std::string file = EncodeSegmentHeader(StreamRole::kLog, 301);
  AppendRecord(RecordType::kLogEntry, payload, &file);
  const fs::path planted =
      StreamDir(dir.path(), "c", "log") / SegmentFileName(StreamRole::kLog, 301);
  testing_support::WriteFile(planted, file);
  auto report = CheckDataDir(dir.path());
  CHECK(HasLine(report.violations,
                planted.string() + ": offset 32: entry 301 has term 0 after term"));
}

TEST_CASE("hostd check exits 1 and prints each violation, 0 on a healthy directory") {
  TempDir dir;
  MakeHealthyDir(dir.path());
  auto good = testing_support::RunCommand({HOSTD_BIN, "check", "--data-dir", dir.path().string()});
  CHECK_MESSAGE(good.exit_code == 0, good.output);
  CHECK(good.output.find("check passed") != std::string::npos);
  auto segs = ListSorted(StreamDir(dir.path(), "c", "log"));
  fs::remove(segs[1]);
  {
    auto db = ControlDb::Open(dir / "control.db");
    REQUIRE(db.ok());
    REQUIRE((*db)->SaveCommitIndexes({{"other", 99}}).ok());
  }
  auto bad = testing_support::RunCommand({HOSTD_BIN, "check", "--data-dir", dir.path().string()});
  CHECK(bad.exit_code == 1);
  CHECK(bad.output.find("VIOLATION: " + segs[2].string()) != std::string::npos);
  CHECK(bad.output.find("VIOLATION: context 'other': commit index 99") != std::string::npos);
  CHECK(bad.output.find("2 violation(s)") != std::string::npos);
}

namespace {

// Appends one framed record to a segment file, as a buggy writer would have.
void AppendRawRecord(const fs::path& segment, RecordType type, const std::string& payload) {
  std::string record;
  AppendRecord(type, payload, &record);
  std::ofstream out(segment, std::ios::binary | std::ios::app);
  out.write(record.data(), static_cast<std::streamsize>(record.size()));
  REQUIRE(out.good());
}

std::string LogEntry(uint64_t index, uint64_t term, uint64_t first_token,
                     const std::vector<std::string>& events) {
  std::string payload;
  EncodeLogEntry(index, term, first_token, StreamRole::kEvents, events, &payload);
  return payload;
}

std::string Event(uint64_t token, uint64_t log_index, const std::string& bytes) {
  std::string payload;
  EncodeEvent(token, log_index, 0, bytes, &payload);
  return payload;
}

// The state issue 15 found after a recovery that did not finish entry 2
// (tokens 1..6, only 1..3 applied): entry 3 was then given token 4 again.
// `entry3_first_token` makes it an overlap (4) or a gap (8).
void PlantReusedToken(const fs::path& data, uint64_t entry3_first_token) {
  {
    auto store = OpenOrFail(Options(data));
    REQUIRE(store->Append("x", std::vector<std::string>{"first"}).ok());
    REQUIRE(store->Append("x", std::vector<std::string>(6, "batch")).ok());
  }
  const fs::path events = ListSorted(StreamDir(data, "x", "events")).back();
  const fs::path log = ListSorted(StreamDir(data, "x", "log")).back();
  // Keep tokens 0..3: the header, "first" (45 bytes) and three of the batch (45 each).
  fs::resize_file(events, kSegmentHeaderSize + 4 * (kRecordHeaderSize + kEventPrefixSize + 5));
  AppendRawRecord(log, RecordType::kLogEntry, LogEntry(3, 2, entry3_first_token, {"after"}));
  AppendRawRecord(events, RecordType::kEvent, Event(4, 3, "after"));
}

}  // namespace

TEST_CASE("checker: two log entries claiming one token is an overlap naming file and offset") {
  TempDir dir;
  PlantReusedToken(dir.path(), 4);
  auto report = CheckDataDir(dir.path());
  CHECK_FALSE(report.ok());
  const fs::path log = ListSorted(StreamDir(dir.path(), "x", "log")).back();
  CHECK(HasLine(report.violations, log.string() + ": offset "));
  CHECK(HasLine(report.violations,
                "entry 3 claims events tokens 4..4 but the previous events entry ended at token "
                "6 (an overlap)"));
  // The events side: entry 2 was cut short by a later entry's tokens.
  CHECK(HasLine(report.violations, "log entry 2 holds 6 events but events tokens 1..3"));
}

TEST_CASE("checker: a log entry that skips tokens is a gap") {
  TempDir dir;
  PlantReusedToken(dir.path(), 8);
  auto report = CheckDataDir(dir.path());
  CHECK(HasLine(report.violations,
                "entry 3 claims events tokens 8..8 but the previous events "
                "entry ended at token 6 (a gap)"));
  CHECK(HasLine(report.violations, "token 4 says log entry 3, whose tokens start at 8"));
}

TEST_CASE("checker: events whose bytes differ from their log entry") {
  TempDir dir;
  {
    auto store = OpenOrFail(Options(dir.path()));
    REQUIRE(store->Append("x", std::vector<std::string>{"one"}).ok());
    REQUIRE(store->Append("x", std::vector<std::string>{"two"}).ok());
  }
  const fs::path events = ListSorted(StreamDir(dir.path(), "x", "events")).back();
  fs::resize_file(events, kSegmentHeaderSize + kRecordHeaderSize + kEventPrefixSize + 3);
  // Well framed, checksummed, right token and entry: only the bytes are wrong.
  AppendRawRecord(events, RecordType::kEvent, Event(1, 2, "TWO"));
  auto report = CheckDataDir(dir.path());
  CHECK(HasLine(report.violations,
                events.string() + ": offset 75: events tokens 1..1 differ from the bytes of log "
                                  "entry 2"));
}

TEST_CASE("checker: the note on a half-applied entry is true: recovery applies it") {
  TempDir dir;
  {
    auto store = OpenOrFail(Options(dir.path()));
    REQUIRE(store->Append("x", std::vector<std::string>{"first"}).ok());
    REQUIRE(store->Append("x", std::vector<std::string>(6, "batch")).ok());
  }
  const fs::path events = ListSorted(StreamDir(dir.path(), "x", "events")).back();
  fs::resize_file(events, kSegmentHeaderSize + 4 * (kRecordHeaderSize + kEventPrefixSize + 5));
  auto before = CheckDataDir(dir.path());
  CHECK(before.ok());
  CHECK(HasLine(before.notes,
                "the log holds events up to token 6 not yet applied; recovery applies them"));
  { auto store = OpenOrFail(Options(dir.path())); }
  auto after = CheckDataDir(dir.path());
  CHECK(after.ok());
  CHECK(after.notes.empty());
  CHECK(HasLine(after.summary, "events 0..6 (7 records)"));
}
