// End to end through the real hostd: `hostd plugins` (its lines and exit
// codes 0/1/2) and `hostd serve` loading the configured providers at start,
// refusing to start on a broken one, and closing them on the way out. Also
// the in-process inventory behind `hostd plugins`.
#include <signal.h>

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "plugin_host/plugin_inventory.h"
#include "plugin_host_test_util.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugin_host_testing::Contains;
using plugin_host_testing::Fixture;
using plugin_host_testing::FixtureConfig;
using plugin_host_testing::FixtureDir;
using plugin_host_testing::LogCapture;
using plugin_host_testing::ProviderToml;
using plugin_host_testing::ReadText;
using testing_support::RunCommand;
using testing_support::TempDir;
using testing_support::WriteFile;

namespace {

// A config file in `dir` whose plugin_dir is the fixtures and whose storage
// stays inside `dir`; `body` starts on line 6.
fs::path WriteConfig(const TempDir& dir, const std::string& body) {
  auto path = dir / "host.toml";
  WriteFile(path, "plugin_dir = '" + FixtureDir().string() + "'\n[storage]\ndata_dir = '" +
                      (dir / "data").string() + "'\n[server]\nport = 0\n" + body);
  return path;
}

std::string GoodProvider(const std::string& name) {
  return ProviderToml(name, "fx_good", "path = '/srv/backups'\n");
}

struct ServeResult {
  int exit_code = 0;
  std::string output;
};

// `hostd serve` that must exit on its own; killed (and failed) after 10 s.
ServeResult RunServeExpectingExit(const TempDir& dir, const fs::path& config) {
  auto log = dir / "hostd.log";
  testing_support::ChildProcess hostd({HOSTD_BIN, "serve", "--config", config.string()}, log);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool exited = false;
  while (std::chrono::steady_clock::now() < deadline && !exited) {
    exited = !hostd.Running();
    if (!exited) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ServeResult result;
  result.exit_code = hostd.Stop(SIGKILL);
  result.output = testing_support::ReadFile(log);
  CHECK_MESSAGE(exited, "hostd serve started despite a broken provider");
  return result;
}

}  // namespace

TEST_CASE("hostd plugins exits 0 listing the loaded provider and the unused plugin files") {
  TempDir dir;
  auto config = WriteConfig(dir, GoodProvider("nightly"));
  auto r = RunCommand({HOSTD_BIN, "plugins", "--config", config.string()});
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "nightly: loaded " + Fixture("fx_good").string() +
                               " (provider fx_good 0.1.0, ABI 1.2, capabilities: backup, list)\n"));
  // The plugin's open logged through the host to stderr.
  CHECK(Contains(r.output, "INFO  hostd: [nightly] opened nightly path=/srv/backups workers=1\n"));
  CHECK(Contains(r.output, "(unused) " + Fixture("fx_recording").string() +
                               ": provider fx_recording 0.1.0\n"));
  CHECK(Contains(r.output, "(unused) " + Fixture("fx_newer_minor").string() +
                               ": provider fx_variant 0.1.0\n"));
  CHECK(Contains(r.output, "(unused) " + Fixture("not_a_library").string() +
                               ": REFUSED: not a loadable shared object: "));
  CHECK(Contains(r.output, "(unused) " + Fixture("fx_refuses_major").string() +
                               ": REFUSED: the plugin refused the host's ABI 1.2: "));
  // The configured one is not listed again as unused.
  CHECK_FALSE(Contains(r.output, "(unused) " + Fixture("fx_good").string()));
}

TEST_CASE("hostd plugins exits 1 and says why a provider was refused, still listing the rest") {
  TempDir dir;
  auto config =
      WriteConfig(dir, GoodProvider("nightly") + ProviderToml("offsite", "fx_open_fails") +
                           ProviderToml("typo", "fx_good", "paht = '/x'\n"));
  auto r = RunCommand({HOSTD_BIN, "plugins", "--config", config.string()});
  CAPTURE(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "nightly: loaded " + Fixture("fx_good").string()));
  CHECK(Contains(r.output,
                 "offsite: REFUSED: provider 'offsite' (plugin fx_open_fails): open failed: bucket "
                 "'nowhere' does not exist: create it or fix settings.bucket "
                 "[BKP_E_INVALID_ARGUMENT] (configured at " +
                     config.string() + ":11)\n"));
  CHECK(Contains(r.output, "typo: REFUSED: " + config.string() +
                               ":18: provider 'typo': unknown setting 'paht' (fx_good accepts: "
                               "path, workers, token)\n"));
}

TEST_CASE("hostd plugins exits 2 on a config error naming the file and line") {
  TempDir dir;
  // Lines 1-5 are WriteConfig's; each entry takes 5 lines, its name on the
  // second: lines 7 and 12.
  auto config = WriteConfig(dir, GoodProvider("nightly") + GoodProvider("nightly"));
  auto r = RunCommand({HOSTD_BIN, "plugins", "--config", config.string()});
  CAPTURE(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "hostd: Invalid argument: " + config.string() +
                               ":12: provider name 'nightly' is already used at line 7"));

  r = RunCommand({HOSTD_BIN, "plugins", "--config", (dir / "missing.toml").string()});
  CHECK(r.exit_code == 2);
}

TEST_CASE("hostd plugins --verbose shows each plugin's settings") {
  TempDir dir;
  auto config = WriteConfig(dir, GoodProvider("nightly"));
  auto r = RunCommand({HOSTD_BIN, "plugins", "--verbose", "--config", config.string()});
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "nightly: loaded " + Fixture("fx_good").string() +
                               " (provider fx_good 0.1.0, ABI 1.2, capabilities: backup, list)\n"
                               "    a well-behaved test provider\n"
                               "    setting path (string, required): where the backups go\n"
                               "    setting workers (integer): parallel uploads\n"
                               "    setting token (string, secret): credential\n"));
}

TEST_CASE("hostd plugins without --config uses the built-in defaults") {
  // The default provider is local_disk into ./backups: run where that may go.
  TempDir dir;
  auto r = RunCommand(
      {"/bin/sh", "-c",
       "cd '" + dir.path().string() + "' && exec " + std::string(HOSTD_BIN) + " plugins"});
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "local: loaded "));
  CHECK(Contains(r.output, "bkp_local_disk.so (provider local_disk "));
  CHECK(fs::exists(dir / "backups" / "format.json"));
}

TEST_CASE("hostd plugins finds a relative plugin_dir next to the config file") {
  TempDir dir;
  fs::create_directories(dir / "conf" / "plugs");
  fs::copy_file(Fixture("fx_good"), dir / "conf" / "plugs" / "bkp_fx_good.so");
  auto config = dir / "conf" / "host.toml";
  WriteFile(config, "plugin_dir = 'plugs'\n" + GoodProvider("nightly"));
  auto r = RunCommand({HOSTD_BIN, "plugins", "--config", config.string()});
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output,
                 "nightly: loaded " + (dir / "conf" / "plugs" / "bkp_fx_good.so").string()));
}

TEST_CASE("hostd serve exits 3 naming a provider whose plugin cannot load, before opening data") {
  TempDir dir;
  auto config = WriteConfig(dir, ProviderToml("nightly", "fx_refuses_major"));
  ServeResult r = RunServeExpectingExit(dir, config);
  CAPTURE(r.output);
  CHECK(r.exit_code == 3);
  CHECK(
      Contains(r.output, "hostd: provider 'nightly' (plugin fx_refuses_major): " +
                             Fixture("fx_refuses_major").string() +
                             ": the plugin refused the host's ABI 1.2: fx_variant needs ABI 2.x"));
  CHECK_FALSE(fs::exists(dir / "data"));
}

TEST_CASE("hostd serve exits 3 when a provider's open fails, with the plugin's message") {
  TempDir dir;
  auto config = WriteConfig(dir, ProviderToml("offsite", "fx_open_fails"));
  ServeResult r = RunServeExpectingExit(dir, config);
  CAPTURE(r.output);
  CHECK(r.exit_code == 3);
  CHECK(Contains(r.output,
                 "hostd: provider 'offsite' (plugin fx_open_fails): open failed: bucket "
                 "'nowhere' does not exist"));
  // Where to fix it: the config file and line of the provider.
  CHECK(Contains(r.output, "[BKP_E_INVALID_ARGUMENT] (configured at " + config.string() + ":6)"));
}

TEST_CASE("hostd serve exits 2 on a provider setting the plugin does not know") {
  TempDir dir;
  auto config = WriteConfig(dir, ProviderToml("nightly", "fx_good", "path = '/b'\nworkerz = 2\n"));
  ServeResult r = RunServeExpectingExit(dir, config);
  CAPTURE(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "hostd: Invalid argument: " + config.string() +
                               ":11: provider 'nightly': unknown setting 'workerz'"));
}

TEST_CASE("hostd serve opens the providers at start and closes them when it stops") {
  TempDir dir;
  const auto journal = dir / "journal.txt";
  auto config = WriteConfig(
      dir, ProviderToml("rec", "fx_recording", "journal = '" + journal.string() + "'\n"));
  auto log = dir / "hostd.log";
  auto port_file = dir / "port";
  testing_support::ChildProcess hostd(
      {HOSTD_BIN, "serve", "--config", config.string(), "--port-file", port_file.string()}, log);
  std::string port = testing_support::WaitForFile(port_file, 10000);
  REQUIRE_MESSAGE(!port.empty(), "hostd wrote no port file; its log:\n" << ReadText(log));
  CHECK(Contains(ReadText(log), "hostd: provider 'rec': fx_recording 0.1.0 (ABI 1.2) from " +
                                    Fixture("fx_recording").string() + "\n"));
  CHECK(ReadText(journal) == "open\n");
  CHECK(hostd.Stop(SIGTERM) == 0);
  CHECK(ReadText(journal) == "open\nclose\nunload\n");
  CHECK(Contains(ReadText(log), "hostd: stopped"));
}

TEST_CASE("inventory: every provider is tried and every unused file reported") {
  LogCapture log;
  auto config = FixtureConfig(GoodProvider("nightly") + ProviderToml("old", "fx_wrong_major"));
  auto reports = hoststub::InspectProviders(config, log.Fn());
  REQUIRE(reports.size() == 2);
  CHECK(reports[0].name == "nightly");
  CHECK(reports[0].status.ok());
  CHECK(reports[0].plugin.name == "fx_good");
  CHECK(reports[0].plugin.capabilities == (BKP_CAP_BACKUP | BKP_CAP_LIST));
  CHECK(reports[0].plugin.settings.size() == 3);
  CHECK(reports[1].name == "old");
  CHECK(reports[1].plugin_path == Fixture("fx_wrong_major"));
  CHECK(Contains(reports[1].status.message(), "built for ABI 2.x"));

  auto unused = hoststub::InspectUnusedPlugins(config);
  bool saw_good = false;
  bool saw_recording = false;
  for (const auto& report : unused) {
    saw_good = saw_good || report.plugin_path == Fixture("fx_good");
    saw_recording = saw_recording || (report.plugin_path == Fixture("fx_recording") &&
                                      report.status.ok() && report.plugin.name == "fx_recording");
    CHECK_FALSE(report.plugin_path == Fixture("fx_wrong_major"));
  }
  CHECK_FALSE(saw_good);
  CHECK(saw_recording);
}

TEST_CASE("hostd plugins writes the providers' log lines as [log] says") {
  TempDir dir;
  // JSON lines: the provider's line from its open is one JSON object.
  auto config = WriteConfig(dir, GoodProvider("nightly") + "[log]\nformat = 'json'\n");
  auto r = RunCommand({HOSTD_BIN, "plugins", "--config", config.string()});
  CAPTURE(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "\"level\":\"info\""));
  CHECK(Contains(r.output, "\"msg\":\"opened nightly path=/srv/backups workers=1\""));
  CHECK_FALSE(Contains(r.output, "INFO  hostd: [nightly] opened"));
  // level = "warn": the INFO line is not written at all.
  config = WriteConfig(dir, GoodProvider("nightly") + "[log]\nlevel = 'warn'\n");
  r = RunCommand({HOSTD_BIN, "plugins", "--config", config.string()});
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Contains(r.output, "opened nightly"));
  CHECK(Contains(r.output, "nightly: loaded "));
}
