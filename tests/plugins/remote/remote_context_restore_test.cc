// Per-context restore into a running host from the remote provider (S3, on
// s3rver): `hostd serve` with the shipped remote provider, driven by
// `hostctl`. A full backup and an incremental on it, each restored as one
// context while the others stay as they are; a token cut inside a backup;
// a point in time without a backup refused as the provider keeps no archive.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "host_stub/hostd_process.h"
#include "plugins/remote_test_util.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using hostd_process::HostProcess;
using remote_test::PrefixOf;
using s3_test::S3Server;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

void Append(const HostProcess& host, const std::string& context, int count, int seed) {
  ts::CommandResult r = host.Ctl({"append", "--context", context, "--count", std::to_string(count),
                                  "--batch", "10", "--seed", std::to_string(seed)});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
}

std::string Read(const HostProcess& host, const std::string& context) {
  ts::CommandResult r = host.Ctl({"read", "--context", context, "--limit", "0"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

std::string Backup(const HostProcess& host, const std::string& type) {
  ts::CommandResult r =
      host.Ctl({"backup", "create", "--provider", "remote", "--type", type, "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  return testing_support::CreatedBackupId(r.output);
}

ts::CommandResult Restore(const HostProcess& host, std::vector<std::string> args) {
  args.insert(args.begin(), {"restore", "--provider", "remote", "--no-progress"});
  return host.Ctl(args);
}

}  // namespace

TEST_CASE("remote: one context restored into a running host from a full and an incremental") {
  S3Server server;
  ts::TempDir dir;
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\n";
  toml += "event_segment_size = '16KiB'\nlog_segment_size = '16KiB'\n[server]\nport = 0\n";
  toml += "[[providers]]\nname = 'remote'\nplugin = 'remote'\n[providers.settings]\n";
  toml += s3_test::RemoteSettings(server.endpoint(), PrefixOf(dir.path()), {});
  ts::WriteFile(dir / "host.toml", toml);
  HostProcess host(dir / "host.toml", dir / "port", dir / "hostd.log");

  Append(host, "orders", 200, 1);
  Append(host, "audit", 30, 2);
  const std::string at_full = Read(host, "orders");
  const std::string full = Backup(host, "full");
  Append(host, "orders", 100, 3);
  const std::string at_incremental = Read(host, "orders");
  const std::string incremental = Backup(host, "incremental");
  Append(host, "orders", 50, 4);  // the damage
  Append(host, "audit", 10, 5);
  const std::string audit = Read(host, "audit");

  // The full backup, beside the live context.
  ts::CommandResult r =
      Restore(host, {"--backup", full, "--context", "orders", "--as", "orders-full"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Read(host, "orders-full") == at_full);

  // The incremental's chain, over the live context (kept aside).
  r = Restore(host, {"--backup", incremental, "--context", "orders", "--policy", "force"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(Contains(r.output, "the previous context was moved to '"));
  CHECK(Read(host, "orders") == at_incremental);
  CHECK(Read(host, "audit") == audit);

  // A token inside a backup: the backup cut back to it.
  r = Restore(host, {"--backup", incremental, "--to-token", "249", "--context", "orders", "--as",
                     "orders-249"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string cut = Read(host, "orders-249");
  CHECK(cut == at_incremental.substr(0, cut.size()));
  CHECK(Contains(cut, "\n249\t"));
  CHECK_FALSE(Contains(cut, "\n250\t"));

  // No archive: a point in time past the backups cannot be reached, and
  // the refusal says how far they go.
  r = Restore(host, {"--to-token", "320", "--context", "orders", "--as", "orders-pitr"});
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(Contains(r.output,
                 "token 320 is beyond the backup and the archive: 'orders' reaches token 299"));

  CHECK(host.Stop() == 0);
  ts::CommandResult check =
      ts::RunCommand({HOSTD_BIN, "check", "--data-dir", (dir / "data").string()});
  INFO(check.output);
  CHECK(check.exit_code == 0);
}
