// Timelines in the repository engine (plugins/repo/timeline.h, archive.h):
// what a restore along a timeline reads of the archive, what garbage
// collection keeps, and how a second history of the same number is refused.
// Real files through the posix driver; the expected layout is written out
// here from docs/repository-format.md, not derived from the engine.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "repo/archive.h"
#include "repo/posix/posix_driver.h"
#include "repo/rate_limiter.h"
#include "repo/repository.h"
#include "repo/retention.h"
#include "repo/timeline.h"
#include "test_support.h"

namespace fs = std::filesystem;
using testing_support::Contains;
using testing_support::TempDir;

namespace {

// Archives `bytes` as a closed events segment [base, next) of 'orders'.
void PutSegment(repo::Repository& repository, uint32_t timeline, uint64_t base, uint64_t next,
                const std::string& bytes) {
  repo::FileEntry file;
  file.role = BKP_ROLE_EVENTS;
  file.context = "orders";
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.events", static_cast<unsigned long long>(base));
  file.name = name;
  file.base = base;
  file.next = next;
  file.size = bytes.size();
  file.closed = true;
  repo::RateLimiter limiter(0);
  std::atomic<uint64_t> added{0};
  repo::ChunkSink sink{repository.driver(), limiter, [] {}, nullptr, added};
  const repo::ReadAt read = [&](uint64_t offset, void* buf, size_t len) {
    std::memcpy(buf, bytes.data() + offset, len);
  };
  repo::Archive(repository).Put(file, 1000, 900, read, sink, nullptr, timeline);
}

repo::TimelineHistory History(uint32_t timeline, uint32_t parent, uint64_t events) {
  repo::TimelineHistory h;
  h.timeline = timeline;
  h.parent = parent;
  h.created_ms = 5000;
  h.reason = "test";
  h.contexts["orders"] = {events + 1, events, 0};
  return h;
}

std::vector<std::pair<uint64_t, uint64_t>> Ranges(const std::vector<repo::ArchivedSegment>& s) {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  for (const auto& seg : s) out.emplace_back(seg.file.base, seg.file.next);
  return out;
}

}  // namespace

TEST_CASE("timelines: a restore along timeline 2 reads timeline 1 up to the branch, then 2") {
  TempDir dir;
  repo::Repository repository(std::make_shared<repo::PosixDriver>(dir / "repo"));
  PutSegment(repository, 1, 0, 10, std::string(100, 'a'));
  PutSegment(repository, 1, 10, 20, std::string(100, 'b'));
  PutSegment(repository, 1, 20, 30, std::string(100, 'c'));
  // Timeline 2 branched at token 15: it archived the segment holding the
  // branch again, with its own bytes, and went on.
  repo::PublishTimeline(repository, History(2, 1, 15));
  PutSegment(repository, 2, 10, 18, std::string(80, 'x'));
  PutSegment(repository, 2, 18, 25, std::string(70, 'y'));

  // The layout the format documents.
  CHECK(fs::exists(dir / "repo" / "archive" / "orders" / "events" /
                   "00000000000000000010.00000002.json"));
  CHECK(fs::exists(dir / "repo" / "timelines" / "00000002.json"));
  CHECK(nlohmann::json::parse(testing_support::ReadFile(dir / "repo" / "format.json"))
            .at("version") == 2);

  const auto timelines = repo::LoadTimelines(repository.driver());
  CHECK(repo::NewestTimeline(timelines) == 2);
  repo::Archive archive(repository);
  using Pairs = std::vector<std::pair<uint64_t, uint64_t>>;
  CHECK(Ranges(archive.SegmentsAlong("orders", BKP_ROLE_EVENTS, repo::Lineage(timelines, 2))) ==
        Pairs{{0, 10}, {10, 18}, {18, 25}});
  CHECK(Ranges(archive.SegmentsAlong("orders", BKP_ROLE_EVENTS, repo::Lineage(timelines, 1))) ==
        Pairs{{0, 10}, {10, 20}, {20, 30}});

  // Garbage collection keeps what only timeline 2's records reference.
  repo::CollectGarbage(repository);
  for (const auto& seg : archive.Segments("orders", BKP_ROLE_EVENTS, 2)) {
    for (const auto& c : seg.file.chunks) {
      CHECK_MESSAGE(repository.driver().Stat(c.object), c.object << " was collected");
    }
  }

  // An unknown timeline is named as such, with the ones there are.
  try {
    repo::Lineage(timelines, 7);
    FAIL("timeline 7 was found");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_NOT_FOUND);
    CHECK_MESSAGE(Contains(e.what(), "timeline 7 is not in the archive"), e.what());
    CHECK_MESSAGE(Contains(e.what(), "1, 2"), e.what());
  }
}

TEST_CASE("timelines: the same history again is a no-op, another one of that number is refused") {
  TempDir dir;
  repo::Repository repository(std::make_shared<repo::PosixDriver>(dir / "repo"));
  CHECK(nlohmann::json::parse(testing_support::ReadFile(dir / "repo" / "format.json"))
            .at("version") == 1);
  repo::PublishTimeline(repository, History(2, 1, 15));
  repo::PublishTimeline(repository, History(2, 1, 15));
  try {
    repo::PublishTimeline(repository, History(2, 1, 40));
    FAIL("a second history of timeline 2 was accepted");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_REFUSED_BY_POLICY);
    CHECK_MESSAGE(Contains(e.what(), "two restores chose the same timeline"), e.what());
  }
  // A history that does not branch from a lower timeline is not one.
  try {
    repo::DecodeTimelineHistory(repo::EncodeTimelineHistory(History(3, 3, 1)), "the test's");
    FAIL("a timeline branching from itself was accepted");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_CORRUPT);
  }
}
