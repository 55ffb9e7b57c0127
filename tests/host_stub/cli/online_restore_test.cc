// Per-context restore into a running host, through the real binaries:
// `hostd serve` with the shipped local_disk and wal_archive providers and
// the fx_blocking fixture (a restore that holds until cancelled, to act
// midway), driven by `hostctl restore`, `hostctl load` on another context,
// `hostctl cancel`; a SIGKILL of hostd midway, then a restart. Every wait
// polls with a bounded deadline.
// Single-threaded; each test case has its own directories and port.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "host_stub/hostd_process.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using hostd_process::WaitExit;
using nlohmann::json;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

constexpr auto kOnlineRestoreDeadline = std::chrono::seconds(60);

// DIR/host.toml: 'local' (local_disk), 'pitr' (wal_archive) and 'slow'
// (fx_blocking, released by DIR/release).
fs::path OnlineRestoreConfig(const ts::TempDir& dir) {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\nfsync = 'batch'\n";
  toml += "event_segment_size = '16KiB'\nlog_segment_size = '16KiB'\n";
  toml += "[server]\nport = 0\n";
  toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
          Quoted(dir / "repo-local") + "\nworkers = 1\n";
  toml += "[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\n[providers.settings]\npath = " +
          Quoted(dir / "repo-pitr") + "\nworkers = 1\n";
  toml += "[[providers]]\nname = 'slow'\nplugin = " +
          Quoted(fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so") +
          "\n[providers.settings]\nrelease_file = " + Quoted(dir / "release") + "\n";
  const fs::path config = dir / "host.toml";
  ts::WriteFile(config, toml);
  return config;
}

class OnlineRestoreHost : public hostd_process::HostProcess {
 public:
  OnlineRestoreHost(const ts::TempDir& dir, const fs::path& config, const std::string& log_name)
      : HostProcess(config, dir / (log_name + ".port"), dir / log_name) {}

  json WaitForOperation(const std::function<bool(const json&)>& done) const {
    const auto deadline = std::chrono::steady_clock::now() + kOnlineRestoreDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      json op = Json({"status", "--json"}).at("operation");
      if (!op.is_null() && done(op)) return op;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("the operation never reached the state waited for; host log:\n" << Log());
    return nullptr;
  }

  // The context's next event token; 0 when the host does not know it.
  uint64_t NextToken(const std::string& context) const {
    const json status = Json({"status", "--json"});  // alive for the loop
    for (const json& c : status.at("contexts")) {
      if (c.at("name") == context) return c.at("next_event_token").get<uint64_t>();
    }
    return 0;
  }

  void Append(const std::string& context, int count, int seed) const {
    ts::CommandResult r = Ctl({"append", "--context", context, "--count", std::to_string(count),
                               "--batch", "20", "--seed", std::to_string(seed)});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }

  std::string Backup(const std::string& provider) const {
    ts::CommandResult r = Ctl({"backup", "create", "--provider", provider, "--no-progress"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return testing_support::CreatedBackupId(r.output);
  }

  // The context's events as `hostctl read` prints them.
  std::string Read(const std::string& context) const {
    ts::CommandResult r = Ctl({"read", "--context", context, "--limit", "0"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return r.output;
  }
};

ts::CommandResult OnlineRestoreHostd(std::vector<std::string> args) {
  args.insert(args.begin(), HOSTD_BIN);
  return ts::RunCommand(args);
}

bool Running(const json& op) { return op.at("state") == "running"; }

// What a per-context restore has staged in DIR/data (nothing: empty).
std::vector<fs::path> Staged(const ts::TempDir& dir) {
  const fs::path staging = dir / "data" / ".context-restore";
  return fs::exists(staging) ? ts::ListSorted(staging) : std::vector<fs::path>{};
}

}  // namespace

TEST_CASE("hostctl restore: one context into a running host while another takes writes") {
  ts::TempDir dir;
  const fs::path config = OnlineRestoreConfig(dir);
  OnlineRestoreHost host(dir, config, "hostd.log");
  host.Append("orders", 400, 1);
  host.Append("audit", 20, 2);
  const std::string backed_up = host.Read("orders");
  const std::string id = host.Backup("local");
  host.Append("orders", 60, 3);  // the damage

  // Safe: refused at once, nothing runs.
  ts::CommandResult r = host.Ctl(
      {"restore", "--provider", "local", "--backup", id, "--context", "orders", "--no-progress"});
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(Contains(r.output, "context orders already exists; use --as NEW or --policy force"));
  CHECK(host.NextToken("orders") == 460);

  // Writers on audit throughout both restores: every append acknowledged.
  ts::ChildProcess load(
      host.CtlArgs({"load", "--context", "audit", "--rate", "400", "--duration", "4"}),
      dir / "load.out");

  // --as, beside the live one, with the backup's tokens; JSON like a backup's.
  r = host.Ctl({"restore", "--provider", "local", "--backup", id, "--context", "orders", "--as",
                "orders-copy", "--json"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const json done = json::parse(r.output).at("operation");
  CHECK(done.at("kind") == "restore");
  CHECK(done.at("state") == "succeeded");
  CHECK(done.at("result").at("context") == "orders-copy");
  CHECK(host.Read("orders-copy") == backed_up);
  CHECK(host.NextToken("orders") == 460);

  // Force: the live context is swapped, the old one kept aside.
  r = host.Ctl({"restore", "--provider", "local", "--backup", id, "--context", "orders", "--policy",
                "force", "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "context 'orders' restored via provider 'local'"));
  CHECK(Contains(r.output, "the previous context was moved to '"));
  CHECK(host.Read("orders") == backed_up);
  r = host.Ctl({"append", "--context", "orders", "after restore"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "tokens 400..400"));

  CHECK(WaitExit(load) == 0);
  INFO(ts::ReadFile(dir / "load.out"));
  CHECK(Contains(ts::ReadFile(dir / "load.out"), "errors 0"));
  CHECK(host.Stop() == 0);
  ts::CommandResult check = OnlineRestoreHostd({"check", "--data-dir", (dir / "data").string()});
  INFO(check.output);
  CHECK(check.exit_code == 0);
}

TEST_CASE("hostctl restore: appends refused midway, cancel and a SIGKILL leave the old context") {
  ts::TempDir dir;
  const fs::path config = OnlineRestoreConfig(dir);
  std::string before;
  {
    OnlineRestoreHost host(dir, config, "hostd.log");
    host.Append("orders", 100, 1);
    before = host.Read("orders");

    ts::CommandResult r = host.Ctl({"restore", "--provider", "slow", "--backup", "any", "--context",
                                    "orders", "--policy", "force", "--detach"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    host.WaitForOperation(
        [](const json& op) { return Running(op) && op.at("phase") != "starting"; });
    // Midway: the context's appends are refused, its reads served, others write.
    r = host.Ctl({"append", "--context", "orders", "during"});
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(Contains(r.output, "context orders is being restored"));
    CHECK(host.Read("orders") == before);
    REQUIRE(host.Ctl({"append", "--context", "audit", "other"}).exit_code == 0);

    REQUIRE(host.Ctl({"cancel"}).exit_code == 0);
    const json op = host.WaitForOperation([](const json& o) { return !Running(o); });
    CHECK(op.at("state") == "cancelled");
    CHECK(host.Read("orders") == before);
    CHECK(Staged(dir).empty());
    r = host.Ctl({"append", "--context", "orders", "after cancel"});
    INFO(r.output);
    CHECK(r.exit_code == 0);
    before = host.Read("orders");

    // Again, and the host dies midway.
    r = host.Ctl({"restore", "--provider", "slow", "--backup", "any", "--context", "orders",
                  "--policy", "force", "--detach"});
    REQUIRE(r.exit_code == 0);
    host.WaitForOperation([](const json& o) { return Running(o) && o.at("phase") != "starting"; });
    CHECK_FALSE(Staged(dir).empty());
    CHECK(host.Stop(SIGKILL) == -SIGKILL);
  }
  OnlineRestoreHost host(dir, config, "hostd-2.log");
  CHECK(host.Read("orders") == before);
  CHECK_FALSE(fs::exists(dir / "data" / ".context-restore"));
  CHECK(host.Ctl({"append", "--context", "orders", "after the crash"}).exit_code == 0);
  CHECK(host.Stop() == 0);
  ts::CommandResult check = OnlineRestoreHostd({"check", "--data-dir", (dir / "data").string()});
  INFO(check.output);
  CHECK(check.exit_code == 0);
}

TEST_CASE("hostctl restore: a point in time of one context, through wal_archive") {
  ts::TempDir dir;
  const fs::path config = OnlineRestoreConfig(dir);
  OnlineRestoreHost host(dir, config, "hostd.log");
  host.Append("alpha", 100, 1);
  host.Backup("pitr");
  ts::CommandResult r = host.Ctl({"restore", "--provider", "pitr", "--to-token", "39", "--context",
                                  "alpha", "--as", "alpha-39", "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(host.NextToken("alpha-39") == 40);
  CHECK(host.NextToken("alpha") == 100);
  r = host.Ctl(
      {"restore", "--provider", "pitr", "--to-token", "5", "--to-time", "1", "--context", "alpha"});
  CHECK(r.exit_code == 2);
  CHECK(host.Stop() == 0);
}

// A real hostd killed (SIGKILL, from inside, at the step named by
// BKP_TEST_CRASH_SWAP) at each step of the swap, before and after the point
// of no return (the marker), then restarted: the context is the whole old
// one before it and the whole restored one after it, the staging is gone,
// appends go on after its last token, and the checker passes.
TEST_CASE("hostctl restore: a host killed at each step of the swap recovers old or new, whole") {
  struct Step {
    const char* name;
    bool decided;  // past the marker: the restored context must win
  };
  for (const Step step : {Step{"staged", false}, Step{"decided", true}, Step{"aside", true},
                          Step{"moved", true}, Step{"rows", true}}) {
    CAPTURE(step.name);
    ts::TempDir dir;
    const fs::path config = OnlineRestoreConfig(dir);
    std::string backed_up;
    std::string damaged;
    {
      // The hook is read by hostd only; this test runs no thread of its own.
      ::setenv("BKP_TEST_CRASH_SWAP", step.name, 1);
      OnlineRestoreHost host(dir, config, "hostd.log");
      ::unsetenv("BKP_TEST_CRASH_SWAP");
      host.Append("orders", 300, 1);
      host.Append("audit", 20, 2);
      backed_up = host.Read("orders");
      const std::string id = host.Backup("local");
      host.Append("orders", 60, 3);
      damaged = host.Read("orders");
      ts::CommandResult r = host.Ctl({"restore", "--provider", "local", "--backup", id, "--context",
                                      "orders", "--policy", "force", "--no-progress"});
      INFO(r.output);
      CHECK(r.exit_code != 0);  // the host died under it
      CHECK(host.Stop(SIGKILL) == -SIGKILL);
      INFO(ts::ReadFile(dir / "hostd.log"));
      CHECK_FALSE(Contains(ts::ReadFile(dir / "hostd.log"), "restored via provider"));
    }
    OnlineRestoreHost host(dir, config, "hostd-2.log");
    const std::string expected = step.decided ? backed_up : damaged;
    CHECK(host.Read("orders") == expected);
    CHECK(host.NextToken("orders") == (step.decided ? 300u : 360u));
    CHECK(host.NextToken("audit") == 20u);
    CHECK_FALSE(fs::exists(dir / "data" / ".context-restore"));
    const bool aside = fs::exists(dir / "data" / "set-aside") &&
                       !ts::ListSorted(dir / "data" / "set-aside").empty();
    CHECK(aside == step.decided);
    if (step.decided) {
      CHECK(Contains(host.Log(), "finished the restore of context 'orders'"));
    }
    ts::CommandResult r = host.Ctl({"append", "--context", "orders", "after the crash"});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(Contains(r.output, step.decided ? "tokens 300..300" : "tokens 360..360"));
    CHECK(host.Stop() == 0);
    ts::CommandResult check = OnlineRestoreHostd({"check", "--data-dir", (dir / "data").string()});
    INFO(check.output);
    CHECK(check.exit_code == 0);
  }
}
