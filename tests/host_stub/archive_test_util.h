// What a wal_archive repository's archive holds, read from its files as a
// person would (docs/repository-format.md: one JSON record per archived
// segment, archive/<context>/<role>/<base>.json, or <base>.partial.json for
// a piece of a segment still being written), and the checks the archiver
// tests make of it. Not thread-safe.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.h"
#include "host_stub/hostd_process.h"
#include "plugin_host/abi_status.h"
#include "storage/event_store.h"
#include "test_support.h"

namespace archive_test {

struct ArchivedRecord {
  std::string name;  // the segment's file name
  uint64_t base = 0;
  uint64_t next = 0;
  uint64_t size = 0;
  bool closed = false;  // false: a piece (.partial.json)
  int64_t observed_ms = 0;
  int64_t first_ms = 0;
};

// The streams of a context, as the ABI names their roles.
inline constexpr uint32_t kBkpStreamRoles[] = {BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS};

inline hoststub::StreamRole StoreRole(uint32_t role) {
  return role == BKP_ROLE_LOG      ? hoststub::StreamRole::kLog
         : role == BKP_ROLE_EVENTS ? hoststub::StreamRole::kEvents
                                   : hoststub::StreamRole::kSnapshots;
}

// The records of one stream (role BKP_ROLE_*), ascending base, a piece
// after the closed record of the same base if both exist.
inline std::vector<ArchivedRecord> Records(const std::filesystem::path& repo,
                                           const std::string& context, uint32_t role) {
  std::vector<ArchivedRecord> out;
  const std::filesystem::path dir = repo / "archive" / context / hoststub::BkpRoleName(role);
  if (!std::filesystem::exists(dir)) return out;
  for (const auto& file : testing_support::ListSorted(dir)) {
    const auto j = nlohmann::json::parse(testing_support::ReadFile(file));
    const auto& f = j.at("file");
    out.push_back({f.at("name").get<std::string>(), f.at("base").get<uint64_t>(),
                   f.at("next").get<uint64_t>(), f.at("size").get<uint64_t>(),
                   f.at("closed").get<bool>(), j.at("observed_ms").get<int64_t>(),
                   j.at("first_ms").get<int64_t>()});
  }
  return out;
}

// The archive of one stream holds each closed segment of `segments` (a
// store's listing, oldest first) exactly once, byte for byte in size and
// range, and nothing else closed: no gap, no duplicate. Returns how many.
inline size_t CheckClosedArchived(const std::vector<ArchivedRecord>& records,
                                  const std::vector<hoststub::SegmentInfo>& segments) {
  std::vector<ArchivedRecord> closed;
  for (const auto& r : records) {
    if (r.closed) closed.push_back(r);
  }
  size_t expected = 0;
  for (const auto& s : segments) expected += s.closed ? 1 : 0;
  REQUIRE(closed.size() == expected);
  for (size_t i = 0; i < closed.size(); ++i) {
    CAPTURE(closed[i].name);
    CHECK(closed[i].name == segments[i].path.filename().string());
    CHECK(closed[i].base == segments[i].base);
    CHECK(closed[i].next == segments[i].next);
    CHECK(closed[i].size == segments[i].size);
    if (i > 0) CHECK(closed[i].base == closed[i - 1].next);
  }
  return closed.size();
}

// Polls a running hostd's `hostctl status --json` until its first archiver
// is archiving (on `timeline`, when given) and holds every event and log
// entry of every context; returns that archiver's status. Fails the test,
// with the host's log, after 60 s.
inline nlohmann::json WaitArchivedEverything(const hostd_process::HostProcess& host,
                                             std::optional<uint32_t> timeline = std::nullopt) {
  using nlohmann::json;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  json status;
  while (std::chrono::steady_clock::now() < deadline) {
    status = host.Json({"status", "--json"});
    const json& a = status.at("archive").at("archivers").at(0);
    bool all = a.at("state") == "archiving" && (!timeline || a.at("timeline") == *timeline);
    for (const json& c : status.at("contexts")) {
      bool events = false;
      bool log = false;
      for (const json& s : a.at("streams")) {
        if (s.at("context") != c.at("name")) continue;
        if (s.at("role") == "events") events = s.at("next") == c.at("next_event_token");
        if (s.at("role") == "log") {
          const uint64_t last = c.at("last_log_index").get<uint64_t>();
          log = s.at("next") == (last == 0 ? 0 : last + 1);
        }
      }
      all = all && events && log;
    }
    if (all) return a;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("the archive never caught up"
       << (timeline ? " on timeline " + std::to_string(*timeline) : "") << ": " << status.dump()
       << "\nhost log:\n"
       << host.Log());
  return nullptr;
}

}  // namespace archive_test
