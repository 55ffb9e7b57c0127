// The remote provider end to end against a real S3-compatible server
// (s3rver, started per test on a free loopback port): the behaviours every
// repository-backed provider shares (provider_scenarios.h, the same code
// local_disk runs), incremental chains, verify re-reading and
// re-checksumming what the server holds, the stock AWS CLI reading a
// backup, and the errors an operator meets first: wrong credentials, a
// missing bucket, an endpoint that is down, a bad setting.
#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugin_host/abi_status.h"
#include "plugins/remote_test_util.h"
#include "repo/object_codec.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::CheckHolds;
using plugins_test::Contains;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenFailure;
using plugins_test::OpenStore;
using plugins_test::ReadManifest;
using plugins_test::StoreOptions;
using plugins_test::Written;
using remote_test::OpenRemote;
using remote_test::PrefixOf;
using remote_test::RemoteKind;
using remote_test::TestConfig;
using s3_test::S3Server;
using testing_support::RunCommand;
using testing_support::TempDir;

TEST_CASE("remote: a hot backup during concurrent appends restores every acknowledged event") {
  S3Server server;
  plugins_test::HotBackupUnderLoadRestoresEveryAcknowledgedEvent(RemoteKind(server.endpoint()), 2);
}

TEST_CASE("remote: its table offers incremental backups and no archive") {
  S3Server server;
  TempDir dir;
  plugins_test::CheckTableOffers(*RemoteKind(server.endpoint()).open(dir.path()),
                                 /*incremental=*/true, /*archive=*/false);
}

TEST_CASE("remote: retention keep_last 2 over 5 backups keeps the newest two whole") {
  S3Server server;
  plugins_test::RetentionKeepsTheNewestTwoWhole(RemoteKind(server.endpoint()));
}

TEST_CASE("remote: list reports files bytes and per-context details of each backup") {
  S3Server server;
  plugins_test::ListReportsFilesBytesAndDetails(RemoteKind(server.endpoint()));
}

TEST_CASE("remote: a full backup and two increments restore, verify and delete in chain order") {
  S3Server server;
  plugins_test::IncrementalChainRestoresVerifiesAndDeletesInOrder(RemoteKind(server.endpoint()));
}

TEST_CASE("remote: verify re-reads every object from the server and reports a damaged one") {
  S3Server server;
  std::mt19937_64 rng(89);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 800, rng, &written);
  auto remote = OpenRemote(server.endpoint(), PrefixOf(dir.path()));
  const std::string id = remote->Backup(*store).backup_id;
  remote->RequireVerifies(id);

  // Damage one stored object where the server keeps it: verify must read
  // it back and recompute its checksums to notice.
  repo::s3::S3Driver storage(TestConfig(server.endpoint(), PrefixOf(dir.path())));
  const repo::Manifest m = ReadManifest(storage, id);
  const repo::FileEntry* damaged = nullptr;
  for (const auto& f : m.files) {
    if (f.role == BKP_ROLE_EVENTS && !f.chunks.empty() && f.chunks[0].stored_size > 64) {
      damaged = &f;
      break;
    }
  }
  REQUIRE(damaged != nullptr);
  const fs::path file =
      server.ObjectFile("backups", PrefixOf(dir.path()) + damaged->chunks[0].object);
  REQUIRE_MESSAGE(fs::exists(file), file);
  testing_support::FlipByte(file, damaged->chunks[0].stored_size / 2);

  const auto outcome = remote->Verify(id);
  CHECK(outcome.rc == BKP_E_CORRUPT);
  REQUIRE(outcome.problems.size() == 1);
  CHECK(outcome.problems[0].file == plugins_test::Label(*damaged));
  CHECK(Contains(outcome.problems[0].message, damaged->chunks[0].object));
}

TEST_CASE("remote: the AWS CLI reads a backup, and stock lz4 and xxhsum check an object") {
  S3Server server;
  std::mt19937_64 rng(97);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 600, rng, &written);
  const std::string prefix = PrefixOf(dir.path());
  auto remote = OpenRemote(server.endpoint(), prefix);
  const std::string id = remote->Backup(*store).backup_id;

  const auto ls =
      s3_test::RunAws(server.endpoint(), {"s3", "ls", "--recursive", "s3://backups/" + prefix});
  REQUIRE_MESSAGE(ls.exit_code == 0, ls.output);
  CHECK(Contains(ls.output, prefix + "format.json"));
  CHECK(Contains(ls.output, prefix + "backups/" + id + ".json"));

  // The manifest and an event segment's first chunk, through the AWS CLI.
  const fs::path manifest_file = dir / "manifest.json";
  auto cp =
      s3_test::RunAws(server.endpoint(), {"s3", "cp", "--only-show-errors",
                                          "s3://backups/" + prefix + "backups/" + id + ".json",
                                          manifest_file.string()});
  REQUIRE_MESSAGE(cp.exit_code == 0, cp.output);
  const repo::Manifest m =
      repo::DecodeManifest(testing_support::ReadFile(manifest_file), manifest_file.string());
  const repo::Chunk* chunk = nullptr;
  for (const auto& f : m.files) {
    if (f.role == BKP_ROLE_EVENTS && !f.chunks.empty()) chunk = &f.chunks[0];
  }
  REQUIRE(chunk != nullptr);
  CHECK(Contains(ls.output, prefix + chunk->object));
  const fs::path object_file = dir / "object.lz4";
  cp = s3_test::RunAws(server.endpoint(),
                       {"s3", "cp", "--only-show-errors", "s3://backups/" + prefix + chunk->object,
                        object_file.string()});
  REQUIRE_MESSAGE(cp.exit_code == 0, cp.output);

  const fs::path piece = dir / "piece";
  const auto lz4 = RunCommand({"lz4", "-d", "-f", "-q", object_file.string(), piece.string()});
  REQUIRE_MESSAGE(lz4.exit_code == 0, lz4.output);
  CHECK(fs::file_size(piece) == chunk->size);
  const auto sum = RunCommand({"xxhsum", "-H3", piece.string()});
  REQUIRE_MESSAGE(sum.exit_code == 0, sum.output);
  CHECK_MESSAGE(Contains(sum.output, repo::Hex64(chunk->xxh3)), sum.output);
}

TEST_CASE("remote: wrong credentials, a missing bucket and a down endpoint are clear errors") {
  S3Server server;
  TempDir dir;
  const std::string secret = "Sup3r-Secret-Never-Printed";
  const std::string prefix = PrefixOf(dir.path());

  SUBCASE("an access key the server does not know") {
    const std::string msg =
        OpenFailure("remote", s3_test::RemoteSettings(server.endpoint(), prefix,
                                                      {{"access_key_id", "'AKIANOSUCHKEY'"},
                                                       {"secret_access_key", "'" + secret + "'"}}));
    CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_AUTH)), msg);
    CHECK_MESSAGE(Contains(msg, "InvalidAccessKeyId"), msg);
    CHECK_MESSAGE(Contains(msg, server.endpoint()), msg);
    CHECK_MESSAGE(Contains(msg, "'backups'"), msg);
    CHECK_FALSE(Contains(msg, secret));
  }
  SUBCASE("a signature the server refuses") {
    // s3rver does not check signatures: the proxy answers as S3 would.
    s3_test::FaultProxy proxy(server.port());
    proxy.SetPlan([](const s3_test::ProxiedRequest&) {
      return s3_test::Fault::Status(403, "SignatureDoesNotMatch");
    });
    const std::string msg =
        OpenFailure("remote", s3_test::RemoteSettings(proxy.endpoint(), prefix,
                                                      {{"secret_access_key", "'" + secret + "'"}}));
    CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_AUTH)), msg);
    CHECK_MESSAGE(Contains(msg, "SignatureDoesNotMatch"), msg);
    CHECK_MESSAGE(Contains(msg, "secret_access_key"), msg);  // what to check
    CHECK_FALSE(Contains(msg, secret));
  }
  SUBCASE("a bucket that does not exist") {
    const std::string msg = OpenFailure(
        "remote", s3_test::RemoteSettings(
                      server.endpoint(), prefix,
                      {{"bucket", "'no-such-bucket'"}, {"secret_access_key", "'" + secret + "'"}}));
    CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_NOT_FOUND)), msg);
    CHECK_MESSAGE(Contains(msg, "bucket 'no-such-bucket' does not exist"), msg);
    CHECK_MESSAGE(Contains(msg, server.endpoint()), msg);
    CHECK_FALSE(Contains(msg, secret));
  }
  SUBCASE("an endpoint nothing listens on") {
    std::string down;
    {
      s3_test::FaultProxy closed(server.port());
      down = closed.endpoint();
    }  // its port is free again: connections are refused
    const auto start = std::chrono::steady_clock::now();
    const std::string msg = OpenFailure(
        "remote",
        s3_test::RemoteSettings(
            down, prefix, {{"retry_deadline", "1"}, {"secret_access_key", "'" + secret + "'"}}));
    CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_UNREACHABLE)), msg);
    CHECK_MESSAGE(Contains(msg, "cannot reach the S3 endpoint " + down), msg);
    CHECK_MESSAGE(Contains(msg, "gave up after"), msg);
    CHECK_FALSE(Contains(msg, secret));
    // Retried for about the deadline, not for ever.
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  }
}

TEST_CASE("remote: bad settings are refused before anything is sent, naming the setting") {
  const std::string endpoint = "http://127.0.0.1:9";  // never contacted
  auto msg = [&](const std::map<std::string, std::string>& overrides) {
    return OpenFailure("remote", s3_test::RemoteSettings(endpoint, "p/", overrides));
  };
  CHECK(Contains(msg({{"part_size", "1048576"}, {"min_part_size", "5242880"}}),
                 "setting 'part_size' is 1048576 bytes, below the server's minimum part size"));
  CHECK(Contains(msg({{"part_size", "1048576"}, {"min_part_size", "5242880"}}), "S3 needs 5 MiB"));
  CHECK(Contains(msg({{"endpoint", "'s3.example.com'"}}),
                 "setting 'endpoint' is 's3.example.com': it must start with http:// or https://"));
  CHECK(Contains(msg({{"path_style", "false"}}), "setting 'path_style' is false but endpoint"));
  CHECK(Contains(msg({{"parallel_parts", "0"}}), "setting 'parallel_parts' is 0, must be 1-64"));
  CHECK(Contains(msg({{"bucket", "'a/b'"}}), "setting 'bucket' is 'a/b'"));
  // No credentials anywhere: the settings' are empty, the environment's
  // unset, instance metadata off (a test never asks 169.254.169.254).
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
  ::setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
  const std::string none = msg({{"access_key_id", "''"}, {"secret_access_key", "''"}});
  ::unsetenv("AWS_EC2_METADATA_DISABLED");
  CHECK_MESSAGE(Contains(none, "no S3 credentials"), none);
  CHECK(Contains(none, hoststub::BkpStatusName(BKP_E_AUTH)));
}

TEST_CASE("remote: credentials come from the environment when the settings have none") {
  S3Server server;
  TempDir dir;
  ::setenv("AWS_ACCESS_KEY_ID", s3_test::kAccessKey, 1);
  ::setenv("AWS_SECRET_ACCESS_KEY", s3_test::kSecretKey, 1);
  std::string settings = s3_test::RemoteSettings(server.endpoint(), PrefixOf(dir.path()));
  // Drop the credential lines RemoteSettings writes.
  for (const std::string key : {"access_key_id", "secret_access_key"}) {
    const size_t at = settings.find(key + " = ");
    settings.erase(at, settings.find('\n', at) - at + 1);
  }
  plugins_test::Provider remote("remote", settings);
  CHECK(remote.List().empty());
  ::setenv("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY", 1);
  const std::string msg = OpenFailure("remote", settings);
  CHECK_MESSAGE(Contains(msg, "InvalidAccessKeyId"), msg);
  ::unsetenv("AWS_ACCESS_KEY_ID");
  ::unsetenv("AWS_SECRET_ACCESS_KEY");
}
