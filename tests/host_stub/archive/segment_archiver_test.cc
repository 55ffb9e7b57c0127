// SegmentArchiver over a real EventStore, with the real wal_archive plugin
// loaded from the real plugin directory through the C ABI and its
// repository on disk. What the archive holds is read back from the
// repository's own files. Every wait polls the archiver's status with a
// bounded deadline; nothing depends on a sleep.
#include "archive/segment_archiver.h"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "config/host_config.h"
#include "host_stub/archive_test_util.h"
#include "host_stub/storage_test_util.h"
#include "plugin_host/provider_registry.h"
#include "storage/segment.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace hoststub;
using archive_test::ArchivedRecord;
using archive_test::CheckClosedArchived;
using archive_test::kBkpStreamRoles;
using archive_test::Records;
using storage_test::AppendNumbered;
using storage_test::OpenOrFail;
using testing_support::TempDir;

using testing_support::Contains;

namespace {

constexpr auto kSegmentArchiverDeadline = std::chrono::seconds(30);

// 4 KiB segments: a few hundred small events close a dozen of them.
StorageOptions SmallSegments(const fs::path& dir) {
  StorageOptions o = storage_test::Options(dir);
  o.event_segment_bytes = 4096;
  o.log_segment_bytes = 4096;
  return o;
}

// The provider 'pitr': wal_archive with archive = true, its repository at
// `repo`, loaded by the host's registry from the real plugin directory.
ProviderRegistry LoadWalArchive(const fs::path& repo, const std::string& extra_settings = "") {
  const std::string toml = "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) +
                           "'\n[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\n"
                           "archive = true\n[providers.settings]\npath = '" +
                           repo.string() + "'\nworkers = 1\n" + extra_settings;
  auto config = ParseHostConfig(toml, "archiver_test.toml");
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  auto registry =
      ProviderRegistry::Load(*config, [](std::string_view, int32_t, std::string_view) {});
  REQUIRE_MESSAGE(registry.ok(), registry.status().ToString());
  return std::move(*registry);
}

// The archiver's log lines, kept for the checks.
class Lines {
 public:
  SegmentArchiver::LogFn Fn() {
    return [this](int32_t, std::string_view line) {
      std::lock_guard lock(mu_);
      text_ += std::string(line) + "\n";
    };
  }
  std::string Text() const {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  mutable std::mutex mu_;
  std::string text_;
};

std::unique_ptr<SegmentArchiver> StartArchiver(EventStore& store, const ProviderRegistry& registry,
                                               ArchiverOptions options, Lines& lines) {
  auto archiver = SegmentArchiver::Start(store, registry.providers().front(), options, lines.Fn());
  REQUIRE_MESSAGE(archiver.ok(), archiver.status().ToString());
  return std::move(*archiver);
}

// Polls the archiver until `done` holds of its status, for kSegmentArchiverDeadline at most.
ArchiverStatus WaitFor(const SegmentArchiver& archiver,
                       const std::function<bool(const ArchiverStatus&)>& done, const char* what,
                       const Lines& lines) {
  const auto deadline = std::chrono::steady_clock::now() + kSegmentArchiverDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    ArchiverStatus status = archiver.Snapshot();
    if (done(status)) return status;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  FAIL("the archiver never got to: " << what << "; its log:\n" << lines.Text());
  return {};
}

bool ArchiverCaughtUp(const ArchiverStatus& s) {
  return s.state == ArchiverState::kArchiving && s.lag.segments == 0;
}

const ArchiveStreamStatus& StreamOf(const ArchiverStatus& s, const std::string& context,
                                    uint32_t role) {
  for (const auto& stream : s.streams) {
    if (stream.context == context && stream.role == role) return stream;
  }
  FAIL("no stream " << context << " role " << role);
  return s.streams.front();
}

// The store's segments of one stream (role BKP_ROLE_*).
std::vector<SegmentInfo> SegmentsOf(const EventStore& store, const std::string& context,
                                    uint32_t role) {
  auto segments = store.Segments(context, archive_test::StoreRole(role));
  REQUIRE_MESSAGE(segments.ok(), segments.status().ToString());
  return *segments;
}

// Every closed segment of every stream of `store` is in the archive once,
// with nothing between them missing; returns how many there are.
size_t CheckAllArchived(const EventStore& store, const fs::path& repo) {
  size_t total = 0;
  for (const std::string& context : store.Contexts()) {
    for (uint32_t role : kBkpStreamRoles) {
      CAPTURE(context);
      CAPTURE(role);
      total += CheckClosedArchived(Records(repo, context, role), SegmentsOf(store, context, role));
    }
  }
  return total;
}

uint64_t ClosedCount(const std::vector<ArchivedRecord>& records) {
  uint64_t n = 0;
  for (const auto& r : records) n += r.closed ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE(
    "archiver: every closed segment reaches the archive once, in order, and new ones follow") {
  TempDir dir;
  auto store = OpenOrFail(SmallSegments(dir.path()));
  AppendNumbered(*store, "orders", 150);
  AppendNumbered(*store, "billing", 60);
  REQUIRE(store
              ->Append("orders", std::vector<std::string>(20, std::string(300, 's')),
                       StreamRole::kSnapshots)
              .ok());
  ProviderRegistry registry = LoadWalArchive(dir / "repo");
  Lines lines;
  ArchiverOptions options;
  options.archive_timeout = std::chrono::milliseconds(0);  // closed segments only
  auto archiver = StartArchiver(*store, registry, options, lines);

  ArchiverStatus status = WaitFor(*archiver, ArchiverCaughtUp, "caught up", lines);
  CHECK(Contains(lines.Text(), "the archive is empty: archiving every segment on disk"));
  const size_t first = CheckAllArchived(*store, dir / "repo");
  CHECK(first > 6);
  CHECK(status.segments_archived == first);
  CHECK(status.pieces_archived == 0);
  CHECK(status.lag.bytes > 0);  // the active tails, which archive_timeout 0 leaves
  for (const auto& stream : status.streams) {
    CAPTURE(stream.context);
    CHECK(stream.pieces_archived == 0);
    CHECK(stream.pending_segments == 0);
    CHECK(stream.closed_archived ==
          ClosedCount(Records(dir / "repo", stream.context, stream.role)));
  }

  // Segments closing from now on arrive through the queue.
  AppendNumbered(*store, "orders", 120, "more");
  status = WaitFor(
      *archiver,
      [&](const ArchiverStatus& s) { return ArchiverCaughtUp(s) && s.segments_archived > first; },
      "the new segments archived", lines);
  CHECK(status.segments_archived == CheckAllArchived(*store, dir / "repo"));
  CHECK(status.queue_overflows == 0);
  // Each archived event segment says when its first event was appended and
  // when the host saw it close: what a restore to a time chooses by.
  for (const auto& r : Records(dir / "repo", "orders", BKP_ROLE_EVENTS)) {
    CAPTURE(r.name);
    CHECK(r.first_ms > 0);
    CHECK(r.first_ms <= r.observed_ms);
  }
  CHECK(StreamOf(status, "orders", BKP_ROLE_EVENTS).closed_name ==
        SegmentsOf(*store, "orders", BKP_ROLE_EVENTS).end()[-2].path.filename().string());
}

TEST_CASE("archiver: the next archiver resumes where the archive ends: no gap, no duplicate") {
  TempDir dir;
  auto store = OpenOrFail(SmallSegments(dir.path()));
  AppendNumbered(*store, "orders", 150);
  ProviderRegistry registry = LoadWalArchive(dir / "repo");
  Lines lines;
  std::string piece_of;  // the active event segment a piece was archived of
  {
    ArchiverOptions options;
    options.archive_timeout = std::chrono::milliseconds(100);
    auto first = StartArchiver(*store, registry, options, lines);
    const ArchiverStatus status = WaitFor(
        *first,
        [](const ArchiverStatus& s) {
          return ArchiverCaughtUp(s) && s.lag.bytes == 0 &&
                 !StreamOf(s, "orders", BKP_ROLE_EVENTS).piece_name.empty();
        },
        "everything archived, the tails as pieces", lines);
    piece_of = StreamOf(status, "orders", BKP_ROLE_EVENTS).piece_name;
  }  // stopped, as at a host's shutdown

  // Segments close while no archiver runs, the one with the piece among them.
  AppendNumbered(*store, "orders", 200, "while-down");
  std::map<uint32_t, uint64_t> missing;  // closed segments the archive lacks, per role
  for (uint32_t role : kBkpStreamRoles) {
    std::optional<uint64_t> newest;
    for (const auto& r : Records(dir / "repo", "orders", role)) {
      if (r.closed) newest = r.base;
    }
    for (const auto& s : SegmentsOf(*store, "orders", role)) {
      if (s.closed && (!newest || s.base > *newest)) ++missing[role];
    }
  }
  REQUIRE(missing[BKP_ROLE_EVENTS] >= 2);

  ArchiverOptions options;
  options.archive_timeout = std::chrono::milliseconds(0);
  auto second = StartArchiver(*store, registry, options, lines);
  const ArchiverStatus status =
      WaitFor(*second, ArchiverCaughtUp, "caught up after restart", lines);
  CHECK(Contains(lines.Text(), "resuming where the archive ends, in 2 stream(s)"));
  // Exactly the segments it lacked, each once: nothing shipped twice.
  for (uint32_t role : kBkpStreamRoles) {
    CAPTURE(role);
    CHECK(StreamOf(status, "orders", role).closed_archived == missing[role]);
  }
  CheckAllArchived(*store, dir / "repo");
  // The piece's segment has closed: its closed record replaced the piece.
  for (const auto& r : Records(dir / "repo", "orders", BKP_ROLE_EVENTS)) {
    if (r.name == piece_of) CHECK(r.closed);
  }
}

TEST_CASE("archiver: a slow archive reports its lag and compaction keeps what is not archived") {
  TempDir dir;
  StorageOptions storage = SmallSegments(dir.path());
  storage.log_retention_entries = 0;  // retention alone would delete every closed segment
  auto store = OpenOrFail(storage);
  // About 0.4 s per 4 KiB segment: the archive falls behind at once.
  ProviderRegistry registry = LoadWalArchive(dir / "repo", "rate_limit = 8192\n");
  Lines lines;
  ArchiverOptions options;
  options.archive_timeout = std::chrono::milliseconds(0);
  options.queue_capacity = 2;
  auto archiver = StartArchiver(*store, registry, options, lines);
  WaitFor(
      *archiver, [](const ArchiverStatus& s) { return s.state == ArchiverState::kArchiving; },
      "started", lines);

  // The appends finish long before the archive could take what they close:
  // the write path never waits for it (the queue drops what it cannot hold).
  AppendNumbered(*store, "orders", 300);
  ArchiverStatus status = WaitFor(
      *archiver,
      [](const ArchiverStatus& s) {
        return StreamOf(s, "orders", BKP_ROLE_LOG).pending_segments >= 2 && s.lag.seconds > 0.05;
      },
      "a lag in the log", lines);
  CHECK(status.lag.segments >= 2);
  CHECK(status.lag.bytes > 4096);
  CHECK(status.queue_overflows > 0);

  const auto log_before = SegmentsOf(*store, "orders", BKP_ROLE_LOG);
  auto report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->kept_for_archive >= 1);
  // Whatever compaction deleted had reached the archive first; what it kept
  // is still on disk.
  std::set<uint64_t> archived;
  for (const auto& r : Records(dir / "repo", "orders", BKP_ROLE_LOG)) {
    if (r.closed) archived.insert(r.base);
  }
  size_t deleted = 0;
  for (const auto& s : log_before) {
    if (fs::exists(s.path)) continue;
    ++deleted;
    CAPTURE(s.path);
    CHECK(archived.count(s.base) == 1);
  }
  CHECK(deleted == report->deleted.size());
  CHECK(fs::exists(log_before.end()[-2].path));  // the newest closed one: not archived yet

  // The overflow is noticed when the archiver next looks at its queue.
  const auto deadline = std::chrono::steady_clock::now() + kSegmentArchiverDeadline;
  while (!Contains(lines.Text(), "closed faster than they were archived")) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the overflow was never logged:\n"
                                                                     << lines.Text());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(archiver->Snapshot().last_error.empty());

  // Gone while behind (its floor with it); a fast archiver on the same
  // repository catches up: the segments the queue dropped and those
  // compaction kept all arrive, once each.
  archiver.reset();
  ProviderRegistry fast = LoadWalArchive(dir / "repo");
  auto catching_up = StartArchiver(*store, fast, options, lines);
  WaitFor(*catching_up, ArchiverCaughtUp, "caught up", lines);
  for (uint32_t role : kBkpStreamRoles) {
    CAPTURE(role);
    const auto records = Records(dir / "repo", "orders", role);
    const auto segments = SegmentsOf(*store, "orders", role);
    // The archive begins where the store began (compaction came later).
    std::vector<ArchivedRecord> from_store_start;
    for (const auto& r : records) {
      if (r.base >= segments.front().base) from_store_start.push_back(r);
    }
    CheckClosedArchived(from_store_start, segments);
    for (size_t i = 1; i < records.size(); ++i) CHECK(records[i].base == records[i - 1].next);
  }
  // With the log archived, compaction may now take it.
  report = store->CompactLogs();
  REQUIRE(report.ok());
  CHECK(report->kept_for_archive == 0);
}

TEST_CASE(
    "archiver: archive_timeout ships the tail of a quiet segment as a piece, then its growth") {
  TempDir dir;
  StorageOptions storage = storage_test::Options(dir.path(), FsyncPolicy::kBatch);
  auto store = OpenOrFail(storage);  // 64 MiB segments: nothing closes here
  ProviderRegistry registry = LoadWalArchive(dir / "repo");
  Lines lines;
  ArchiverOptions options;
  options.archive_timeout = std::chrono::milliseconds(200);
  auto archiver = StartArchiver(*store, registry, options, lines);

  REQUIRE(store->Append("orders", std::vector<std::string>{"a", "b", "c", "d"}).ok());
  // The archive holds one piece of the stream's active segment, all of it.
  auto piece_of_all = [&](uint32_t role) {
    const auto active = SegmentsOf(*store, "orders", role).back();
    return [&, active, role](const ArchiverStatus& s) {
      const auto records = Records(dir / "repo", "orders", role);
      return s.lag.bytes == 0 && records.size() == 1 && records[0].size == active.size;
    };
  };
  WaitFor(*archiver, piece_of_all(BKP_ROLE_EVENTS), "a piece of the events", lines);
  WaitFor(*archiver, piece_of_all(BKP_ROLE_LOG), "a piece of the log", lines);
  auto events = Records(dir / "repo", "orders", BKP_ROLE_EVENTS);
  REQUIRE(events.size() == 1);
  CHECK_FALSE(events[0].closed);
  CHECK(events[0].next == 4);
  CHECK(events[0].first_ms > 0);
  CHECK(events[0].first_ms <= events[0].observed_ms);
  auto log = Records(dir / "repo", "orders", BKP_ROLE_LOG);
  REQUIRE(log.size() == 1);
  CHECK_FALSE(log[0].closed);
  CHECK(log[0].next == 2);  // the entry that carried the events

  // More data: the piece grows (replaced, not added to).
  REQUIRE(store->Append("orders", std::vector<std::string>{"e", "f"}).ok());
  REQUIRE(store->Append("orders", std::vector<std::string>{"g"}).ok());
  const ArchiverStatus status =
      WaitFor(*archiver, piece_of_all(BKP_ROLE_EVENTS), "a larger piece", lines);
  events = Records(dir / "repo", "orders", BKP_ROLE_EVENTS);
  REQUIRE(events.size() == 1);
  CHECK(events[0].next == 7);
  const auto& stream = StreamOf(status, "orders", BKP_ROLE_EVENTS);
  CHECK(stream.piece_name == events[0].name);
  CHECK(stream.pieces_archived >= 2);
  CHECK(stream.next == 7);
  CHECK(status.segments_archived == 0);
}

TEST_CASE("archiver: a failing archive is logged, retried with back-off and loses nothing") {
  TempDir dir;
  auto store = OpenOrFail(SmallSegments(dir.path()));
  ProviderRegistry registry = LoadWalArchive(dir / "repo");
  Lines lines;
  ArchiverOptions options;
  options.archive_timeout = std::chrono::milliseconds(0);
  options.retry_min = std::chrono::milliseconds(20);
  options.retry_max = std::chrono::milliseconds(80);
  auto archiver = StartArchiver(*store, registry, options, lines);
  WaitFor(
      *archiver, [](const ArchiverStatus& s) { return s.state == ArchiverState::kArchiving; },
      "started", lines);

  // A file where the archive's directory for 'orders' goes: every record
  // put fails.
  fs::create_directories(dir / "repo" / "archive");
  testing_support::WriteFile(dir / "repo" / "archive" / "orders", "in the way\n");
  AppendNumbered(*store, "orders", 150);
  ArchiverStatus status = WaitFor(
      *archiver,
      [](const ArchiverStatus& s) {
        return s.state == ArchiverState::kRetrying && s.consecutive_failures >= 3;
      },
      "retrying", lines);
  CAPTURE(status.last_error);
  CHECK(Contains(status.last_error, "provider 'pitr': archive of context 'orders'"));
  CHECK(status.next_retry_ms > status.last_error_ms);
  CHECK(status.lag.segments > 0);
  CHECK(status.segments_archived == 0);
  CHECK(Contains(lines.Text(), "(attempt 3); retrying in"));
  CHECK(Contains(lines.Text(), "Nothing is skipped"));

  fs::remove(dir / "repo" / "archive" / "orders");
  status = WaitFor(*archiver, ArchiverCaughtUp, "caught up after the fix", lines);
  CHECK(status.consecutive_failures == 0);
  CHECK_FALSE(status.last_error.empty());  // still shown, as the last one
  CHECK(Contains(lines.Text(), "archiving again after"));
  CHECK(status.segments_archived == CheckAllArchived(*store, dir / "repo"));
}

TEST_CASE("archiver: an archive reaching beyond the store is refused, never mixed with it") {
  TempDir dir;
  ProviderRegistry registry = LoadWalArchive(dir / "repo");
  Lines lines;
  ArchiverOptions options;
  options.archive_timeout = std::chrono::milliseconds(0);
  {
    auto store = OpenOrFail(SmallSegments(dir / "first"));
    AppendNumbered(*store, "orders", 200);
    auto archiver = StartArchiver(*store, registry, options, lines);
    WaitFor(*archiver, ArchiverCaughtUp, "caught up", lines);
  }
  const auto before = Records(dir / "repo", "orders", BKP_ROLE_EVENTS);

  // Another, shorter history of 'orders' (a directory restored to an
  // earlier point, say) archiving into the same repository.
  auto store = OpenOrFail(SmallSegments(dir / "second"));
  AppendNumbered(*store, "orders", 20);
  auto archiver = StartArchiver(*store, registry, options, lines);
  const ArchiverStatus status = WaitFor(
      *archiver,
      [](const ArchiverStatus& s) {
        return s.state == ArchiverState::kStarting && s.consecutive_failures >= 1;
      },
      "refused", lines);
  CAPTURE(status.last_error);
  CHECK(Contains(status.last_error, "the archive of context 'orders'"));
  CHECK(Contains(status.last_error, "the data directory is older than the archive"));
  CHECK(status.segments_archived == 0);
  CHECK(Records(dir / "repo", "orders", BKP_ROLE_EVENTS).size() == before.size());
}
