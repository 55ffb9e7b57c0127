// A context restored into a running host that archives continuously, end to
// end through the real binaries: `hostd serve` with wal_archive archiving
// (archive = true), `hostctl restore --context C --policy force` of an
// older backup, more appends, then point-in-time restores of C. The
// archive must never mix C's old history with the restored one: the host
// moves to a new timeline at the swap, and a point in time after it gives
// exactly the new history. Every wait polls with a bounded deadline.
// Single-threaded; each test case has its own directories and port.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "host_stub/archive_test_util.h"
#include "host_stub/hostd_process.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using hostd_process::HostProcess;
using nlohmann::json;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

// DIR/host.toml: 'pitr' (wal_archive into DIR/repo) archiving with
// archive_timeout = 1, small segments so that every history spans several.
fs::path CtxArchiveConfig(const ts::TempDir& dir) {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\nfsync = 'batch'\n";
  toml += "event_segment_size = '4KiB'\nlog_segment_size = '4KiB'\n";
  toml += "[server]\nport = 0\n";
  toml += "[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\narchive = true\n";
  toml += "archive_timeout = 1\n[providers.settings]\npath = " + Quoted(dir / "repo") +
          "\nworkers = 1\n";
  const fs::path config = dir / "host.toml";
  ts::WriteFile(config, toml);
  return config;
}

void CtxArchiveAppend(const HostProcess& host, const std::string& context, int count, int seed) {
  ts::CommandResult r =
      host.Ctl({"append", "--context", context, "--count", std::to_string(count), "--batch", "10",
                "--min-size", "100", "--max-size", "300", "--seed", std::to_string(seed)});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

std::string CtxArchiveRead(const HostProcess& host, const std::string& context) {
  ts::CommandResult r = host.Ctl({"read", "--context", context, "--limit", "0"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

// The first `n` events of a `hostctl read` listing (one line each).
std::string CtxArchiveFirstEvents(const std::string& listing, size_t n) {
  std::istringstream in(listing);
  std::string out;
  std::string line;
  for (size_t i = 0; i < n && std::getline(in, line); ++i) out += line + "\n";
  return out;
}

std::string CtxArchiveBackup(const HostProcess& host) {
  ts::CommandResult r =
      host.Ctl({"backup", "create", "--provider", "pitr", "--type", "full", "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return testing_support::CreatedBackupId(r.output);
}

}  // namespace

TEST_CASE("archive: a context restored online starts a new timeline, and PITR gives its history") {
  ts::TempDir dir;
  const fs::path config = CtxArchiveConfig(dir);
  HostProcess host(config, dir / "port", dir / "hostd.log");
  CtxArchiveAppend(host, "orders", 100, 1);
  CtxArchiveAppend(host, "audit", 50, 2);
  const std::string backup = CtxArchiveBackup(host);
  CtxArchiveAppend(host, "orders", 60, 3);  // the damage: tokens 100..159 of the old history
  archive_test::WaitArchivedEverything(host, 1);
  const std::string damaged = CtxArchiveRead(host, "orders");

  ts::CommandResult r = host.Ctl({"restore", "--provider", "pitr", "--backup", backup, "--context",
                                  "orders", "--policy", "force", "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  // The archive now goes on beside the old history, never into it.
  const json archiver = archive_test::WaitArchivedEverything(host, 2);
  CHECK(archiver.at("last_error").is_null());
  CHECK(Contains(host.Log(), "the data directory moved from timeline 1 to timeline 2"));
  CtxArchiveAppend(host, "orders", 40, 4);  // the new history: tokens 100..139
  CtxArchiveAppend(host, "audit", 10, 5);
  archive_test::WaitArchivedEverything(host, 2);

  // No backup of timeline 2's history holds the restored context yet: a
  // point in time on it is refused, not assembled from the old history.
  r = host.Ctl({"restore", "--provider", "pitr", "--to-token", "120", "--context", "orders", "--as",
                "orders-early", "--no-progress"});
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(Contains(r.output, "belongs to the history of timeline 2"));

  // A backup on the new timeline, more appends, then a point in time after
  // them: exactly the new history, none of the damage.
  CtxArchiveBackup(host);
  CtxArchiveAppend(host, "orders", 30, 6);  // tokens 140..169
  archive_test::WaitArchivedEverything(host, 2);
  const std::string current = CtxArchiveRead(host, "orders");
  r = host.Ctl({"restore", "--provider", "pitr", "--to-token", "159", "--context", "orders", "--as",
                "orders-pitr", "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(CtxArchiveRead(host, "orders-pitr") == CtxArchiveFirstEvents(current, 160));
  CHECK(CtxArchiveFirstEvents(current, 160) != CtxArchiveFirstEvents(damaged, 160));
  // A new name the archive never held stays on the directory's timeline.
  CHECK(archive_test::WaitArchivedEverything(host, 2).at("timeline") == 2);

  // The old history stays restorable along timeline 1.
  r = host.Ctl({"restore", "--provider", "pitr", "--timeline", "1", "--to-token", "159",
                "--context", "orders", "--as", "orders-old", "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(CtxArchiveRead(host, "orders-old") == damaged);

  CHECK(host.Stop() == 0);
  ts::CommandResult check =
      ts::RunCommand({HOSTD_BIN, "check", "--data-dir", (dir / "data").string()});
  INFO(check.output);
  CHECK(check.exit_code == 0);
}
