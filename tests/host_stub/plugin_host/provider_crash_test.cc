// A provider that crashes does not take the host down for good (issue 18):
// a real hostd with the fx_crashing fixture crashes once in archive (SIGSEGV)
// and once in open (abort), starts again each time with that provider
// disabled, keeps serving appends, and takes it back after
// `hostd provider enable`.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>
#include <string>
#include <vector>

#include "api/admin_client.h"
#include "host_stub/hostd_process.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;

namespace {

struct CrashSetup {
  ts::TempDir dir;
  fs::path config = dir / "host.toml";
  fs::path crash_file = dir / "crash";
  fs::path port_file = dir / "port";

  CrashSetup() {
    ts::WriteFile(
        config,
        "plugin_dir = '" + std::string(BKP_HOST_FIXTURE_DIR) + "'\n[storage]\ndata_dir = '" +
            (dir / "data").string() +
            "'\nlog_segment_size = 4096\nlog_retention_entries = 0\ncompaction_interval_ms = "
            "0\n[server]\nport = 0\n[[providers]]\nname = 'crashy'\nplugin = "
            "'fx_crashing'\narchive = true\narchive_timeout = 1\n"
            "[providers.settings]\ncrash_file = '" +
            crash_file.string() + "'\n");
  }

  // hostd serve, without core dumps (a crash is the point here).
  std::unique_ptr<ts::ChildProcess> Start(const fs::path& log) const {
    fs::remove(port_file);
    return std::make_unique<ts::ChildProcess>(
        std::vector<std::string>{"/bin/sh", "-c",
                                 "ulimit -c 0; exec '" HOSTD_BIN "' serve --config '" +
                                     config.string() + "' --port-file '" + port_file.string() +
                                     "'"},
        log);
  }
  std::string Port() const {
    std::string port = ts::WaitForFile(port_file, hostd_process::kStartTimeoutMs);
    REQUIRE_MESSAGE(!port.empty(), "hostd wrote no port file");
    return port.substr(0, port.size() - 1);
  }
  ts::CommandResult Ctl(const std::string& port, std::vector<std::string> args) const {
    args.insert(args.begin(), {HOSTCTL_BIN, "--port", port});
    return ts::RunCommand(args);
  }
  ts::CommandResult ProviderCrashHostd(std::vector<std::string> args) const {
    args.insert(args.begin(), HOSTD_BIN);
    args.insert(args.end(), {"--config", config.string()});
    return ts::RunCommand(args);
  }

  // Starts hostd after a crash, checks the provider is disabled (naming
  // `signal` and `call`), that appends work, then stops it.
  void StartsDisabled(const std::string& signal, const std::string& call,
                      const fs::path& log) const {
    auto host = Start(log);
    const std::string port = Port();
    const ts::CommandResult r = Ctl(port, {"append", "--context", "orders", "--count", "300"});
    CAPTURE(r.output);
    CHECK(r.exit_code == 0);
    // Compaction keeps the log the disabled archiver has not archived: once
    // re-enabled, its archive has no gap.
    hoststub::AdminClient client("127.0.0.1", static_cast<uint16_t>(std::stoi(port)));
    auto report = client.Compact();
    REQUIRE_MESSAGE(report.ok(), report.error().message);
    CHECK(report->deleted.empty());
    CHECK(report->kept_for_archive > 0);
    // hostctl status says so, with the way back, and fails while it lasts.
    const ts::CommandResult status = Ctl(port, {"status"});
    CAPTURE(status.output);
    CHECK(status.exit_code == 1);
    CHECK(ts::Contains(status.output, "provider 'crashy' DISABLED: the host crashed (signal " +
                                          signal + ") during its call '" + call + "'"));
    CHECK(ts::Contains(status.output, "re-enable: hostd provider enable crashy --config " +
                                          config.string() + " once fixed, then restart hostd"));
    const ts::CommandResult json = Ctl(port, {"status", "--json"});
    CHECK(json.exit_code == 1);
    CHECK(ts::Contains(json.output, R"("disabled_providers":[{"enable":"hostd provider enable )"
                                    R"(crashy --config )"));
    CHECK(host->Stop(SIGTERM) == 0);
    const std::string text = ts::ReadFile(log);
    CAPTURE(text);
    CHECK(ts::Contains(text, "hostd: provider 'crashy' is DISABLED: the host crashed (signal " +
                                 signal + ") during its call '" + call + "'"));
    CHECK(ts::Contains(text, "hostd provider enable crashy"));
    const ts::CommandResult plugins = ProviderCrashHostd({"plugins"});
    CAPTURE(plugins.output);
    CHECK(plugins.exit_code == 1);
    CHECK(ts::Contains(plugins.output, "crashy: DISABLED: the host crashed (signal " + signal));
  }
};

}  // namespace

TEST_CASE("provider crash: a crash in archive or open disables the provider, not the host") {
  CrashSetup s;

  // 1. archive crashes (SIGSEGV) once the tail is shipped.
  ts::WriteFile(s.crash_file, "archive\n");
  {
    auto host = s.Start(s.dir / "1.log");
    const std::string port = s.Port();
    s.Ctl(port, {"append", "--context", "orders", "--count", "10"});
    CHECK(hostd_process::WaitExit(*host) == -SIGSEGV);
  }
  s.StartsDisabled("11", "archive", s.dir / "2.log");

  // 2. Re-enabled while open still crashes (abort): disabled again.
  ts::WriteFile(s.crash_file, "open\n");
  ts::CommandResult r = s.ProviderCrashHostd({"provider", "enable", "crashy"});
  CAPTURE(r.output);
  REQUIRE(r.exit_code == 0);
  {
    auto host = s.Start(s.dir / "3.log");
    CHECK(hostd_process::WaitExit(*host) == -SIGABRT);
  }
  s.StartsDisabled("6", "open", s.dir / "4.log");

  // 3. Fixed and re-enabled: loaded and archiving again.
  fs::remove(s.crash_file);
  REQUIRE(s.ProviderCrashHostd({"provider", "enable", "crashy"}).exit_code == 0);
  CHECK(s.ProviderCrashHostd({"provider", "enable", "crashy"}).exit_code == 1);  // not disabled now
  {
    auto host = s.Start(s.dir / "5.log");
    const ts::CommandResult status = s.Ctl(s.Port(), {"status"});
    CAPTURE(status.output);
    CHECK(status.exit_code == 0);
    CHECK_FALSE(ts::Contains(status.output, "DISABLED"));
    CHECK(host->Stop(SIGTERM) == 0);
  }
  const std::string text = ts::ReadFile(s.dir / "5.log");
  CAPTURE(text);
  CHECK(ts::Contains(text, "hostd: provider 'crashy': fx_crashing"));
  CHECK_FALSE(ts::Contains(text, "DISABLED"));
  CHECK(s.ProviderCrashHostd({"plugins"}).exit_code == 0);
}
