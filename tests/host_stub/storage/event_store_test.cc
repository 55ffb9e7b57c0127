// The append path: tokens and indexes, segment roll, several contexts,
// concurrent appenders with group commit, and persistence across reopen.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "host_stub/storage_test_util.h"
#include "storage/control_db.h"
#include "test_support.h"

using namespace hoststub;
using namespace storage_test;
using testing_support::TempDir;

TEST_CASE("append assigns consecutive tokens and log indexes and reads them back") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir.path()));
  auto a = store->Append("orders", std::vector<std::string>{"a", "b", "c"});
  REQUIRE(a.ok());
  CHECK(a->log_index == 1);
  CHECK(a->first_token == 0);
  CHECK(a->last_token == 2);
  auto b = store->Append("orders", std::vector<std::string>{"d"});
  REQUIRE(b.ok());
  CHECK(b->log_index == 2);
  CHECK(b->first_token == 3);
  auto events = store->Read("orders", 1, 10);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 3);
  CHECK((*events)[0].payload == "b");
  CHECK((*events)[0].log_index == 1);
  CHECK((*events)[2].payload == "d");
  CHECK((*events)[2].log_index == 2);
}

TEST_CASE("snapshots have their own token sequence but share the log") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir.path()));
  REQUIRE(store->Append("c", std::vector<std::string>{"e0", "e1"}).ok());
  auto s = store->Append("c", std::vector<std::string>{"snap"}, StreamRole::kSnapshots);
  REQUIRE(s.ok());
  CHECK(s->first_token == 0);
  CHECK(s->log_index == 2);
  auto state = store->State("c");
  REQUIRE(state.ok());
  CHECK(state->next_event_token == 2);
  CHECK(state->next_snapshot_token == 1);
  auto snaps = store->Read("c", 0, 10, StreamRole::kSnapshots);
  REQUIRE(snaps.ok());
  REQUIRE(snaps->size() == 1);
  CHECK((*snaps)[0].payload == "snap");
}

TEST_CASE("bad input is refused with a clear error") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir.path()));
  auto empty = store->Append("c", std::vector<std::string>{});
  CHECK(empty.status().code() == Status::Code::kInvalidArgument);
  for (const std::string& bad :
       std::vector<std::string>{"", "../etc", ".hidden", "a/b", std::string(65, 'x')}) {
    auto r = store->Append(bad, std::vector<std::string>{"x"});
    CHECK_MESSAGE(r.status().code() == Status::Code::kInvalidArgument, bad);
    CHECK(r.status().message().find("invalid context name") != std::string::npos);
  }
  CHECK(store->Read("nope", 0, 1).status().code() == Status::Code::kNotFound);
}

TEST_CASE("segments roll at the configured size and are named by their first token") {
  TempDir dir;
  auto options = Options(dir.path());
  options.event_segment_bytes = 4096;
  options.log_segment_bytes = 4096;
  auto store = OpenOrFail(options);
  std::vector<std::string> written;
  for (int i = 0; i < 200; ++i) {
    std::vector<std::string> batch{std::string(100 + i % 50, static_cast<char>('a' + i % 26))};
    REQUIRE(store->Append("c", batch).ok());
    written.push_back(batch[0]);
  }
  auto segs = store->Segments("c", StreamRole::kEvents);
  REQUIRE(segs.ok());
  REQUIRE(segs->size() > 5);
  for (size_t i = 0; i < segs->size(); ++i) {
    const auto& s = (*segs)[i];
    CHECK(s.closed == (i + 1 < segs->size()));
    CHECK(s.size <= 4096);
    CHECK(s.path.filename().string().size() == 20 + std::string(".events").size());
    if (i > 0) CHECK(s.base > (*segs)[i - 1].base);
    auto first = store->Read("c", s.base, 1);
    REQUIRE(first.ok());
    CHECK((*first)[0].token == s.base);
  }
  CHECK(ReadAllPayloads(*store, "c") == written);
  store.reset();
  // Reopen: the same data, and tokens continue.
  store = OpenOrFail(options);
  CHECK(ReadAllPayloads(*store, "c") == written);
  // Recovery knows which segments are closed: every one but the newest.
  for (auto role : {StreamRole::kEvents, StreamRole::kLog}) {
    auto reopened = store->Segments("c", role);
    REQUIRE(reopened.ok());
    REQUIRE(reopened->size() > 1);
    for (size_t i = 0; i < reopened->size(); ++i) {
      CHECK((*reopened)[i].closed == (i + 1 < reopened->size()));
      if (i + 1 < reopened->size()) CHECK((*reopened)[i].next == (*reopened)[i + 1].base);
    }
  }
  auto next = store->Append("c", std::vector<std::string>{"after"});
  REQUIRE(next.ok());
  CHECK(next->first_token == written.size());
  CHECK(next->log_index == written.size() + 1);
}

TEST_CASE("concurrent appenders on several contexts: tokens unique and contiguous") {
  TempDir dir;
  auto options = Options(dir.path(), FsyncPolicy::kBatch);
  options.event_segment_bytes = 16 << 10;
  options.log_segment_bytes = 16 << 10;
  auto store = OpenOrFail(options);
  constexpr int kThreads = 6;
  constexpr int kBatches = 60;
  const std::vector<std::string> contexts{"alpha", "beta", "gamma"};
  std::mutex mu;
  std::map<std::string, std::map<uint64_t, std::string>> acked;  // context -> token -> payload
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        const std::string& ctx = contexts[static_cast<size_t>(t + b) % contexts.size()];
        std::vector<std::string> batch;
        for (int e = 0; e < 1 + (b % 5); ++e) {
          batch.push_back(fmt::format("t{}-b{}-e{}-{}", t, b, e,
                                      std::string(static_cast<size_t>(b * 7 % 300), 'p')));
        }
        auto r = store->Append(ctx, batch);
        if (!r.ok()) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mu);
        for (size_t i = 0; i < batch.size(); ++i) {
          bool inserted = acked[ctx].emplace(r->first_token + i, batch[i]).second;
          if (!inserted) ++failures;  // a token handed out twice
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures == 0);
  auto verify = [&](EventStore& s) {
    for (const auto& ctx : contexts) {
      const auto& tokens = acked[ctx];
      REQUIRE(!tokens.empty());
      CHECK(tokens.begin()->first == 0);
      CHECK(tokens.rbegin()->first == tokens.size() - 1);  // contiguous
      auto events = s.Read(ctx, 0, 1'000'000);
      REQUIRE(events.ok());
      REQUIRE(events->size() == tokens.size());
      for (const auto& ev : *events) CHECK(ev.payload == tokens.at(ev.token));
    }
  };
  verify(*store);
  auto segs = store->Segments("alpha", StreamRole::kEvents);
  REQUIRE(segs.ok());
  CHECK(segs->size() > 1);  // the run crossed segment boundaries
  store.reset();
  store = OpenOrFail(options);
  verify(*store);
}

TEST_CASE("commit index is persisted to the control DB at the configured interval") {
  TempDir dir;
  auto options = Options(dir.path(), FsyncPolicy::kBatch);
  options.commit_index_interval = std::chrono::milliseconds(20);
  auto store = OpenOrFail(options);
  AppendNumbered(*store, "c", 5);
  // A second connection sees what the host persisted; poll with a deadline.
  auto db = ControlDb::Open(dir.path() / "control.db", true);
  REQUIRE(db.ok());
  uint64_t seen = 0;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    auto states = (*db)->LoadReplicationStates();
    REQUIRE(states.ok());
    seen = (*states)["c"].commit_index;
    if (seen == 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(seen == 5);
}

TEST_CASE("every start begins a new term, and terms persist") {
  TempDir dir;
  auto options = Options(dir.path());
  uint64_t previous = 0;
  for (int round = 0; round < 3; ++round) {
    auto store = OpenOrFail(options);
    AppendNumbered(*store, "c", 2);
    auto state = store->State("c");
    REQUIRE(state.ok());
    CHECK(state->term > previous);
    previous = state->term;
  }
  auto db = ControlDb::Open(dir.path() / "control.db", true);
  REQUIRE(db.ok());
  auto states = (*db)->LoadReplicationStates();
  REQUIRE(states.ok());
  CHECK((*states)["c"].term == previous);
  CHECK((*states)["c"].commit_index == 6);
}

TEST_CASE("every segment an append closes is announced once, outside the context's lock") {
  TempDir dir;
  auto options = Options(dir.path());
  options.event_segment_bytes = 4096;
  options.log_segment_bytes = 4096;
  auto store = OpenOrFail(options);
  std::vector<EventStore::ClosedSegment> seen;
  bool store_readable = true;
  SegmentSubscription subscription =
      store->OnSegmentClosed([&](const EventStore::ClosedSegment& closed) {
        // The store must be usable from here: were the context's lock still
        // held, another thread's read would never finish.
        auto read = std::async(std::launch::async,
                               [&] { return store->Segments(closed.context, closed.role).ok(); });
        store_readable = store_readable &&
                         read.wait_for(std::chrono::seconds(10)) == std::future_status::ready &&
                         read.get();
        seen.push_back(closed);
      });
  const int64_t before_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  AppendNumbered(*store, "c", 200);
  REQUIRE(
      store
          ->Append("c", std::vector<std::string>(30, std::string(200, 's')), StreamRole::kSnapshots)
          .ok());
  CHECK(store_readable);

  for (auto role : {StreamRole::kLog, StreamRole::kEvents, StreamRole::kSnapshots}) {
    auto segments = store->Segments("c", role);
    REQUIRE(segments.ok());
    REQUIRE(segments->size() >= 2);
    std::vector<SegmentInfo> announced;
    for (const auto& s : seen) {
      if (s.role != role) continue;
      CHECK(s.context == "c");
      CHECK(s.closed_ms >= before_ms);
      announced.push_back(s.segment);
    }
    // Exactly the closed ones, oldest first, each as the store lists it.
    REQUIRE(announced.size() == segments->size() - 1);
    for (size_t i = 0; i < announced.size(); ++i) {
      CAPTURE(i);
      CHECK(announced[i].closed);
      CHECK(announced[i].path == (*segments)[i].path);
      CHECK(announced[i].base == (*segments)[i].base);
      CHECK(announced[i].next == (*segments)[i + 1].base);
      CHECK(announced[i].size == std::filesystem::file_size((*segments)[i].path));
    }
  }

  // Unsubscribed: later closes reach no one.
  const size_t count = seen.size();
  subscription = SegmentSubscription();
  AppendNumbered(*store, "c", 100, "after");
  CHECK(seen.size() == count);
}
