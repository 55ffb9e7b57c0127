// The backup source: the order it enforces, what it lists while writers
// append, reads bounded by the listed size, and the compaction pin.
#include <doctest/doctest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "backup/backup_source.h"
#include "backup/restore_sink.h"
#include "host_stub/abi_test_util.h"
#include "host_stub/storage_test_util.h"
#include "storage/segment.h"
#include "test_support.h"

using namespace hoststub;
using namespace storage_test;
using namespace abi_test;
using testing_support::TempDir;
namespace fs = std::filesystem;

namespace {

std::unique_ptr<BackupSource> MakeSource(EventStore& store, const fs::path& scratch) {
  auto source = BackupSource::Create(store, scratch);
  REQUIRE_MESSAGE(source.ok(), source.status().ToString());
  return std::move(*source);
}

}  // namespace

TEST_CASE("source: roles must be listed control DB, log, events, snapshots, each once") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir / "data"));
  AppendNumbered(*store, "c", 3);
  std::vector<CopiedItem> items;
  std::string error;
  SUBCASE("log before the control DB") {
    auto source = MakeSource(*store, dir / "scratch");
    CHECK(ListRole(source.get(), BKP_ROLE_LOG, &items, &error) == BKP_E_OUT_OF_ORDER);
    CHECK(error.find("out of order") != std::string::npos);
    CHECK(error.find("next is control DB") != std::string::npos);
  }
  SUBCASE("events skipping the log") {
    auto source = MakeSource(*store, dir / "scratch");
    REQUIRE(ListRole(source.get(), BKP_ROLE_CONTROL_DB, &items) == BKP_OK);
    CHECK(ListRole(source.get(), BKP_ROLE_EVENTS, &items, &error) == BKP_E_OUT_OF_ORDER);
  }
  SUBCASE("the control DB twice") {
    auto source = MakeSource(*store, dir / "scratch");
    REQUIRE(ListRole(source.get(), BKP_ROLE_CONTROL_DB, &items) == BKP_OK);
    CHECK(ListRole(source.get(), BKP_ROLE_CONTROL_DB, &items) == BKP_E_OUT_OF_ORDER);
  }
  SUBCASE("an unknown role") {
    auto source = MakeSource(*store, dir / "scratch");
    CHECK(ListRole(source.get(), 99, &items, &error) == BKP_E_INVALID_ARGUMENT);
  }
}

TEST_CASE("source: lists every file with the closed flag and reads exactly the listed bytes") {
  TempDir dir;
  auto options = Options(dir / "data");
  options.event_segment_bytes = 4096;
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "a", 120);
  AppendNumbered(*store, "b", 3);
  auto source = MakeSource(*store, dir / "scratch");
  auto items = CopyAll(source.get());
  REQUIRE(items.front().role == BKP_ROLE_CONTROL_DB);
  CHECK(items.front().name == "control.db");
  CHECK(items.front().bytes.substr(0, 15) == "SQLite format 3");
  std::map<std::pair<std::string, uint32_t>, int> active_per_stream;
  uint32_t last_role = 0;
  for (const auto& item : items) {
    CHECK(item.role >= last_role);  // listed in order
    last_role = item.role;
    if (item.role == BKP_ROLE_CONTROL_DB) continue;
    const std::string stream = item.role == BKP_ROLE_LOG      ? "log"
                               : item.role == BKP_ROLE_EVENTS ? "events"
                                                              : "snapshots";
    const fs::path original = StreamDir(dir / "data", item.context, stream) / item.name;
    CHECK(testing_support::ReadFile(original).substr(0, item.size) == item.bytes);
    if (!item.closed) ++active_per_stream[{item.context, item.role}];
  }
  // Each stream's segments are contiguous, and the last ends at the stream's end.
  std::map<std::pair<std::string, uint32_t>, uint64_t> next_of_stream;
  for (const auto& item : items) {
    if (item.role == BKP_ROLE_CONTROL_DB) continue;
    auto key = std::make_pair(item.context, item.role);
    if (next_of_stream.count(key)) CHECK(item.base == next_of_stream[key]);
    CHECK(item.next >= item.base);
    next_of_stream[key] = item.next;
  }
  CHECK(next_of_stream[{"a", BKP_ROLE_EVENTS}] == 120);
  CHECK(next_of_stream[{"a", BKP_ROLE_LOG}] == 121);  // log indexes start at 1
  CHECK(next_of_stream[{"b", BKP_ROLE_EVENTS}] == 3);
  CHECK(next_of_stream[{"b", BKP_ROLE_SNAPSHOTS}] == 0);
  // One active segment per stream of each context, everything else closed.
  CHECK(active_per_stream.size() == 6);
  for (const auto& [key, count] : active_per_stream) CHECK(count == 1);
  // Reads past the end give nothing, unknown ids are refused.
  char buf[16];
  size_t got = 99;
  char err[256] = "";
  CHECK(Services().source_read(source.get(), items[1].id, items[1].size, buf, sizeof buf, &got, err,
                               sizeof err) == BKP_OK);
  CHECK(got == 0);
  CHECK(Services().source_read(source.get(), 100000, 0, buf, sizeof buf, &got, err, sizeof err) ==
        BKP_E_NOT_FOUND);
}

TEST_CASE("source: contexts come from the control-DB snapshot, after it is listed") {
  TempDir dir;
  auto options = Options(dir / "data", FsyncPolicy::kBatch);
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "b", 2);
  AppendNumbered(*store, "a", 5);
  REQUIRE(store->Sync().ok());  // commit indexes into the control DB
  auto source = MakeSource(*store, dir / "scratch");
  struct Seen {
    std::string name;
    uint64_t commit_index;
  };
  std::vector<Seen> seen;
  auto collect = [](void* user, const bkp_context_info* info) -> bkp_status {
    static_cast<std::vector<Seen>*>(user)->push_back({info->name, info->commit_index});
    return BKP_OK;
  };
  char err[256] = "";
  CHECK(Services().source_contexts(source.get(), collect, &seen, err, sizeof err) ==
        BKP_E_OUT_OF_ORDER);
  std::vector<CopiedItem> items;
  REQUIRE(ListRole(source.get(), BKP_ROLE_CONTROL_DB, &items) == BKP_OK);
  // A context created after the snapshot is not part of this backup.
  AppendNumbered(*store, "late", 1);
  REQUIRE(Services().source_contexts(source.get(), collect, &seen, err, sizeof err) == BKP_OK);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].name == "a");
  CHECK(seen[0].commit_index == 5);
  CHECK(seen[1].name == "b");
  CHECK(seen[1].commit_index == 2);
  REQUIRE(ListRole(source.get(), BKP_ROLE_LOG, &items) == BKP_OK);
  for (const auto& item : items) CHECK(item.context != "late");
}

TEST_CASE("source: compaction is pinned for the source's life") {
  TempDir dir;
  auto options = Options(dir / "data");
  options.log_segment_bytes = 4096;
  options.log_retention_entries = 10;
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "c", 200);
  {
    auto source = MakeSource(*store, dir / "scratch");
    auto report = store->CompactLogs();
    REQUIRE(report.ok());
    CHECK(report->pinned);
    CHECK(report->deleted.empty());
  }
  CHECK_FALSE(store->CompactLogs()->deleted.empty());
  CHECK_FALSE(fs::exists(dir / "scratch"));  // the snapshot went with the source
}

TEST_CASE("source: a hot copy under concurrent appends holds every event acknowledged before it") {
  TempDir dir;
  auto options = Options(dir / "data", FsyncPolicy::kBatch);
  options.event_segment_bytes = 16 << 10;
  options.log_segment_bytes = 16 << 10;
  auto store = OpenOrFail(options);
  std::map<std::string, std::vector<std::string>> acked_before;
  for (const char* ctx : {"a", "b"}) acked_before[ctx] = AppendNumbered(*store, ctx, 150, ctx);

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop; ++i) {
        const char* ctx = (t + i) % 2 ? "a" : "b";
        std::vector<std::string> batch{fmt::format("w{}-{}", t, i), std::string(200, 'z')};
        if (!store->Append(ctx, batch).ok()) ++failures;
      }
    });
  }
  auto source = MakeSource(*store, dir / "scratch");
  auto items = CopyAll(source.get());
  stop = true;
  for (auto& w : writers) w.join();
  REQUIRE(failures == 0);

  // Put the copy back through the sink and open it.
  std::string error;
  auto sink = RestoreSink::Create(dir / "restored", RestorePolicy::kSafe);
  REQUIRE(sink.ok());
  for (const auto& item : items) REQUIRE_MESSAGE(Feed(sink->get(), item, &error) == BKP_OK, error);
  auto report = (*sink)->Commit(options);
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->check.ok());
  auto restored = OpenOrFail(Options(dir / "restored"));
  for (const auto& [ctx, payloads] : acked_before) {
    auto events = restored->Read(ctx, 0, payloads.size());
    REQUIRE(events.ok());
    REQUIRE(events->size() == payloads.size());
    for (size_t i = 0; i < payloads.size(); ++i) CHECK((*events)[i].payload == payloads[i]);
    // Tokens continue after the restored ones.
    auto state = restored->State(ctx);
    auto next = restored->Append(ctx, std::vector<std::string>{"after-restore"});
    REQUIRE(next.ok());
    CHECK(next->first_token == state->next_event_token);
  }
}

TEST_CASE("source: an archive call's source reads its one segment up to its size, lists nothing") {
  TempDir dir;
  auto options = Options(dir / "data");
  options.event_segment_bytes = 4096;
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "c", 200);
  auto segments = store->Segments("c", StreamRole::kEvents);
  REQUIRE(segments.ok());
  REQUIRE(segments->size() >= 2);
  SegmentInfo piece = segments->back();
  REQUIRE(piece.size > kSegmentHeaderSize + 10);
  piece.size -= 10;  // a piece: fewer bytes than the file holds

  auto source = BackupSource::ForArchive(*store, BKP_ROLE_EVENTS, "c", piece, BKP_ITEM_PARTIAL);
  const bkp_item& item = source->item(0);
  CHECK(item.role == BKP_ROLE_EVENTS);
  CHECK(std::string(item.context) == "c");
  CHECK(std::string(item.name) == piece.path.filename().string());
  CHECK(std::string(item.path) == piece.path.string());
  CHECK(item.base == piece.base);
  CHECK(item.next == piece.next);
  CHECK(item.size == piece.size);
  CHECK(item.flags == BKP_ITEM_PARTIAL);

  std::string bytes(piece.size + 100, '\0');
  size_t got = 0;
  std::string error;
  REQUIRE(source->Read(0, 0, bytes.data(), bytes.size(), &got, &error) == BKP_OK);
  CHECK(got == piece.size);
  CHECK(bytes.substr(0, got) == testing_support::ReadFile(piece.path).substr(0, piece.size));
  CHECK(source->Read(1, 0, bytes.data(), bytes.size(), &got, &error) == BKP_E_NOT_FOUND);

  std::vector<CopiedItem> items;
  CHECK(ListRole(source.get(), BKP_ROLE_CONTROL_DB, &items, &error) == BKP_E_UNSUPPORTED);
  CHECK(error.find("offers source_read of its one segment only") != std::string::npos);
  CHECK(source->Contexts([](void*, const bkp_context_info*) { return BKP_OK; }, nullptr, &error) ==
        BKP_E_UNSUPPORTED);
  // It holds compaction off no more than it creates scratch space.
  CHECK_FALSE(store->CompactionPinned());
}

TEST_CASE("source: under appends, the events listed are exactly those of the log entries listed") {
  TempDir dir;
  auto options = Options(dir / "data");
  options.event_segment_bytes = 64 * 1024;  // rolls during the test
  options.log_segment_bytes = 64 * 1024;
  auto store = OpenOrFail(options);
  // Batches of 4 events only: entry k (from 1) holds tokens 4(k-1) .. 4k-1.
  constexpr uint64_t kBatch = 4;
  const std::vector<std::string> batch(kBatch, std::string(200, 'e'));
  REQUIRE(store->Append("c", batch).ok());
  std::atomic<bool> stop{false};
  std::atomic<bool> writer_failed{false};
  std::thread writer([&] {
    while (!stop && !writer_failed) {
      if (!store->Append("c", batch).ok()) writer_failed = true;
    }
  });
  for (int round = 0; round < 40 && !writer_failed; ++round) {
    CAPTURE(round);
    auto source = MakeSource(*store, dir / ("scratch" + std::to_string(round)));
    std::vector<CopiedItem> control, log, events;
    REQUIRE(ListRole(source.get(), BKP_ROLE_CONTROL_DB, &control) == BKP_OK);
    REQUIRE(ListRole(source.get(), BKP_ROLE_LOG, &log) == BKP_OK);
    // Let the writer append between the two listings, as it would beside a
    // slow plugin: events listed apart from the log would run ahead of it.
    const uint64_t listed_at = store->State("c")->last_log_index;
    while (!writer_failed && store->State("c")->last_log_index < listed_at + 2) {
      std::this_thread::yield();
    }
    REQUIRE(ListRole(source.get(), BKP_ROLE_EVENTS, &events) == BKP_OK);
    REQUIRE(!log.empty());
    REQUIRE(!events.empty());
    const uint64_t last_entry = log.back().next - 1;
    CHECK(events.back().next == kBatch * last_entry);
  }
  stop = true;
  writer.join();
  CHECK_FALSE(writer_failed);
}
