// Point-in-time restore end to end, through the real binaries (`hostd
// serve` archiving through the shipped wal_archive provider, `hostctl`,
// `hostd restore`): contexts created after the newest backup come back
// from the archive; a target before any data is refused; and after a
// restore the host archives on, on a new timeline, beside the old one.
// What a restore holds is read by opening the restored directory.
#include <signal.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "host_stub/archive_test_util.h"
#include "host_stub/hostd_process.h"
#include "host_stub/storage_test_util.h"
#include "storage/control_db.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using hostd_process::HostProcess;
using nlohmann::json;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

constexpr auto kPitrE2eDeadline = std::chrono::seconds(60);

// DIR/NAME: data in DATA, the provider 'pitr' (wal_archive into DIR/repo)
// archiving with archive_timeout = 1.
fs::path WriteConfig(const ts::TempDir& dir, const std::string& name, const fs::path& data) {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(data) + "\nfsync = 'batch'\n";
  toml += "event_segment_size = '8KiB'\nlog_segment_size = '8KiB'\n";
  toml += "[server]\nport = 0\n";
  toml += "[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\narchive = true\n";
  toml += "archive_timeout = 1\n[providers.settings]\npath = " + Quoted(dir / "repo") +
          "\nworkers = 1\n";
  const fs::path config = dir / name;
  ts::WriteFile(config, toml);
  return config;
}

ts::CommandResult PitrE2eHostd(std::vector<std::string> args) {
  args.insert(args.begin(), HOSTD_BIN);
  return ts::RunCommand(args);
}

void Append(const HostProcess& host, const std::string& context, int count, int seed) {
  ts::CommandResult r =
      host.Ctl({"append", "--context", context, "--count", std::to_string(count), "--batch", "5",
                "--min-size", "100", "--max-size", "300", "--seed", std::to_string(seed)});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// The events of `all` appended at or before `ms`.
std::vector<hoststub::StoredEvent> UpTo(const std::vector<hoststub::StoredEvent>& all, int64_t ms) {
  std::vector<hoststub::StoredEvent> out;
  for (const auto& e : all) {
    if (e.timestamp_ms <= ms) out.push_back(e);
  }
  return out;
}

std::vector<hoststub::StoredEvent> PitrReadAll(const fs::path& data, const std::string& context) {
  auto store = storage_test::OpenOrFail(storage_test::Options(data));
  auto events = store->Read(context, 0, 1'000'000);
  if (!events.ok() && events.status().code() == hoststub::Status::Code::kNotFound) return {};
  REQUIRE_MESSAGE(events.ok(), events.status().ToString());
  return *events;
}

void PitrCheckSameEvents(const std::vector<hoststub::StoredEvent>& got,
                         const std::vector<hoststub::StoredEvent>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].token != want[i].token || got[i].payload != want[i].payload) {
      FAIL("event " << i << " differs");
    }
  }
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A wall-clock instant strictly after every event appended so far.
int64_t Moment() {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const int64_t ms = NowMs();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return ms;
}

}  // namespace

TEST_CASE("pitr: a context created after the newest backup is restored from the archive") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", dir / "data");
  int64_t after_b = 0;
  {
    HostProcess host(config, dir / "host.port", dir / "hostd.log");
    Append(host, "alpha", 60, 1);
    ts::CommandResult backup =
        host.Ctl({"backup", "create", "--provider", "pitr", "--no-progress"});
    INFO(backup.output);
    REQUIRE(backup.exit_code == 0);
    Append(host, "beta", 80, 2);
    after_b = Moment();
    archive_test::WaitArchivedEverything(host);
    CHECK(host.Stop() == 0);
  }
  const auto alpha = PitrReadAll(dir / "data", "alpha");
  const auto beta = PitrReadAll(dir / "data", "beta");
  REQUIRE(alpha.size() == 60);
  REQUIRE(beta.size() == 80);

  ts::CommandResult r =
      PitrE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--to-time",
                    std::to_string(after_b), "--data-dir", (dir / "at-time").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "point in time: context 'beta' ends at token 79"));
  {
    // Its control-DB rows, as the restore left them (before any host opens
    // it): the context, and a commit index covering its log.
    auto db = hoststub::ControlDb::Open(dir / "at-time" / "control.db", /*read_only=*/true);
    REQUIRE(db.ok());
    const auto contexts = (*db)->ListContexts();
    CHECK(std::find(contexts.begin(), contexts.end(), "beta") != contexts.end());
    auto states = (*db)->LoadReplicationStates();
    REQUIRE(states.ok());
    REQUIRE(states->count("beta") == 1);
    CHECK(states->at("beta").commit_index == beta.back().log_index);
    CHECK(states->at("beta").term >= 1);
  }
  PitrCheckSameEvents(PitrReadAll(dir / "at-time", "alpha"), alpha);
  PitrCheckSameEvents(PitrReadAll(dir / "at-time", "beta"), beta);
  ts::CommandResult check = PitrE2eHostd({"check", "--data-dir", (dir / "at-time").string()});
  INFO(check.output);
  CHECK(check.exit_code == 0);

  r = PitrE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--to-token",
                    "39", "--context", "beta", "--data-dir", (dir / "at-token").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  PitrCheckSameEvents(PitrReadAll(dir / "at-token", "beta"), {beta.begin(), beta.begin() + 40});
  // --context restores that context only.
  CHECK(PitrReadAll(dir / "at-token", "alpha").empty());
}

TEST_CASE("pitr: a target before any data is refused, not restored as an empty store") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", dir / "data");
  const int64_t before_all = Moment();
  std::string backup_id;
  int64_t before_backup = 0;
  {
    HostProcess host(config, dir / "host.port", dir / "hostd.log");
    Append(host, "alpha", 30, 1);
    before_backup = Moment();
    Append(host, "alpha", 30, 2);
    const json created =
        host.Json({"backup", "create", "--provider", "pitr", "--no-progress", "--json"});
    backup_id = created.at("operation").at("result").at("backup_id").get<std::string>();
    archive_test::WaitArchivedEverything(host);
    CHECK(host.Stop() == 0);
  }
  ts::CommandResult r =
      PitrE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--to-time",
                    std::to_string(before_all), "--data-dir", (dir / "too-early").string()});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "before the first event"));
  CHECK(!fs::exists(dir / "too-early"));

  // A named backup taken after the target cannot reach back to it.
  r = PitrE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--backup",
                    backup_id, "--to-time", std::to_string(before_backup), "--data-dir",
                    (dir / "before-backup").string()});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "before backup '" + backup_id + "'"));
  CHECK(!fs::exists(dir / "before-backup"));
}

TEST_CASE("pitr: after a restore the host archives on a new timeline, and each restores") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", dir / "data");
  int64_t mid = 0;
  int64_t end_tl1 = 0;
  {
    HostProcess host(config, dir / "host.port", dir / "hostd.log");
    Append(host, "alpha", 40, 1);
    ts::CommandResult backup =
        host.Ctl({"backup", "create", "--provider", "pitr", "--no-progress"});
    INFO(backup.output);
    REQUIRE(backup.exit_code == 0);
    Append(host, "alpha", 40, 2);
    mid = Moment();
    Append(host, "alpha", 40, 3);
    Append(host, "gamma", 20, 4);
    end_tl1 = Moment();
    archive_test::WaitArchivedEverything(host);
    CHECK(host.Stop() == 0);
  }
  const auto tl1_alpha = PitrReadAll(dir / "data", "alpha");
  const auto tl1_gamma = PitrReadAll(dir / "data", "gamma");
  REQUIRE(tl1_alpha.size() == 120);
  // Until a second timeline exists, readers from before timelines can read
  // the repository: its format stays 1.
  CHECK(json::parse(ts::ReadFile(dir / "repo" / "format.json")).at("version") == 1);

  // Back to the middle of timeline 1, into the host's own directory (the
  // old content is moved aside): the restore starts timeline 2.
  ts::CommandResult r = PitrE2eHostd({"restore", "--config", config.string(), "--provider", "pitr",
                                      "--to-time", std::to_string(mid), "--policy", "force"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "starts timeline 2, branching from timeline 1"));
  PitrCheckSameEvents(PitrReadAll(dir / "data", "alpha"), UpTo(tl1_alpha, mid));
  CHECK(Contains(r.output, "context 'gamma' was created after the target: left out"));
  CHECK_FALSE(fs::exists(dir / "data" / "contexts" / "gamma"));

  // The documented next step: start the host with the same config. It
  // archives on timeline 2, without an error, and the status says so.
  int64_t mid_tl2 = 0;
  {
    HostProcess host(config, dir / "host2.port", dir / "hostd2.log");
    Append(host, "alpha", 30, 5);
    mid_tl2 = Moment();
    Append(host, "alpha", 30, 6);
    const json archiver = archive_test::WaitArchivedEverything(host);
    CHECK(archiver.at("timeline") == 2);
    CHECK(archiver.at("last_error").is_null());
    ts::CommandResult status = host.Ctl({"status"});
    INFO(status.output);
    CHECK(status.exit_code == 0);
    CHECK(Contains(status.output,
                   "archive via provider 'pitr': archiving, archive_timeout 1 s, timeline 2"));
    // A chain never spans two timelines: the first backup here is full.
    ts::CommandResult incremental = host.Ctl(
        {"backup", "create", "--provider", "pitr", "--type", "incremental", "--no-progress"});
    INFO(incremental.output);
    CHECK(incremental.exit_code != 0);
    CHECK(Contains(incremental.output, "take a full backup to start a chain on this timeline"));
    ts::CommandResult full =
        host.Ctl({"backup", "create", "--provider", "pitr", "--type", "full", "--no-progress"});
    INFO(full.output);
    CHECK(full.exit_code == 0);
    CHECK(host.Stop() == 0);
    // The refused incremental is the one ERROR (a failed operation); the
    // archiver logged none.
    std::istringstream log(host.Log());
    for (std::string line; std::getline(log, line);) {
      if (Contains(line, " ERROR ")) CHECK(Contains(line, "BKP_E_MISSING_FULL_BACKUP"));
    }
  }
  const auto tl2_alpha = PitrReadAll(dir / "data", "alpha");
  REQUIRE(tl2_alpha.size() == UpTo(tl1_alpha, mid).size() + 60);

  // Both histories are in the archive, each with its records.
  CHECK(fs::exists(dir / "repo" / "timelines" / "00000002.json"));
  const json format = json::parse(ts::ReadFile(dir / "repo" / "format.json"));
  CHECK(format.at("version") == 2);

  // The newest timeline (2) by default: a point after the restore holds
  // timeline 1 up to the branch, then timeline 2's appends.
  r = PitrE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--to-time",
                    std::to_string(mid_tl2), "--data-dir", (dir / "tl2").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "starts timeline 3, branching from timeline 2"));
  PitrCheckSameEvents(PitrReadAll(dir / "tl2", "alpha"), UpTo(tl2_alpha, mid_tl2));
  CHECK_FALSE(fs::exists(dir / "tl2" / "contexts" / "gamma"));

  // Timeline 1 still restores as it was, to its end, gamma and all.
  r = PitrE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--to-time",
                    std::to_string(end_tl1), "--timeline", "1", "--data-dir",
                    (dir / "tl1").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "branching from timeline 1"));
  PitrCheckSameEvents(PitrReadAll(dir / "tl1", "alpha"), tl1_alpha);
  PitrCheckSameEvents(PitrReadAll(dir / "tl1", "gamma"), tl1_gamma);

  // An unknown timeline is refused, naming those there are.
  r = PitrE2eHostd({"restore", "--config", config.string(), "--provider", "pitr", "--to-time",
                    std::to_string(end_tl1), "--timeline", "9", "--data-dir",
                    (dir / "tl9").string()});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "timeline 9 is not in the archive"));

  // The backup list says which timeline each backup was taken on.
  r = PitrE2eHostd({"backup", "list", "--config", config.string(), "--provider", "pitr"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "TIMELINE"));
  const json listed = json::parse(
      PitrE2eHostd({"backup", "list", "--config", config.string(), "--provider", "pitr", "--json"})
          .output);
  std::vector<uint32_t> timelines;
  for (const json& b : listed.at("backups")) {
    timelines.push_back(b.at("details").at("timeline").get<uint32_t>());
  }
  CHECK(timelines == std::vector<uint32_t>{1, 2});
}

TEST_CASE("pitr: hostctl status exits non-zero while the archive is failing") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", dir / "data");
  {
    HostProcess host(config, dir / "host.port", dir / "hostd.log");
    Append(host, "alpha", 40, 1);
    archive_test::WaitArchivedEverything(host);
    CHECK(host.Stop() == 0);
  }
  // Another directory with a shorter history of the same context, archiving
  // into the same repository without having been restored from it: the
  // archiver refuses to mix the two and keeps failing.
  const fs::path other = WriteConfig(dir, "other.toml", dir / "other");
  HostProcess host(other, dir / "other.port", dir / "other.log");
  Append(host, "alpha", 5, 2);
  const auto deadline = std::chrono::steady_clock::now() + kPitrE2eDeadline;
  ts::CommandResult status;
  while (std::chrono::steady_clock::now() < deadline) {
    status = host.Ctl({"status"});
    if (status.exit_code != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  INFO(status.output);
  CHECK(status.exit_code == 1);
  CHECK(Contains(status.output, "the archive via provider 'pitr' is failing"));
  ts::CommandResult json_status = host.Ctl({"status", "--json"});
  CHECK(json_status.exit_code == 1);
  CHECK(host.Stop() == 0);
}
