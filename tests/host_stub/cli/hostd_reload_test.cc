// SIGHUP, SIGTERM and SIGINT sent to a real `hostd serve`: a reload adds,
// removes and reopens providers while a backup on the old settings runs to
// its end; a config that does not load is refused with its file:line and
// the host keeps serving on the old one; a stop is logged.
// Single-threaded; each case has its own directories and port. Waits poll
// the host's log or status with a bounded deadline.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "host_stub/hostd_process.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using nlohmann::json;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

constexpr auto kHostdReloadDeadline = std::chrono::seconds(60);

std::string Header(const ts::TempDir& dir) {
  return "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) +
         "\n[storage]\ndata_dir = " + Quoted(dir / "data") +
         "\nfsync = 'never'\n[server]\nport = 0\n";
}

std::string LocalDisk(const std::string& name, const fs::path& repo) {
  return "[[providers]]\nname = '" + name +
         "'\nplugin = 'local_disk'\n[providers.settings]\npath = " + Quoted(repo) + "\n";
}

// fx_blocking: its backup holds until `release` exists.
std::string Blocking(const std::string& name, const fs::path& release) {
  return "[[providers]]\nname = '" + name +
         "'\nplugin = " + Quoted(fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so") +
         "\n[providers.settings]\nrelease_file = " + Quoted(release) + "\n";
}

// Waits until the host's log holds `text` `count` times.
void WaitForLog(const hostd_process::HostProcess& host, const std::string& text, int count = 1) {
  const auto deadline = std::chrono::steady_clock::now() + kHostdReloadDeadline;
  while (true) {
    const std::string log = host.Log();
    int found = 0;
    for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
      ++found;
    }
    if (found >= count) return;
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the host never logged '" << text
                                                                                           << "':\n"
                                                                                           << log);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

json WaitForState(const hostd_process::HostProcess& host, const std::string& state,
                  const std::string& phase = {}) {
  const auto deadline = std::chrono::steady_clock::now() + kHostdReloadDeadline;
  while (true) {
    json op = host.Json({"status", "--json"}).at("operation");
    if (!op.is_null() && op.at("state") == state && (phase.empty() || op.at("phase") == phase)) {
      return op;
    }
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the operation never became "
                                                                     << state << ":\n"
                                                                     << host.Log());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

TEST_CASE(
    "SIGHUP: providers added, removed and changed, and a running backup ends on the old ones") {
  ts::TempDir dir;
  const fs::path config = dir / "host.toml";
  ts::WriteFile(config, Header(dir) + LocalDisk("local", dir / "repo") +
                            Blocking("slow", dir / "release-old"));
  hostd_process::HostProcess host(config, dir / "port", dir / "hostd.log");
  REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "50"}).exit_code == 0);
  REQUIRE(host.Ctl({"backup", "create", "--provider", "slow", "--detach"}).exit_code == 0);
  WaitForState(host, "running", "events");

  // 'slow' now waits for another file, 'local' goes, 'second' comes.
  ts::WriteFile(config, Header(dir) + Blocking("slow", dir / "release-new") +
                            LocalDisk("second", dir / "repo2"));
  host.Signal(SIGHUP);
  WaitForLog(host, "SIGHUP: reloaded");
  const std::string log = host.Log();
  CHECK(Contains(log, "INFO  hostd: provider 'second' added: local_disk"));
  CHECK(Contains(log, "INFO  hostd: provider 'slow' changed"));
  CHECK(Contains(log, "INFO  hostd: provider 'local' removed"));
  CHECK(Contains(log, "1 provider(s) added, 1 changed, 1 removed, 0 unchanged"));

  ts::CommandResult r = host.Ctl({"backup", "list", "--provider", "local"});
  CHECK(r.exit_code != 0);
  INFO(r.output);
  CHECK(Contains(r.output, "unknown backup provider 'local' (configured: 'slow', 'second')"));

  // The running backup is the old instance's: the new release file does not
  // end it (a bounded look, long against its 2 ms poll), the old one does.
  ts::WriteFile(dir / "release-new", "");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(host.Json({"status", "--json"}).at("operation").at("state") == "running");
  ts::WriteFile(dir / "release-old", "");
  WaitForState(host, "succeeded");

  // New operations use the new settings: 'slow' is released by the new file
  // alone, 'second' writes its own repository.
  fs::remove(dir / "release-old");
  r = host.Ctl({"backup", "create", "--provider", "slow", "--no-progress"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  r = host.Ctl({"backup", "create", "--provider", "second", "--no-progress"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(host.Json({"backup", "list", "--provider", "second", "--json"}).at("backups").size() == 1);
  CHECK(host.Stop() == 0);
}

TEST_CASE("SIGHUP: a config that does not load is refused with its file:line, the old one kept") {
  ts::TempDir dir;
  const fs::path config = dir / "host.toml";
  const std::string good = Header(dir) + LocalDisk("local", dir / "repo");
  ts::WriteFile(config, good);
  hostd_process::HostProcess host(config, dir / "port", dir / "hostd.log");
  REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "20"}).exit_code == 0);

  // Line 7 of the file, in [server]: an unknown key.
  ts::WriteFile(config, Header(dir) + "bogus = 1\n" + LocalDisk("other", dir / "repo2"));
  host.Signal(SIGHUP);
  WaitForLog(host, "refused, the running configuration stays");
  CHECK(Contains(host.Log(), "ERROR hostd: SIGHUP: reload of '" + config.string() +
                                 "' refused, the running configuration stays: Invalid argument: " +
                                 config.string() + ":7: unknown key 'server.bogus'"));

  // A provider whose plugin does not open: refused as a whole.
  ts::WriteFile(config, good + "[[providers]]\nname = 'broken'\nplugin = 'no_such_plugin'\n");
  host.Signal(SIGHUP);
  WaitForLog(host, "refused, the running configuration stays", 2);
  CHECK(Contains(host.Log(), "provider 'broken' (plugin no_such_plugin)"));

  // The host still serves on the old config, and still answers SIGHUP.
  ts::CommandResult r = host.Ctl({"backup", "create", "--provider", "local", "--no-progress"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  ts::WriteFile(config, good);
  host.Signal(SIGHUP);
  WaitForLog(host, "0 provider(s) added, 0 changed, 0 removed, 1 unchanged ('local')");

  // SIGINT stops it cleanly, saying so.
  CHECK(host.Stop(SIGINT) == 0);
  CHECK(Contains(host.Log(), "INFO  hostd: SIGINT, stopping"));
  CHECK(Contains(host.Log(), "INFO  hostd: stopped"));
}
