// The operator's backup surface end to end, through the real binaries:
// `hostd serve` with configured providers (the shipped local_disk, and the
// fx_blocking fixture whose backup waits until the test releases or cancels
// it), driven by `hostctl backup ...`, `hostctl status` and `hostctl cancel`;
// then the offline `hostd restore` and `hostd backup ...` on a stopped host.
// Every wait polls with a bounded deadline; nothing depends on a sleep.
// Single-threaded; each test case has its own directories and port.
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
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

constexpr auto kBackupCliDeadline = std::chrono::seconds(60);

// Extra [[providers]] entries beyond `local` (local_disk into DIR/repo).
struct ProviderEntries {
  bool slow = false;       // fx_blocking, released by DIR/release
  bool throttled = false;  // local_disk into DIR/repo-throttled at 1 MB/s
  bool stuck = false;      // fx_blocking that never notices a cancel
};

// DIR/NAME: a config whose data_dir is `data_dir` (DIR/data by default).
fs::path WriteConfig(const ts::TempDir& dir, const std::string& name, ProviderEntries extra = {},
                     const fs::path& data_dir = {}) {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(data_dir.empty() ? dir / "data" : data_dir) + "\n";
  // Small segments: a backup holds closed ones, which later backups share.
  toml += "event_segment_size = '1MiB'\nlog_segment_size = '1MiB'\nfsync = 'never'\n";
  toml += "[server]\nport = 0\n";
  toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
          Quoted(dir / "repo") + "\nworkers = 2\n";
  if (extra.slow) {
    toml += "[[providers]]\nname = 'slow'\nplugin = " +
            Quoted(fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so") +
            "\n[providers.settings]\nrelease_file = " + Quoted(dir / "release") + "\n";
  }
  if (extra.stuck) {
    toml += "[[providers]]\nname = 'stuck'\nplugin = " +
            Quoted(fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so") +
            "\n[providers.settings]\nrelease_file = " + Quoted(dir / "release") +
            "\nignore_cancel = 1\n";
  }
  if (extra.throttled) {
    toml +=
        "[[providers]]\nname = 'throttled'\nplugin = 'local_disk'\n[providers.settings]\n"
        "path = " +
        Quoted(dir / "repo-throttled") + "\nworkers = 1\nrate_limit = 1000000\n";
  }
  const fs::path config = dir / name;
  ts::WriteFile(config, toml);
  return config;
}

ts::CommandResult BackupCliHostd(std::vector<std::string> args) {
  args.insert(args.begin(), HOSTD_BIN);
  return ts::RunCommand(args);
}

// `hostd serve --config CONFIG`, up once its port file appeared.
class BackupCliHost : public hostd_process::HostProcess {
 public:
  BackupCliHost(const ts::TempDir& dir, const fs::path& config, const std::string& log_name)
      : HostProcess(config, dir / (log_name + ".port"), dir / log_name) {}

  // The `operation` of `hostctl status --json`, polled until `done` holds.
  json WaitForOperation(const std::function<bool(const json&)>& done) const {
    const auto deadline = std::chrono::steady_clock::now() + kBackupCliDeadline;
    while (std::chrono::steady_clock::now() < deadline) {
      json op = Json({"status", "--json"}).at("operation");
      if (!op.is_null() && done(op)) return op;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    FAIL("the operation never reached the state waited for; host log:\n" << Log());
    return nullptr;
  }
};

// Waits (bounded) until a background child's output holds `text`.
void WaitForOutput(const fs::path& file, const std::string& text) {
  const auto deadline = std::chrono::steady_clock::now() + kBackupCliDeadline;
  while (!Contains(ts::ReadFile(file), text)) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "never printed '"
                                                                     << text << "':\n"
                                                                     << ts::ReadFile(file));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string CreateBackup(const BackupCliHost& host, const std::string& provider) {
  ts::CommandResult r = host.Ctl({"backup", "create", "--provider", provider, "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return testing_support::CreatedBackupId(r.output);
}

std::vector<std::string> ListedIds(const json& reply) {
  std::vector<std::string> ids;
  for (const json& b : reply.at("backups")) ids.push_back(b.at("id").get<std::string>());
  return ids;
}

uint64_t NextToken(const json& status, const std::string& context) {
  for (const json& c : status.at("contexts")) {
    if (c.at("name") == context) return c.at("next_event_token").get<uint64_t>();
  }
  return 0;
}

bool IsRunningIn(const json& op, const std::string& phase) {
  return op.at("state") == "running" && op.at("phase") == phase;
}

}  // namespace

TEST_CASE("hostctl backup create: the backup id, the last operation in status, JSON that parses") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml");
  BackupCliHost host(dir, config, "hostd.log");
  REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "2000"}).exit_code == 0);

  ts::CommandResult r = host.Ctl({"backup", "create", "--provider", "local", "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "backup operation 1 started via provider 'local' (full)"));
  const std::string first = testing_support::CreatedBackupId(r.output);
  CHECK_FALSE(first.empty());

  r = host.Ctl({"status"});
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "orders"));
  CHECK(Contains(r.output, "backup operation 1: succeeded (backup)"));
  CHECK(Contains(r.output, "backup " + first + " created via provider 'local'"));
  CHECK(Contains(r.output, "archive: off (no provider has archive = true)"));
  const json status = host.Json({"status", "--json"});
  CHECK(status.at("contexts").size() == 1);
  CHECK(status.at("archive").at("archivers").empty());
  CHECK(status.at("operation").at("state") == "succeeded");
  CHECK(status.at("operation").at("result").at("backup_id") == first);

  // The provider may be left out: the host has only one.
  const json created = host.Json({"backup", "create", "--json"});
  const json& op = created.at("operation");
  CHECK(op.at("id") == 2);
  CHECK(op.at("kind") == "backup");
  CHECK(op.at("provider") == "local");
  CHECK(op.at("state") == "succeeded");
  CHECK(op.at("bytes_done") == op.at("bytes_total"));
  const std::string second = op.at("result").at("backup_id").get<std::string>();
  CHECK(second != first);

  const json listed = host.Json({"backup", "list", "--provider", "local", "--json"});
  CHECK(listed.at("provider") == "local");
  CHECK(ListedIds(listed) == std::vector<std::string>{first, second});
  CHECK(listed.at("backups")[0].at("files").get<uint64_t>() > 1);
  CHECK(listed.at("backups")[0].at("details").is_object());
  r = host.Ctl({"backup", "list"});
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, first));
  CHECK(Contains(r.output, second));

  const json providers = json::parse(host.Ctl({"backup", "list", "--json"}).output);
  CHECK(providers.at("backups").size() == 2);
  CHECK(host.Stop() == 0);
  CHECK(Contains(host.Log(), "backup '" + first + "'"));
}

TEST_CASE("hostctl backup: a second create while one runs is refused naming it, cancel stops it") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", {.slow = true});
  BackupCliHost host(dir, config, "hostd.log");
  REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "100"}).exit_code == 0);

  ts::CommandResult r = host.Ctl({"backup", "create", "--provider", "slow", "--detach"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "backup operation 1 started via provider 'slow'"));
  host.WaitForOperation([](const json& op) { return IsRunningIn(op, "events"); });

  r = host.Ctl({"backup", "create", "--provider", "local"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "backup in progress: operation 1 (backup via provider 'slow'"));
  CHECK(Contains(r.output, "hostctl cancel"));
  // Another provider's backups can still be listed meanwhile.
  CHECK(host.Ctl({"backup", "list", "--provider", "local"}).exit_code == 0);
  r = host.Ctl({"status"});
  CHECK(Contains(r.output, "backup operation 1: running (backup)"));

  r = host.Ctl({"cancel"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "cancel requested for backup 1 via provider 'slow'"));
  CHECK(Contains(r.output, "backup operation 1 via provider 'slow' cancelled"));
  const json op = host.Json({"status", "--json"}).at("operation");
  CHECK(op.at("state") == "cancelled");
  CHECK(Contains(op.at("error").get<std::string>(), "saw op_cancelled"));
  r = host.Ctl({"cancel"});
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "nothing to cancel"));

  SUBCASE("a waiting create follows the progress until the backup is released") {
    ts::ChildProcess create(host.CtlArgs({"backup", "create", "--provider", "slow"}),
                            dir / "create.out");
    // The backup holds in its events phase until released, so hostctl's
    // polls are bound to show it.
    WaitForOutput(dir / "create.out", "backup 2 via 'slow': events 50%");
    ts::WriteFile(dir / "release", "go\n");
    CHECK(WaitExit(create) == 0);
    const std::string out = ts::ReadFile(dir / "create.out");
    INFO(out);
    // Not a terminal: plain lines.
    CHECK(Contains(out, "backup operation 2 started via provider 'slow'"));
    CHECK(Contains(out, "backup 2 via 'slow': events 50%"));
    CHECK(Contains(out, "backup blocking-1 created via provider 'slow'"));
  }
  SUBCASE("Ctrl-C on a waiting create cancels the backup") {
    ts::ChildProcess create(host.CtlArgs({"backup", "create", "--provider", "slow"}),
                            dir / "create.out");
    // Once it printed progress, hostctl is waiting and takes SIGINT itself.
    WaitForOutput(dir / "create.out", "backup 2 via 'slow': events");
    kill(create.pid(), SIGINT);
    CHECK(WaitExit(create) == 1);
    const std::string out = ts::ReadFile(dir / "create.out");
    INFO(out);
    CHECK(Contains(out, "asking the host to cancel backup 2"));
    CHECK(Contains(out, "backup operation 2 via provider 'slow' cancelled"));
  }
  CHECK(host.Stop() == 0);
}

TEST_CASE("hostctl backup: cancelling a local_disk backup leaves no backup behind") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", {.throttled = true});
  BackupCliHost host(dir, config, "hostd.log");
  // ~10 MB of events (and as much log): minutes at the provider's 1 MB/s.
  REQUIRE(
      host.Ctl({"append", "--context", "orders", "--count", "9000", "--batch", "500"}).exit_code ==
      0);
  REQUIRE(host.Ctl({"backup", "create", "--provider", "throttled", "--detach"}).exit_code == 0);
  host.WaitForOperation([](const json& op) { return op.at("state") == "running"; });
  ts::CommandResult r = host.Ctl({"cancel"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "cancelled"));
  const json listed = host.Json({"backup", "list", "--provider", "throttled", "--json"});
  CHECK(listed.at("backups").empty());
  CHECK(host.Stop() == 0);
}

TEST_CASE("hostctl backup: verify, delete and expire through a running host with local_disk") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml");
  BackupCliHost host(dir, config, "hostd.log");
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "1500", "--seed",
                      std::to_string(i + 1)})
                .exit_code == 0);
    ids.push_back(CreateBackup(host, "local"));
  }

  ts::CommandResult r = host.Ctl({"backup", "verify", "--provider", "local"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "verified all backups via provider 'local': no problems"));
  const json verified = host.Json({"backup", "verify", ids[1], "--json"});
  CHECK(verified.at("ok") == true);
  CHECK(verified.at("problems").empty());
  CHECK(verified.at("operation").at("kind") == "verify");

  r = host.Ctl({"backup", "delete", "--provider", "local", ids[1]});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "deleted backup " + ids[1] + " via provider 'local'"));
  CHECK(ListedIds(host.Json({"backup", "list", "--json"})) ==
        std::vector<std::string>{ids[0], ids[2]});
  r = host.Ctl({"backup", "delete", "nope"});
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "'nope'"));

  r = host.Ctl({"backup", "expire"});
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "--keep-last"));
  r = host.Ctl({"backup", "expire", "--keep-newer-than", "soon"});
  CHECK(r.exit_code == 2);
  // Everything is younger than a week: nothing goes.
  r = host.Ctl({"backup", "expire", "--keep-newer-than", "7d"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "nothing to remove"));
  r = host.Ctl({"backup", "expire", "--provider", "local", "--keep-last", "1"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "removed 1 backup(s) via provider 'local'"));
  CHECK(Contains(r.output, ids[0]));
  CHECK(ListedIds(host.Json({"backup", "list", "--json"})) == std::vector<std::string>{ids[2]});
  // What the remaining backup uses survived the collection of the rest.
  r = host.Ctl({"backup", "verify"});
  INFO(r.output);
  CHECK(r.exit_code == 0);

  // Damage one stored object: verify names it and exits 1.
  fs::path victim;
  for (const auto& entry : fs::recursive_directory_iterator(dir / "repo")) {
    if (entry.is_regular_file() && entry.path().extension() == ".lz4" &&
        (victim.empty() || entry.file_size() > fs::file_size(victim))) {
      victim = entry.path();
    }
  }
  REQUIRE_FALSE(victim.empty());
  ts::FlipByte(victim, fs::file_size(victim) / 2);
  r = host.Ctl({"backup", "verify", ids[2]});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "PROBLEM backup " + ids[2]));
  CHECK(Contains(r.output, "problem(s)"));
  // A failed verify makes the host unhealthy: status exits 1 and says why.
  r = host.Ctl({"status", "--json"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "hostctl: the last verify via provider 'local' failed at "));
  const json op = json::parse(r.output.substr(0, r.output.find('\n'))).at("operation");
  CHECK(op.at("kind") == "verify");
  CHECK(op.at("state") == "failed");
  CHECK(host.Stop() == 0);
}

TEST_CASE("hostd restore: a hot backup taken under load restores, checks and accepts new writes") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml");
  std::string backup_id;
  uint64_t acked_before_backup = 0;
  std::string original_prefix;
  {
    BackupCliHost host(dir, config, "hostd.log");
    REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "3000"}).exit_code == 0);
    ts::ChildProcess load(host.CtlArgs({"load", "--context", "orders", "--rate", "3000",
                                        "--duration", "3", "--seed", "9"}),
                          dir / "load.out");
    // Every write acknowledged before the backup began must be in it.
    acked_before_backup = NextToken(host.Json({"status", "--json"}), "orders");
    backup_id = CreateBackup(host, "local");
    CHECK(WaitExit(load) == 0);
    INFO(ts::ReadFile(dir / "load.out"));
    ts::CommandResult read =
        host.Ctl({"read", "--context", "orders", "--limit", std::to_string(acked_before_backup)});
    REQUIRE(read.exit_code == 0);
    original_prefix = read.output;
    CHECK(host.Stop() == 0);
  }

  const fs::path restored = dir / "restored";
  ts::CommandResult r =
      BackupCliHostd({"restore", "--config", config.string(), "--provider", "local", "--backup",
                      backup_id, "--data-dir", restored.string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "restoring backup '" + backup_id + "' via provider 'local'"));
  CHECK(Contains(r.output, "restored backup '" + backup_id + "' via provider 'local' into"));
  CHECK(Contains(r.output, "hostd: restore: "));  // progress lines

  ts::CommandResult check = BackupCliHostd({"check", "--data-dir", restored.string()});
  INFO(check.output);
  CHECK(check.exit_code == 0);

  const fs::path restored_config = WriteConfig(dir, "restored.toml", {}, restored);
  BackupCliHost host(dir, restored_config, "restored.log");
  const uint64_t next = NextToken(host.Json({"status", "--json"}), "orders");
  CHECK(next >= acked_before_backup);
  ts::CommandResult read =
      host.Ctl({"read", "--context", "orders", "--limit", std::to_string(acked_before_backup)});
  REQUIRE(read.exit_code == 0);
  CHECK(read.output == original_prefix);
  r = host.Ctl({"append", "--context", "orders", "after restore"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "tokens " + std::to_string(next) + ".." + std::to_string(next)));
  CHECK(host.Stop() == 0);
}

TEST_CASE("hostd restore: the safe policy refuses a non-empty directory, force keeps it aside") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml");
  std::string backup_id;
  {
    BackupCliHost host(dir, config, "hostd.log");
    REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "500"}).exit_code == 0);
    backup_id = CreateBackup(host, "local");
    REQUIRE(host.Ctl({"append", "--context", "orders", "after the backup"}).exit_code == 0);

    // A running host's directory is never restored into, whatever the policy.
    ts::CommandResult r = BackupCliHostd(
        {"restore", "--config", config.string(), "--backup", backup_id, "--policy", "force"});
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(Contains(r.output, "restore works on a stopped host only"));
    CHECK(host.Stop() == 0);
  }

  ts::CommandResult r = BackupCliHostd(
      {"restore", "--config", config.string(), "--provider", "local", "--backup", backup_id});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "restore of backup '" + backup_id + "' via provider 'local'"));
  CHECK(Contains(r.output, "refused"));
  CHECK(Contains(r.output, "safe policy"));
  CHECK(Contains(r.output, "--policy force"));
  // It says what the directory holds against the backup: 5 appends of 100, then one more.
  CHECK(Contains(r.output, "it holds a host data directory newer than backup '" + backup_id +
                               "' (context 'orders' at commit index 6 there, 5 in the backup)"));

  r = BackupCliHostd({"restore", "--config", config.string(), "--provider", "local", "--backup",
                      backup_id, "--policy", "force"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string marker = "was moved to '";
  const size_t at = r.output.find(marker);
  REQUIRE(at != std::string::npos);
  const fs::path aside = r.output.substr(
      at + marker.size(), r.output.find('\'', at + marker.size()) - at - marker.size());
  CHECK(fs::exists(aside / "control.db"));
  CHECK(BackupCliHostd({"check", "--data-dir", (dir / "data").string()}).exit_code == 0);
  {
    // The restored host has the backup's events, not the one written after it.
    BackupCliHost host(dir, config, "hostd-2.log");
    ts::CommandResult read = host.Ctl({"read", "--context", "orders", "--limit", "0"});
    CHECK(read.exit_code == 0);
    CHECK_FALSE(Contains(read.output, "after the backup"));
    CHECK(host.Stop() == 0);
  }

  r = BackupCliHostd({"restore", "--config", config.string(), "--backup", "nope", "--data-dir",
                      (dir / "fresh").string()});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "backup 'nope' via provider 'local'"));
  r = BackupCliHostd(
      {"restore", "--config", config.string(), "--provider", "other", "--backup", "x"});
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "no provider 'other'"));
  r = BackupCliHostd({"restore", "--config", config.string()});
  CHECK(r.exit_code == 2);

  ts::WriteFile(dir / "broken.toml",
                "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) +
                    "\n[[providers]]\nname = 'gone'\nplugin = 'no_such_plugin'\n");
  r = BackupCliHostd({"restore", "--config", (dir / "broken.toml").string(), "--backup", "x"});
  INFO(r.output);
  CHECK(r.exit_code == 3);
  CHECK(Contains(r.output, "'gone'"));
}

TEST_CASE("hostd restore --to-token keeps whole appends up to the token and says where it ends") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml");
  std::string backup_id;
  {
    BackupCliHost host(dir, config, "hostd.log");
    // Appends of 100: tokens 0-99, 100-199, ... 400-499.
    REQUIRE(
        host.Ctl({"append", "--context", "orders", "--count", "500", "--batch", "100"}).exit_code ==
        0);
    REQUIRE(host.Ctl({"append", "--context", "audit", "--count", "50"}).exit_code == 0);
    backup_id = CreateBackup(host, "local");
    CHECK(host.Stop() == 0);
  }
  auto restore = [&](const std::string& into, std::vector<std::string> point) {
    std::vector<std::string> args = {"restore", "--config",   config.string(),      "--backup",
                                     backup_id, "--data-dir", (dir / into).string()};
    args.insert(args.end(), point.begin(), point.end());
    return BackupCliHostd(args);
  };
  auto events_in = [&](const std::string& into, const std::string& context) {
    const fs::path restored_config = WriteConfig(dir, into + ".toml", {}, dir / into);
    BackupCliHost host(dir, restored_config, into + ".log");
    const uint64_t next = NextToken(host.Json({"status", "--json"}), context);
    CHECK(host.Stop() == 0);
    return next;
  };

  // A token at the end of an append keeps exactly up to it.
  ts::CommandResult r = restore("at-299", {"--to-token", "299", "--context", "orders"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "to token 299 in context 'orders'"));
  CHECK(Contains(r.output, "point in time: context 'orders' ends at token 299"));
  CHECK(Contains(r.output, "check passed"));
  CHECK(events_in("at-299", "orders") == 300);
  CHECK(events_in("at-299", "audit") == 0);  // --context restores that context only

  // One inside an append leaves that append out: appends are atomic.
  r = restore("at-250", {"--to-token", "250"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "point in time: context 'orders' ends at token 199"));
  CHECK(events_in("at-250", "orders") == 200);
  CHECK(events_in("at-250", "audit") == 50);  // ends before the token: kept whole

  // A time before every append would keep none of them: refused, rather
  // than an empty store restored with exit 0.
  r = restore("at-epoch", {"--to-time", "1970-01-02T00:00:00Z"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "the target lies before backup '" + backup_id + "'"));
  CHECK_FALSE(fs::exists(dir / "at-epoch"));

  for (const auto& bad :
       std::vector<std::vector<std::string>>{{"--to-token", "5", "--to-time", "1764496800000"},
                                             {"--to-time", "yesterday"},
                                             {"--as", "orders-2"}}) {
    r = restore("bad", bad);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_FALSE(fs::exists(dir / "bad"));
  }
}

TEST_CASE("hostd backup: offline list, verify, create, delete and expire") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml");
  const std::string cfg = config.string();
  std::string online_id;
  {
    BackupCliHost host(dir, config, "hostd.log");
    REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "500"}).exit_code == 0);
    online_id = CreateBackup(host, "local");

    // Read-only commands work beside the running host; the rest refuse.
    ts::CommandResult r =
        BackupCliHostd({"backup", "list", "--config", cfg, "--provider", "local"});
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(Contains(r.output, online_id));
    r = BackupCliHostd({"backup", "create", "--config", cfg});
    CHECK(r.exit_code == 1);
    CHECK(Contains(r.output, "hostctl backup create --provider local"));
    r = BackupCliHostd({"backup", "delete", "--config", cfg, online_id});
    CHECK(r.exit_code == 1);
    CHECK(Contains(r.output, "is running"));
    CHECK(host.Stop() == 0);
  }

  ts::CommandResult r =
      BackupCliHostd({"backup", "create", "--config", cfg, "--provider", "local"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string offline_id = testing_support::CreatedBackupId(r.output);

  r = BackupCliHostd({"backup", "list", "--config", cfg, "--json"});
  REQUIRE(r.exit_code == 0);
  CHECK(ListedIds(json::parse(r.output)) == std::vector<std::string>{online_id, offline_id});
  r = BackupCliHostd({"backup", "verify", "--config", cfg});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "no problems"));
  r = BackupCliHostd({"backup", "verify", "--config", cfg, "nope"});
  CHECK(r.exit_code == 1);
  r = BackupCliHostd({"backup", "expire", "--config", cfg, "--keep-last", "1"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, online_id));
  r = BackupCliHostd({"backup", "delete", "--config", cfg, offline_id});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  r = BackupCliHostd({"backup", "list", "--config", cfg});
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "no backups via provider 'local'"));
  r = BackupCliHostd({"backup", "list", "--config", cfg, "--provider", "nope"});
  CHECK(r.exit_code == 2);
}

TEST_CASE("hostd backup and restore without --config refuse to run where ./data does not exist") {
  ts::TempDir dir;
  // In `dir` as the working directory, where the built-in defaults' ./data
  // and ./backups would land.
  auto in_dir = [&](const std::string& args) {
    return ts::RunCommand(
        {"/bin/sh", "-c", "cd '" + dir.path().string() + "' && exec '" HOSTD_BIN "' " + args});
  };
  for (const char* args : {"backup create", "backup list", "restore --backup x"}) {
    CAPTURE(args);
    ts::CommandResult r = in_dir(args);
    CAPTURE(r.output);
    CHECK(r.exit_code == 2);
    CHECK(Contains(r.output, "no --config given"));
    CHECK(Contains(r.output, "'./data' does not exist"));
    CHECK_FALSE(fs::exists(dir / "data"));
    CHECK_FALSE(fs::exists(dir / "backups"));
  }
}

// Runs `hostd ARGS` in the background until it printed `ready`, then sends
// `signal_number` and returns its exit code and output. The output must
// say the operation (`what`) is being cancelled.
std::pair<int, std::string> InterruptHostd(const ts::TempDir& dir, std::vector<std::string> args,
                                           const std::string& ready, int signal_number,
                                           const std::string& what) {
  args.insert(args.begin(), HOSTD_BIN);
  ts::ChildProcess child(args, dir / "hostd.out");
  WaitForOutput(dir / "hostd.out", ready);
  const int code = child.Stop(signal_number);
  std::string out = ts::ReadFile(dir / "hostd.out");
  CHECK_MESSAGE(Contains(out, std::string(signal_number == SIGINT ? "SIGINT" : "SIGTERM") +
                                  ", cancelling the " + what),
                out);
  return {code, std::move(out)};
}

TEST_CASE("hostd backup: SIGINT or SIGTERM cancels an offline backup through the provider") {
  for (int signal_number : {SIGINT, SIGTERM}) {
    CAPTURE(signal_number);
    ts::TempDir dir;
    const fs::path config = WriteConfig(dir, "host.toml", {.slow = true});
    // fx_blocking reports events half done, then holds until cancelled.
    const auto [code, out] =
        InterruptHostd(dir, {"backup", "create", "--config", config.string(), "--provider", "slow"},
                       "hostd: backup: events", signal_number, "backup");
    INFO(out);
    CHECK(code == 1);  // the provider's failure, not death by the signal
    CHECK(Contains(out, "saw op_cancelled"));
    CHECK_FALSE(Contains(out, "created via provider"));
  }
}

TEST_CASE("hostd restore: SIGINT or SIGTERM cancels it and leaves the target as it was") {
  for (int signal_number : {SIGINT, SIGTERM}) {
    CAPTURE(signal_number);
    ts::TempDir dir;
    const fs::path config = WriteConfig(dir, "host.toml", {.slow = true});
    const fs::path target = dir / "restored";
    // fx_blocking has fed the control DB and holds until cancelled.
    const auto [code, out] =
        InterruptHostd(dir,
                       {"restore", "--config", config.string(), "--provider", "slow", "--backup",
                        "any", "--data-dir", target.string()},
                       "hostd: restore: control-db", signal_number, "restore");
    INFO(out);
    CHECK(code == 1);  // the provider's failure, not death by the signal
    CHECK(Contains(out, "cancelled; the data directory is as it was"));
    CHECK_FALSE(fs::exists(target));
    // Nor is the staged control DB left beside it.
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      CHECK_MESSAGE(!Contains(entry.path().filename().string(), "restore-staging"), entry.path());
    }
  }
}

TEST_CASE("hostd restore: a second Ctrl-C exits at once when the provider does not stop") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", {.stuck = true});
  const fs::path target = dir / "restored";
  ts::ChildProcess restore({HOSTD_BIN, "restore", "--config", config.string(), "--provider",
                            "stuck", "--backup", "any", "--data-dir", target.string()},
                           dir / "restore.out");
  WaitForOutput(dir / "restore.out", "hostd: restore: control-db");
  kill(restore.pid(), SIGINT);
  WaitForOutput(dir / "restore.out", "SIGINT, cancelling the restore");
  // The provider holds on through the cancel; the second signal ends it.
  const int code = restore.Stop(SIGINT);
  const std::string out = ts::ReadFile(dir / "restore.out");
  INFO(out);
  CHECK(code == 128 + SIGINT);
  CHECK(Contains(out, "SIGINT again, exiting without waiting for the restore"));
  CHECK_FALSE(fs::exists(target));  // the target is never touched before the end
}

TEST_CASE("hostd serve: SIGTERM cancels a running backup, waits for it and stops cleanly") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "host.toml", {.slow = true});
  BackupCliHost host(dir, config, "hostd.log");
  REQUIRE(host.Ctl({"backup", "create", "--provider", "slow", "--detach"}).exit_code == 0);
  host.WaitForOperation([](const json& op) { return IsRunningIn(op, "events"); });
  CHECK(host.Stop() == 0);
  const std::string log = host.Log();
  INFO(log);
  CHECK(Contains(log, "hostd: cancelling operation 1 (backup via provider 'slow'"));
  CHECK(Contains(log, "INFO  hostd: [slow] fx_blocking: saw op_cancelled"));
  CHECK(Contains(log, "cancelled after"));
  CHECK(Contains(log, "hostd: stopped"));
}
