// OperationHistory on a real SQLite file: records survive reopening (a host
// restart), the newest per (provider, kind) is found, the file stays bounded
// while the totals keep counting. The stock sqlite3 tool reads the file to
// check the bound, so the check does not go through the code under test.
#include "ops/operation_history.h"

#include <doctest/doctest.h>

#include <string>

#include "test_support.h"

using namespace hoststub;
namespace ts = testing_support;

namespace {

OperationRecord Op(std::string kind, std::string provider, std::string result, int64_t at_ms) {
  OperationRecord r;
  r.kind = std::move(kind);
  r.provider = std::move(provider);
  r.result = std::move(result);
  r.started_ms = at_ms;
  r.finished_ms = at_ms + 1500;
  return r;
}

std::unique_ptr<OperationHistory> OpenHistoryOrFail(
    const std::filesystem::path& file, size_t max_records = OperationHistory::kDefaultMaxRecords) {
  auto opened = OperationHistory::Open(file, max_records);
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  return std::move(opened).value();
}

}  // namespace

TEST_CASE("operation history: records survive a reopen, the newest per provider and kind wins") {
  ts::TempDir dir;
  const auto file = OperationHistoryFile(dir.path());
  {
    auto history = OpenHistoryOrFail(file);
    OperationRecord backup = Op("backup", "nightly", "succeeded", 1'000'000);
    backup.bytes_read = 4096;
    backup.bytes_stored = 1024;
    backup.backup_id = "20261207T100000Z-full";
    REQUIRE(history->Record(backup).ok());
    OperationRecord failed = Op("backup", "nightly", "failed", 2'000'000);
    failed.error = "provider 'nightly': disk full";
    REQUIRE(history->Record(failed).ok());
    REQUIRE(history->Record(Op("drill", "nightly", "succeeded", 3'000'000)).ok());
    REQUIRE(history->Record(Op("backup", "offsite", "cancelled", 4'000'000)).ok());
    // A record without a result says nothing: refused, not stored.
    CHECK(history->Record(Op("backup", "nightly", "", 5'000'000)).status().code() ==
          Status::Code::kInvalidArgument);
  }
  auto history = OpenHistoryOrFail(file);  // as a restarted host would
  auto last = history->Last("nightly", "backup");
  REQUIRE(last.ok());
  REQUIRE(last->has_value());
  CHECK((*last)->result == "failed");
  CHECK((*last)->error == "provider 'nightly': disk full");
  CHECK((*last)->duration_ms() == 1500);
  auto any = history->Last("nightly");
  REQUIRE(any.ok());
  CHECK((*any)->kind == "drill");
  CHECK_FALSE(history->Last("nobody")->has_value());

  auto each = history->LastOfEach();
  REQUIRE(each.ok());
  REQUIRE(each->size() == 3);  // nightly/backup, nightly/drill, offsite/backup
  CHECK((*each)[0].result == "failed");
  CHECK((*each)[1].kind == "drill");
  CHECK((*each)[2].provider == "offsite");
  auto success = history->LastSuccessOfEach();
  REQUIRE(success.ok());
  REQUIRE(success->size() == 2);
  CHECK((*success)[0].backup_id == "20261207T100000Z-full");
  CHECK((*success)[0].bytes_read == 4096);
  CHECK((*success)[0].bytes_stored == 1024);

  auto since = history->Since(2'000'000);
  REQUIRE(since.ok());
  REQUIRE(since->size() == 3);
  CHECK((*since)[0].result == "failed");  // oldest first
  auto newest = history->Since(0, 1);
  REQUIRE(newest.ok());
  REQUIRE(newest->size() == 1);
  CHECK((*newest)[0].provider == "offsite");
}

TEST_CASE("operation history: the file keeps max_records rows, the totals count every one") {
  ts::TempDir dir;
  const auto file = OperationHistoryFile(dir.path());
  auto history = OpenHistoryOrFail(file, 5);
  for (int i = 0; i < 12; ++i) {
    REQUIRE(history->Record(Op("backup", "nightly", i % 3 == 0 ? "failed" : "succeeded", i)).ok());
  }
  auto totals = history->Totals();
  REQUIRE(totals.ok());
  REQUIRE(totals->size() == 2);
  CHECK((*totals)[0].result == "failed");
  CHECK((*totals)[0].count == 4);
  CHECK((*totals)[1].count == 8);
  auto all = history->Since(0);
  REQUIRE(all.ok());
  REQUIRE(all->size() == 5);
  CHECK(all->front().started_ms == 7);

  // The stock sqlite3 sees the same bound in the file itself.
  ts::CommandResult rows = ts::RunCommand(
      {"sqlite3", file.string(), "SELECT COUNT(*), MIN(started_ms) FROM operations"});
  INFO(rows.output);
  REQUIRE(rows.exit_code == 0);
  CHECK(rows.output == "5|7\n");
}
