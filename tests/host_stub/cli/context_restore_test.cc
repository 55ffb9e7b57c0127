// Per-context restore on a stopped host, through the real binaries: `hostd
// serve` with the shipped local_disk and wal_archive providers, `hostctl`
// to write and back up, then `hostd restore --context C [--as NEW]
// [--policy force]` on the stopped directory. What each context holds is
// read by opening the directory with the storage engine; `hostd check`
// judges the whole directory afterwards.
// Single-threaded; each test case has its own directories and port.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "host_stub/hostd_process.h"
#include "host_stub/storage_test_util.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using hostd_process::HostProcess;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

// DIR/host.toml: data in DIR/data, 'local' (local_disk) and 'pitr'
// (wal_archive, archiving) providers.
fs::path WriteConfig(const ts::TempDir& dir) {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\nfsync = 'batch'\n";
  toml += "event_segment_size = '8KiB'\nlog_segment_size = '8KiB'\n";
  toml += "[server]\nport = 0\n";
  toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
          Quoted(dir / "repo-local") + "\nworkers = 1\n";
  toml += "[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\narchive = true\n";
  toml += "archive_timeout = 1\n[providers.settings]\npath = " + Quoted(dir / "repo-pitr") +
          "\nworkers = 1\n";
  const fs::path config = dir / "host.toml";
  ts::WriteFile(config, toml);
  return config;
}

ts::CommandResult ContextRestoreHostd(std::vector<std::string> args) {
  args.insert(args.begin(), HOSTD_BIN);
  return ts::RunCommand(args);
}

void Append(const HostProcess& host, const std::string& context, int count, int seed) {
  ts::CommandResult r =
      host.Ctl({"append", "--context", context, "--count", std::to_string(count), "--batch", "10",
                "--min-size", "100", "--max-size", "300", "--seed", std::to_string(seed)});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

// A `type` backup through `provider`; returns its id.
std::string Backup(const HostProcess& host, const std::string& provider,
                   const std::string& type = "full") {
  ts::CommandResult r =
      host.Ctl({"backup", "create", "--provider", provider, "--type", type, "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return testing_support::CreatedBackupId(r.output);
}

std::vector<hoststub::StoredEvent> ReadAll(const fs::path& data, const std::string& context) {
  auto store = storage_test::OpenOrFail(storage_test::Options(data));
  auto events = store->Read(context, 0, 1'000'000);
  if (!events.ok() && events.status().code() == hoststub::Status::Code::kNotFound) return {};
  REQUIRE_MESSAGE(events.ok(), events.status().ToString());
  return *events;
}

// Same tokens and bytes, in order.
bool SameEvents(const std::vector<hoststub::StoredEvent>& got,
                const std::vector<hoststub::StoredEvent>& want) {
  if (got.size() != want.size()) return false;
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].token != want[i].token || got[i].payload != want[i].payload) return false;
  }
  return true;
}

std::vector<hoststub::StoredEvent> Prefix(const std::vector<hoststub::StoredEvent>& all, size_t n) {
  return {all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n)};
}

void CheckPasses(const fs::path& data) {
  ts::CommandResult check = ContextRestoreHostd({"check", "--data-dir", data.string()});
  INFO(check.output);
  CHECK(check.exit_code == 0);
}

}  // namespace

TEST_CASE(
    "hostd restore --context: one context from local_disk, safe, --as, force, the rest kept") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir);
  const fs::path data = dir / "data";
  std::string id;
  {
    HostProcess host(config, dir / "host.port", dir / "hostd.log");
    Append(host, "orders", 300, 1);
    Append(host, "audit", 40, 2);
    id = Backup(host, "local");
    // After the backup: a bad deploy damages orders; audit goes on.
    Append(host, "orders", 50, 3);
    Append(host, "audit", 30, 4);
    CHECK(host.Stop() == 0);
  }
  const auto orders_now = ReadAll(data, "orders");
  const auto audit_now = ReadAll(data, "audit");
  REQUIRE(orders_now.size() == 350);
  REQUIRE(audit_now.size() == 70);
  const auto orders_backup = Prefix(orders_now, 300);
  auto restore = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"restore",  "--config", config.string(), "--provider", "local",
                                     "--backup", id,         "--context",     "orders"};
    args.insert(args.end(), extra.begin(), extra.end());
    return ContextRestoreHostd(args);
  };

  // Safe: the context exists, so nothing happens.
  ts::CommandResult r = restore({});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "context orders already exists; use --as NEW or --policy force"));
  CHECK(SameEvents(ReadAll(data, "orders"), orders_now));

  // --as: beside the live one, with the backup's tokens.
  r = restore({"--as", "orders-copy"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "context 'orders-copy' is live in"));
  CHECK(Contains(r.output, "check passed"));
  CHECK(SameEvents(ReadAll(data, "orders-copy"), orders_backup));
  CHECK(SameEvents(ReadAll(data, "orders"), orders_now));
  CHECK(SameEvents(ReadAll(data, "audit"), audit_now));
  CHECK_FALSE(fs::exists(data / ".context-restore"));
  CheckPasses(data);

  // Force: the old context is kept aside, the others untouched.
  r = restore({"--policy", "force"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string moved = "was moved to '";
  const size_t at = r.output.find(moved);
  REQUIRE(at != std::string::npos);
  const fs::path aside = r.output.substr(
      at + moved.size(), r.output.find('\'', at + moved.size()) - at - moved.size());
  CHECK(aside.parent_path() == data / "set-aside");
  CHECK(fs::is_directory(aside / "log"));
  CHECK(SameEvents(ReadAll(data, "orders"), orders_backup));
  CHECK(SameEvents(ReadAll(data, "audit"), audit_now));
  CheckPasses(data);

  // A context the backup does not hold.
  r = ContextRestoreHostd({"restore", "--config", config.string(), "--provider", "local",
                           "--backup", id, "--context", "nope", "--as", "nope2"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "the backup holds no context 'nope' (it holds: 'audit', 'orders')"));
  CHECK_FALSE(fs::exists(data / "contexts" / "nope2"));
  r = ContextRestoreHostd({"restore", "--config", config.string(), "--backup", id, "--as", "x"});
  CHECK(r.exit_code == 2);

  // The host serves the restored context and writes on after its tokens.
  HostProcess host(config, dir / "host.port", dir / "hostd-2.log");
  r = host.Ctl({"append", "--context", "orders", "after restore"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "tokens 300..300"));
  // A running host's directory is refused offline.
  r = restore({"--as", "orders-3"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "hostctl restore --context"));
  CHECK(host.Stop() == 0);
}

TEST_CASE("hostd restore --context: wal_archive incremental chain and point in time") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir);
  const fs::path data = dir / "data";
  std::string incremental;
  {
    HostProcess host(config, dir / "host.port", dir / "hostd.log");
    Append(host, "alpha", 60, 1);
    Append(host, "beta", 60, 2);
    Backup(host, "pitr", "full");
    Append(host, "beta", 40, 3);
    incremental = Backup(host, "pitr", "incremental");
    Append(host, "beta", 30, 4);
    Append(host, "alpha", 20, 5);
    CHECK(host.Stop() == 0);
  }
  const auto alpha = ReadAll(data, "alpha");
  const auto beta = ReadAll(data, "beta");
  REQUIRE(beta.size() == 130);

  // The chain: full + incremental, as the incremental saw beta.
  ts::CommandResult r =
      ContextRestoreHostd({"restore", "--config", config.string(), "--provider", "pitr", "--backup",
                           incremental, "--context", "beta", "--as", "beta-inc"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(SameEvents(ReadAll(data, "beta-inc"), Prefix(beta, 100)));

  // A point in time: the token counts in the restored context.
  r = ContextRestoreHostd({"restore", "--config", config.string(), "--provider", "pitr",
                           "--to-token", "79", "--context", "beta", "--as", "beta-79"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "point in time: context 'beta-79' ends at token 79"));
  CHECK(SameEvents(ReadAll(data, "beta-79"), Prefix(beta, 80)));

  CHECK(SameEvents(ReadAll(data, "alpha"), alpha));
  CHECK(SameEvents(ReadAll(data, "beta"), beta));
  CheckPasses(data);
}
