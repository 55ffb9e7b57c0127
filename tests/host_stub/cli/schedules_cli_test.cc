// [[schedules]] in a real `hostd serve`, with the real wal_archive provider:
// an incremental schedule with no full base takes a full (and says so), a
// full one every second takes backups and applies its keep_last (whole
// chains kept),
// a drill schedule restores the newest backup and passes, all logged; a
// SIGHUP removes the schedules. Then, on the quiet host, the dry runs of
// `hostctl backup expire` and `delete` delete nothing, and backup ids may
// be `latest` or a unique prefix (an ambiguous one lists the candidates),
// through hostctl and the offline hostd commands alike.
// Waits poll the host's log with a bounded deadline.
#include <signal.h>

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "host_stub/hostd_process.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using nlohmann::json;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

constexpr auto kScheduleDeadline = std::chrono::seconds(60);

void WaitForScheduleLog(const hostd_process::HostProcess& host, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + kScheduleDeadline;
  while (!Contains(host.Log(), text)) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the host never logged '"
                                                                     << text << "':\n"
                                                                     << host.Log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<std::string> BackupIds(const hostd_process::HostProcess& host) {
  std::vector<std::string> ids;
  const json listed = host.Json({"backup", "list", "--json"});
  for (const json& b : listed.at("backups")) {
    ids.push_back(b.at("id").get<std::string>());
  }
  return ids;
}

}  // namespace

TEST_CASE("schedules: hostd serve backs up, expires and drills on its own, SIGHUP changes it") {
  ts::TempDir dir;
  const fs::path config = dir / "host.toml";
  const std::string base = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) +
                           "\n[storage]\ndata_dir = " + Quoted(dir / "data") +
                           "\nfsync = 'never'\n[server]\nport = 0\n"
                           "[[providers]]\nname = 'local'\nplugin = 'wal_archive'\n"
                           "[providers.settings]\npath = " +
                           Quoted(dir / "repo") + "\n";
  ts::WriteFile(config, base + R"(
[[schedules]]
name = "incr"
provider = "local"
kind = "incremental"
every = "1s"

[[schedules]]
name = "often"
provider = "local"
kind = "full"
every = "1s"
keep_last = 2

[[schedules]]
name = "drill"
provider = "local"
kind = "drill"
every = "2s"
)");
  hostd_process::HostProcess host(config, dir / "port", dir / "hostd.log");
  REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "50"}).exit_code == 0);
  WaitForScheduleLog(host,
                     "schedule 'incr': provider 'local' holds no full backup for an incremental "
                     "to build on: taking a full backup instead");
  WaitForScheduleLog(host, "schedule 'often': retention removed 1 backup(s)");
  WaitForScheduleLog(host, "schedule 'drill': restore drill passed: backup '");

  // hostctl schedules shows each schedule and its last run.
  ts::CommandResult shown = host.Ctl({"schedules"});
  INFO(shown.output);
  CHECK(shown.exit_code == 0);
  CHECK(Contains(shown.output, "drill: drill via provider 'local', every 2s; next "));
  CHECK(Contains(shown.output, "and checked"));
  CHECK(Contains(shown.output, "often: full via provider 'local', every 1s"));

  // Without schedules the host goes quiet.
  ts::WriteFile(config, base);
  host.Signal(SIGHUP);
  WaitForScheduleLog(host, "SIGHUP: 0 schedule(s) in effect");
  // A schedule that was already running finishes: wait until the host idles.
  for (int i = 0; i < 3000; ++i) {
    const json op = host.Json({"status", "--json"}).at("operation");
    if (op.is_null() || op.at("state") != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const std::vector<std::string> ids = BackupIds(host);
  INFO(host.Log());
  REQUIRE(ids.size() >= 2);
  const std::string log = host.Log();
  CHECK_FALSE(Contains(log, "ERROR"));

  // Dry runs name what would go and delete nothing.
  ts::CommandResult r = host.Ctl({"backup", "expire", "--keep-last", "1", "--dry-run"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "dry run: would remove"));
  r = host.Ctl({"backup", "delete", "latest", "--dry-run"});
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "dry run: would delete backup " + ids.back()));
  CHECK(BackupIds(host) == ids);

  // An ambiguous prefix lists the candidates; a unique one works.
  r = host.Ctl({"backup", "verify", ids.front().substr(0, 4)});
  CHECK(r.exit_code != 0);
  CHECK(Contains(r.output, "is ambiguous in provider 'local'"));
  CHECK(Contains(r.output, ids.back()));
  r = host.Ctl({"backup", "verify", "latest"});
  CHECK(r.exit_code == 0);
  r = host.Ctl({"backup", "delete", "latest"});
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "deleted backup " + ids.back()));
  CHECK(host.Stop() == 0);

  // The offline commands on the stopped host resolve ids the same way.
  r = ts::RunCommand(
      {HOSTD_BIN, "backup", "delete", "--config", config.string(), "latest", "--dry-run"});
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "dry run: would delete backup " + ids[ids.size() - 2]));
  r = ts::RunCommand({HOSTD_BIN, "restore", "--config", config.string(), "--backup",
                      ids[ids.size() - 2].substr(0, ids[ids.size() - 2].size() - 2), "--data-dir",
                      (dir / "restored").string()});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(fs::exists(dir / "restored" / "control.db"));
}

TEST_CASE(
    "schedules: a failed restore drill is an ERROR line, hostctl schedules and status exit 1") {
  ts::TempDir dir;
  const fs::path config = dir / "host.toml";
  // No backup to restore: every drill fails.
  ts::WriteFile(config, "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) +
                            "\n[storage]\ndata_dir = " + Quoted(dir / "data") +
                            "\nfsync = 'never'\n[server]\nport = 0\n"
                            "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n"
                            "[providers.settings]\npath = " +
                            Quoted(dir / "repo") +
                            "\n[[schedules]]\nname = 'drill'\nprovider = 'local'\n"
                            "kind = 'drill'\nevery = '1s'\n");
  hostd_process::HostProcess host(config, dir / "port", dir / "hostd.log");
  WaitForScheduleLog(host,
                     "ERROR hostd: schedule 'drill': restore drill FAILED: restore drill via "
                     "provider 'local': 'latest': provider 'local' holds no complete backup");
  ts::CommandResult r = host.Ctl({"schedules"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "FAILED: restore drill via provider 'local'"));
  // The drill is an operation of the host: the history records it, and a
  // failed last drill makes `hostctl status` exit 1 (an alert), naming it.
  ts::CommandResult status_run = host.Ctl({"status", "--json"});
  INFO(status_run.output);
  CHECK(status_run.exit_code == 1);
  CHECK(Contains(status_run.output, "the last drill via provider 'local' failed"));
  const json reply =
      json::parse(status_run.output.substr(0, status_run.output.find('\n')), nullptr, false);
  REQUIRE(reply.is_object());
  const json& status = reply.at("operation");
  CHECK(status.at("kind") == "drill");
  CHECK(status.at("state") == "failed");
  REQUIRE(reply.at("history").is_array());
  REQUIRE(!reply.at("history").empty());
  CHECK(reply.at("history").at(0).at("kind") == "drill");
  CHECK(reply.at("history").at(0).at("result") == "failed");
}

// A schedule whose backups never finish (the fx_blocking fixture holds the
// first one until DIR/release exists) goes stale once twice its period has
// passed with no backup: `hostctl status` exits 1 naming it and /metrics
// says hostd_schedule_stale 1 (promtool accepts the scrape). Once a backup
// succeeds it is fresh again: status exits 0.
TEST_CASE("schedules: hostctl status exits 1 while a schedule's newest backup is too old") {
  ts::TempDir dir;
  const fs::path config = dir / "host.toml";
  ts::WriteFile(config, "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) +
                            "\n[storage]\ndata_dir = " + Quoted(dir / "data") +
                            "\nfsync = 'never'\n[server]\nport = 0\n"
                            "[[providers]]\nname = 'slow'\nplugin = " +
                            Quoted(fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so") +
                            "\n[providers.settings]\nrelease_file = " + Quoted(dir / "release") +
                            "\n[[schedules]]\nname = 'guard'\nprovider = 'slow'\nkind = "
                            "'full'\nevery = '2s'\n");
  hostd_process::HostProcess host(config, dir / "port", dir / "hostd.log");
  const std::string series =
      R"(hostd_schedule_stale{schedule="guard",provider="slow",kind="full"})";
  auto scrape = [&] {
    ts::CommandResult r = ts::RunCommand({"curl", "-sS", "--fail-with-body", "--max-time", "30",
                                          "http://127.0.0.1:" + host.port() + "/metrics"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    ts::WriteFile(dir / "scrape.prom", r.output);
    ts::CommandResult lint =
        ts::RunCommand({"sh", "-c", "promtool check metrics < " + Quoted(dir / "scrape.prom")});
    INFO(lint.output);
    CHECK(lint.exit_code == 0);
    return r.output;
  };
  auto wait_for_status = [&](int exit_code) {
    const auto deadline = std::chrono::steady_clock::now() + kScheduleDeadline;
    while (true) {
      ts::CommandResult r = host.Ctl({"status", "--json"});
      if (r.exit_code == exit_code) return r;
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                      "status never exited " << exit_code << ": " << r.output << host.Log());
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  };

  // The first scheduled backup blocks: after 4 s with no backup, stale.
  ts::CommandResult stale = wait_for_status(1);
  INFO(stale.output);
  CHECK(Contains(stale.output,
                 "hostctl: schedule 'guard' (full via provider 'slow', every 2s) is stale: no "
                 "backup via provider 'slow' yet, in effect since "));
  CHECK(Contains(stale.output, "limit 4 s: older than twice its period"));
  const json stale_reply = json::parse(stale.output.substr(0, stale.output.find('\n')));
  REQUIRE(stale_reply["schedules"].size() == 1);
  CHECK(stale_reply["schedules"][0]["stale"] == true);
  CHECK(stale_reply["schedules"][0]["max_age_s"] == 4);
  CHECK(stale_reply["schedules"][0]["newest_success_ms"].is_null());
  const std::string stale_text = host.Ctl({"status"}).output;
  CHECK(Contains(stale_text, "  guard (full via provider 'slow', every 2s): STALE: no backup"));
  CHECK(Contains(scrape(), series + " 1\n"));

  // Released: the backup succeeds, and the schedule is fresh.
  ts::WriteFile(dir / "release", "x");
  ts::CommandResult fresh = wait_for_status(0);
  INFO(fresh.output);
  CHECK_FALSE(Contains(fresh.output, "is stale"));
  const json fresh_reply = json::parse(fresh.output.substr(0, fresh.output.find('\n')));
  CHECK(fresh_reply["schedules"][0]["stale"] == false);
  CHECK(fresh_reply["schedules"][0]["newest_success_ms"].is_number_integer());
  const std::string metrics = scrape();
  CHECK(Contains(
      metrics,
      R"(hostd_schedule_last_success_timestamp_seconds{schedule="guard",provider="slow",kind="full"} )"));
  CHECK(Contains(
      metrics,
      R"(hostd_schedule_max_age_seconds{schedule="guard",provider="slow",kind="full"} 4)"));
  REQUIRE(host.Stop() == 0);
}
