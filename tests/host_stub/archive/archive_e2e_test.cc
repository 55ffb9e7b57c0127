// Continuous archiving end to end, through the real binaries: `hostd serve`
// with the shipped wal_archive provider set to archive = true, driven by
// `hostctl`; a host killed with SIGKILL in the middle of archiving and
// restarted; `hostd restore` to a point in time from what reached the
// archive only through the host's archiver; backups taken beside the
// archiver under load. What the archive holds is read from the repository's
// files, what the host holds by opening its data directory once it is
// stopped. Every wait polls with a bounded deadline; nothing depends on a
// sleep.
#include <signal.h>

#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "host_stub/archive_test_util.h"
#include "host_stub/hostd_process.h"
#include "host_stub/storage_test_util.h"
#include "storage/segment.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using archive_test::ArchivedRecord;
using archive_test::CheckClosedArchived;
using archive_test::kBkpStreamRoles;
using archive_test::Records;
using hostd_process::HostProcess;
using hostd_process::WaitExit;
using nlohmann::json;

using testing_support::Contains;
using testing_support::Quoted;

namespace {

constexpr auto kArchiveE2eDeadline = std::chrono::seconds(60);

struct ArchiveConfig {
  uint64_t rate_limit = 0;  // the provider's read cap in bytes/s; 0: none
  const char* fsync = "never";
  std::optional<uint64_t> log_retention_entries = std::nullopt;
  std::string segment_size = "4KiB";
};

// DIR/NAME: data in DIR/data, the provider 'pitr' (wal_archive into
// DIR/repo) archiving with archive_timeout = 1.
fs::path WriteConfig(const ts::TempDir& dir, const std::string& name, const ArchiveConfig& c) {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\nfsync = '" + c.fsync + "'\n";
  toml += "event_segment_size = '" + c.segment_size + "'\nlog_segment_size = '" + c.segment_size +
          "'\n";
  if (c.log_retention_entries) {
    toml += "log_retention_entries = " + std::to_string(*c.log_retention_entries) + "\n";
  }
  toml += "[server]\nport = 0\n";
  toml += "[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\narchive = true\n";
  toml += "archive_timeout = 1\n[providers.settings]\npath = " + Quoted(dir / "repo") +
          "\nworkers = 1\nrate_limit = " + std::to_string(c.rate_limit) + "\n";
  const fs::path config = dir / name;
  ts::WriteFile(config, toml);
  return config;
}

ts::CommandResult ArchiveE2eHostd(std::vector<std::string> args) {
  args.insert(args.begin(), HOSTD_BIN);
  return ts::RunCommand(args);
}

// `hostctl append` of small generated events (100-300 bytes), in batches.
void Append(const HostProcess& host, const std::string& context, int count, int batch, int seed) {
  ts::CommandResult r = host.Ctl({"append", "--context", context, "--count", std::to_string(count),
                                  "--batch", std::to_string(batch), "--min-size", "100",
                                  "--max-size", "300", "--seed", std::to_string(seed)});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// The one archiver of `hostctl status --json`.
json Archiver(const HostProcess& host) {
  const json archivers = host.Json({"status", "--json"}).at("archive").at("archivers");
  REQUIRE(archivers.size() == 1);
  return archivers[0];
}

json WaitForArchiver(const HostProcess& host, const std::function<bool(const json&)>& done,
                     const char* what) {
  const auto deadline = std::chrono::steady_clock::now() + kArchiveE2eDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    json archiver = Archiver(host);
    if (done(archiver)) return archiver;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  FAIL("the archiver never got to: " << what << "; host log:\n" << host.Log());
  return nullptr;
}

bool CaughtUp(const json& a) {
  return a.at("state") == "archiving" && a.at("lag").at("segments") == 0 &&
         a.at("lag").at("bytes") == 0;
}

// The next_event_token and last_log_index of a context in `hostctl status --json`.
std::pair<uint64_t, uint64_t> Ends(const json& status, const std::string& context) {
  for (const json& c : status.at("contexts")) {
    if (c.at("name") == context) {
      return {c.at("next_event_token").get<uint64_t>(), c.at("last_log_index").get<uint64_t>()};
    }
  }
  FAIL("no context " << context);
  return {};
}

const json& StreamOf(const json& archiver, const std::string& context, const std::string& role) {
  for (const json& s : archiver.at("streams")) {
    if (s.at("context") == context && s.at("role") == role) return s;
  }
  FAIL("no stream " << context << " " << role);
  return archiver;
}

// The segment files of a stopped (or running) host's stream, by base; the
// newest is the active one.
std::vector<uint64_t> SegmentBases(const fs::path& data, const std::string& context,
                                   uint32_t role) {
  std::vector<uint64_t> bases;
  const auto kind = role == BKP_ROLE_LOG      ? hoststub::StreamRole::kLog
                    : role == BKP_ROLE_EVENTS ? hoststub::StreamRole::kEvents
                                              : hoststub::StreamRole::kSnapshots;
  for (const auto& file :
       ts::ListSorted(data / "contexts" / context / hoststub::BkpRoleName(role))) {
    if (auto base = hoststub::ParseSegmentFileName(kind, file.filename().string())) {
      bases.push_back(*base);
    }
  }
  return bases;
}

std::vector<hoststub::StoredEvent> ReadAll(const fs::path& data, const std::string& context) {
  auto store = storage_test::OpenOrFail(storage_test::Options(data));
  auto events = store->Read(context, 0, 1'000'000);
  REQUIRE_MESSAGE(events.ok(), events.status().ToString());
  return *events;
}

void CheckSameEvents(const std::vector<hoststub::StoredEvent>& got,
                     const std::vector<hoststub::StoredEvent>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].token != want[i].token || got[i].payload != want[i].payload ||
        got[i].log_index != want[i].log_index) {
      FAIL("event " << i << " differs");
    }
  }
}

// Every closed segment of the stopped host in `data` is in the archive
// once; the archive has no gap (also where compaction took the log since).
void CheckArchiveMatches(const fs::path& data, const fs::path& repo) {
  auto store = storage_test::OpenOrFail(storage_test::Options(data));
  for (const std::string& context : store->Contexts()) {
    for (uint32_t role : kBkpStreamRoles) {
      CAPTURE(context);
      CAPTURE(role);
      const auto records = Records(repo, context, role);
      auto segments = store->Segments(context, archive_test::StoreRole(role));
      REQUIRE(segments.ok());
      std::vector<ArchivedRecord> from_store_start;
      for (const auto& r : records) {
        if (r.base >= segments->front().base) from_store_start.push_back(r);
      }
      CheckClosedArchived(from_store_start, *segments);
      for (size_t i = 1; i < records.size(); ++i) CHECK(records[i].base == records[i - 1].next);
    }
  }
}

}  // namespace

TEST_CASE("hostd archiving: after a SIGKILL mid-archive a restart resumes, no gap, no duplicate") {
  ts::TempDir dir;
  // A slow target, about 0.15 s per 4 KiB segment; retention lets
  // compaction take every closed log segment the archive has.
  const fs::path slow =
      WriteConfig(dir, "slow.toml", {.rate_limit = 16384, .log_retention_entries = 0});
  std::map<std::pair<std::string, uint32_t>, std::optional<uint64_t>> newest_archived;
  {
    HostProcess host(slow, dir / "slow.port", dir / "slow.log");
    Append(host, "orders", 200, 4, 1);
    Append(host, "billing", 40, 4, 2);
    // Mid-archive: some segments in, more waiting, and the status says so.
    const json archiver = WaitForArchiver(
        host,
        [](const json& a) {
          return a.at("archived").at("segments") >= 3 && a.at("lag").at("segments") > 2 &&
                 a.at("lag").at("seconds") > 0.0;
        },
        "some segments archived, more waiting");
    CHECK(archiver.at("state") == "archiving");
    CHECK(archiver.at("lag").at("bytes") > 4096);
    ts::CommandResult status = host.Ctl({"status"});
    INFO(status.output);
    CHECK(Contains(status.output, "archive via provider 'pitr': archiving, archive_timeout 1 s"));
    CHECK(Contains(status.output, "CONTEXT  STREAM"));

    // Compaction through the admin API keeps every log segment not yet
    // archived; what it deletes was archived first.
    hoststub::AdminClient client("127.0.0.1", static_cast<uint16_t>(std::stoi(host.port())));
    auto report = client.Compact();
    REQUIRE_MESSAGE(report.ok(), report.error().message);
    CHECK(report->kept_for_archive > 0);
    std::set<std::string> archived_log;
    for (const auto& r : Records(dir / "repo", "orders", BKP_ROLE_LOG)) {
      if (r.closed) archived_log.insert(r.name);
    }
    for (const auto& deleted : report->deleted) {
      if (deleted.parent_path().parent_path().filename() != "orders") continue;
      CHECK_MESSAGE(archived_log.count(deleted.filename().string()) == 1,
                    deleted << " was compacted away before it was archived");
    }
    CHECK(host.Stop(SIGKILL) == -SIGKILL);
  }
  for (const std::string context : {"orders", "billing"}) {
    for (uint32_t role : kBkpStreamRoles) {
      auto& newest = newest_archived[{context, role}];
      for (const auto& r : Records(dir / "repo", context, role)) {
        if (r.closed) newest = r.base;
      }
    }
  }

  const fs::path fast = WriteConfig(dir, "fast.toml", {.log_retention_entries = 0});
  {
    HostProcess host(fast, dir / "fast.port", dir / "fast.log");
    // Nothing is appended now: the closed segments on disk are all there
    // will be (recovery may have closed one more, hence counted only now).
    std::map<std::pair<std::string, uint32_t>, uint64_t> missing;
    uint64_t total_missing = 0;
    for (const auto& [stream, newest] : newest_archived) {
      const auto bases = SegmentBases(dir / "data", stream.first, stream.second);
      for (size_t i = 0; i + 1 < bases.size(); ++i) {
        if (!newest || bases[i] > *newest) ++missing[stream];
      }
      total_missing += missing[stream];
    }
    REQUIRE(total_missing > 0);
    const json archiver = WaitForArchiver(host, CaughtUp, "caught up after the restart");
    CHECK(Contains(host.Log(), "archive via provider 'pitr': resuming where the archive ends"));
    // Exactly what the archive lacked was shipped: nothing twice, nothing
    // skipped.
    for (const auto& [stream, count] : missing) {
      CAPTURE(stream.first);
      CAPTURE(stream.second);
      CHECK(StreamOf(archiver, stream.first, hoststub::BkpRoleName(stream.second))
                .at("archived")
                .at("segments") == count);
    }
    CHECK(host.Stop() == 0);
  }
  CheckArchiveMatches(dir / "data", dir / "repo");
}

TEST_CASE("hostd archiving: what reached only the archive restores to a token and to a time") {
  ts::TempDir dir;
  const fs::path config =
      WriteConfig(dir, "host.toml", {.fsync = "batch", .segment_size = "16KiB"});
  {
    HostProcess host(config, dir / "host.port", dir / "hostd.log");
    Append(host, "orders", 200, 10, 1);
    ts::CommandResult backup =
        host.Ctl({"backup", "create", "--provider", "pitr", "--no-progress"});
    INFO(backup.output);
    REQUIRE(backup.exit_code == 0);
    // After the backup: appends of 10, tokens 200-349 and 350-499.
    Append(host, "orders", 150, 10, 2);
    Append(host, "orders", 150, 10, 3);
    const auto [next_token, last_index] = Ends(host.Json({"status", "--json"}), "orders");
    REQUIRE(next_token == 500);
    // archive_timeout = 1: the tails reach the archive without closing.
    WaitForArchiver(
        host,
        [&, next_token = next_token, last_index = last_index](const json& a) {
          return StreamOf(a, "orders", "events").at("next") == next_token &&
                 StreamOf(a, "orders", "log").at("next") == last_index + 1;
        },
        "every event and log entry archived");
    // The host is lost: everything after the backup exists only in the
    // archive (and in the dead host's directory, which the restore ignores).
    CHECK(host.Stop(SIGKILL) == -SIGKILL);
  }
  const auto original = ReadAll(dir / "data", "orders");
  REQUIRE(original.size() == 500);

  ts::CommandResult r =
      ArchiveE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--to-token",
                       "349", "--context", "orders", "--data-dir", (dir / "at-token").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "point in time: context 'orders' ends at token 349"));
  CheckSameEvents(ReadAll(dir / "at-token", "orders"), {original.begin(), original.begin() + 350});

  // To the time of the 26th append: every append at or before it, whole.
  const int64_t target_ms = original[259].timestamp_ms;
  size_t expected = 0;
  while (expected < original.size() && original[expected].timestamp_ms <= target_ms) ++expected;
  r = ArchiveE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--to-time",
                       std::to_string(target_ms), "--data-dir", (dir / "at-time").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CheckSameEvents(ReadAll(dir / "at-time", "orders"),
                  {original.begin(), original.begin() + static_cast<std::ptrdiff_t>(expected)});
}

TEST_CASE(
    "hostd archiving: a full backup and 5 increments under load beside the archiver restore") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", {.segment_size = "16KiB"});
  std::vector<std::string> ids;
  {
    HostProcess host(config, dir / "host.port", dir / "hostd.log");
    Append(host, "orders", 300, 10, 1);
    ts::ChildProcess load(
        host.CtlArgs({"load", "--context", "orders", "--rate", "1000", "--duration", "2",
                      "--min-size", "100", "--max-size", "400", "--seed", "7"}),
        dir / "load.out");
    // Each backup runs on the provider instance the archiver ships through.
    for (int i = 0; i < 6; ++i) {
      const json created = host.Json({"backup", "create", "--provider", "pitr", "--type",
                                      i == 0 ? "full" : "incremental", "--no-progress", "--json"});
      REQUIRE(created.at("operation").at("state") == "succeeded");
      ids.push_back(created.at("operation").at("result").at("backup_id").get<std::string>());
    }
    CHECK(WaitExit(load) == 0);
    WaitForArchiver(host, CaughtUp, "caught up");
    CHECK(host.Stop() == 0);
  }
  // A chain of increments, each naming its parent.
  uint64_t log_next = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const json manifest = json::parse(ts::ReadFile(dir / "repo" / "backups" / (ids[i] + ".json")));
    CHECK(manifest.at("type") == (i == 0 ? "full" : "incremental"));
    if (i > 0) CHECK(manifest.at("parent") == ids[i - 1]);
    for (const json& c : manifest.at("contexts")) {
      if (c.at("name") == "orders") log_next = c.at("log").at("next").get<uint64_t>();
    }
  }
  REQUIRE(log_next > 30);

  // The newest increment restores to exactly what the source held at the
  // end of the log it holds: every event of those entries, and no other
  // (events listed after the log, and so ahead of it, are cut by recovery).
  ts::CommandResult r =
      ArchiveE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--backup",
                       ids.back(), "--data-dir", (dir / "restored").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto source = ReadAll(dir / "data", "orders");
  size_t kept = 0;
  while (kept < source.size() && source[kept].log_index < log_next) ++kept;
  REQUIRE(kept > 300);
  CheckSameEvents(ReadAll(dir / "restored", "orders"),
                  {source.begin(), source.begin() + static_cast<std::ptrdiff_t>(kept)});
  // And the archive kept pace with the host throughout.
  CheckArchiveMatches(dir / "data", dir / "repo");
}
