// The remote provider against a real S3 server, Ceph's RADOS Gateway
// (rgw_server.h): unlike s3rver it checks every request's signature,
// enforces multipart rules and speaks S3's own XML, so what passes here
// passes on S3 itself. One gateway serves every case; each case keeps to
// a key prefix of its own. Fault injection stays with s3rver
// (remote_faults_test.cc).
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugin_host/abi_status.h"
#include "plugins/remote_test_util.h"
#include "plugins/rgw/rgw_server.h"
#include "repo/s3/s3_driver.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::CheckHolds;
using plugins_test::Contains;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenFailure;
using plugins_test::OpenStore;
using plugins_test::StoreOptions;
using plugins_test::Written;
using remote_test::PrefixOf;
using rgw_test::RgwConfig;
using rgw_test::RgwKind;
using rgw_test::RgwServer;
using rgw_test::RgwSettings;
using rgw_test::RunAws;
using testing_support::ReadFile;
using testing_support::RunCommand;
using testing_support::TempDir;

namespace {

const RgwServer& Rgw() { return RgwServer::Shared(); }

// `n` incompressible bytes.
std::string RandomBytes(size_t n, std::mt19937_64& rng) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

}  // namespace

TEST_CASE("rgw: a hot backup during concurrent appends restores every acknowledged event") {
  plugins_test::HotBackupUnderLoadRestoresEveryAcknowledgedEvent(RgwKind(), 1);
}

TEST_CASE("rgw: a full backup and two increments restore, verify and delete in chain order") {
  plugins_test::IncrementalChainRestoresVerifiesAndDeletesInOrder(RgwKind());
}

TEST_CASE("rgw: retention keep_last 2 over 5 backups keeps the newest two whole") {
  plugins_test::RetentionKeepsTheNewestTwoWhole(RgwKind());
}

TEST_CASE("rgw: list reports files bytes and per-context details of each backup") {
  plugins_test::ListReportsFilesBytesAndDetails(RgwKind());
}

TEST_CASE("rgw: an object of many small parts is one multipart object the AWS CLI reads whole") {
  TempDir dir;
  std::mt19937_64 rng(101);
  const std::string prefix = PrefixOf(dir.path());
  repo::s3::S3Driver storage(RgwConfig(Rgw().endpoint(), prefix));
  const std::string bytes = RandomBytes(64 * kKiB * 9 + 123, rng);  // 10 parts
  auto writer = storage.CreateAt("big");
  for (size_t at = 0; at < bytes.size(); at += 10000) {
    writer->Append(bytes.data() + at, std::min<size_t>(10000, bytes.size() - at));
  }
  writer->Commit("big");
  CHECK(storage.Stat("big") == bytes.size());

  // RGW gives a multipart object the ETag "<md5 of the parts' md5s>-<parts>".
  const auto head = RunAws({"s3api", "head-object", "--bucket", Rgw().bucket(), "--key",
                            prefix + "big", "--output", "json"});
  REQUIRE_MESSAGE(head.exit_code == 0, head.output);
  const std::string etag = nlohmann::json::parse(head.output).at("ETag").get<std::string>();
  CHECK_MESSAGE(Contains(etag, "-10\""), etag);

  const fs::path got = dir / "got";
  const auto cp = RunAws({"s3", "cp", "--only-show-errors",
                          "s3://" + Rgw().bucket() + "/" + prefix + "big", got.string()});
  REQUIRE_MESSAGE(cp.exit_code == 0, cp.output);
  CHECK(ReadFile(got) == bytes);
}

TEST_CASE("rgw: removing thousands of objects takes few batch requests and leaves none") {
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  repo::s3::S3Driver storage(RgwConfig(Rgw().endpoint(), prefix));
  // More than one DeleteObjects request holds (1000 keys).
  constexpr int kObjects = 2100;
  std::vector<std::string> keys;
  for (int i = 0; i < kObjects; ++i) keys.push_back("objects/o" + std::to_string(i));
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = t; i < kObjects; i += 4) {
        auto w = storage.CreateAt(keys[static_cast<size_t>(i)]);
        w->Append(keys[static_cast<size_t>(i)].data(), keys[static_cast<size_t>(i)].size());
        w->Commit(keys[static_cast<size_t>(i)]);
      }
    });
  }
  for (auto& t : writers) t.join();
  REQUIRE(storage.List("objects/").size() == kObjects);

  storage.Remove(keys);
  CHECK(storage.List("objects/").empty());
  // The stock client agrees: nothing is left under the prefix.
  const auto ls =
      RunAws({"s3", "ls", "--recursive", "s3://" + Rgw().bucket() + "/" + prefix + "objects/"});
  CHECK_MESSAGE(ls.output.empty(), ls.output);
}

TEST_CASE("rgw: the AWS CLI downloads a backup and the documented hand restore rebuilds it") {
  std::mt19937_64 rng(97);
  TempDir dir;
  Written written;
  const std::string prefix = PrefixOf(dir.path());
  plugins_test::Provider remote("remote", RgwSettings(Rgw().endpoint(), prefix));
  std::string id;
  {
    auto store = OpenStore(StoreOptions(dir / "data", 48 * kKiB, 24 * kKiB));
    Fill(*store, "orders", 500, rng, &written);
    Fill(*store, "billing", 200, rng, &written);
    REQUIRE(store->Sync().ok());
    id = remote.Backup(*store).backup_id;
  }

  const std::string url = "s3://" + Rgw().bucket() + "/" + prefix;
  const auto ls = RunAws({"s3", "ls", "--recursive", url});
  REQUIRE_MESSAGE(ls.exit_code == 0, ls.output);
  CHECK(Contains(ls.output, prefix + "format.json"));
  CHECK(Contains(ls.output, prefix + "backups/" + id + ".json"));

  const fs::path repo_dir = dir / "download";
  const auto cp = RunAws({"s3", "cp", "--recursive", "--only-show-errors", url, repo_dir.string()});
  REQUIRE_MESSAGE(cp.exit_code == 0, cp.output);

  // docs/repository-format.md's script, run as written on the download,
  // with `hostd` on PATH.
  const fs::path bin = dir / "bin";
  fs::create_directories(bin);
  fs::create_symlink(HOSTD_BIN, bin / "hostd");
  const fs::path data = dir / "by-hand";
  const fs::path script = dir / "restore.sh";
  testing_support::WriteFile(
      script, testing_support::HandRestoreScript(fs::path(BKP_DOCS_DIR) / "repository-format.md"));
  const auto run = RunCommand({"/usr/bin/env", "PATH=" + bin.string() + ":" + std::getenv("PATH"),
                               "REPO=" + repo_dir.string(), "ID=" + id, "DATA=" + data.string(),
                               "bash", script.string()});
  REQUIRE_MESSAGE(run.exit_code == 0, run.output);
  CheckHolds(*OpenStore(StoreOptions(data, 48 * kKiB, 24 * kKiB)), written);
}

TEST_CASE("rgw: a wrong access key or secret is an auth error that never shows the secret") {
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  const std::string secret = "Sup3r-Secret-Never-Printed";

  SUBCASE("an access key the server does not know") {
    const std::string msg =
        OpenFailure("remote", RgwSettings(Rgw().endpoint(), prefix,
                                          {{"access_key_id", "'AKIANOSUCHKEY'"},
                                           {"secret_access_key", "'" + secret + "'"}}));
    CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_AUTH)), msg);
    CHECK_MESSAGE(Contains(msg, "InvalidAccessKeyId"), msg);
    CHECK_MESSAGE(Contains(msg, Rgw().endpoint()), msg);
    CHECK_FALSE(Contains(msg, secret));
  }
  SUBCASE("the test user's key with a wrong secret") {
    const std::string msg = OpenFailure(
        "remote",
        RgwSettings(Rgw().endpoint(), prefix, {{"secret_access_key", "'" + secret + "'"}}));
    CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_AUTH)), msg);
    CHECK_MESSAGE(Contains(msg, "SignatureDoesNotMatch"), msg);
    CHECK_MESSAGE(Contains(msg, "secret_access_key"), msg);  // what to check
    CHECK_FALSE(Contains(msg, secret));
    CHECK_FALSE(Contains(msg, Rgw().secret_key()));
  }
}

TEST_CASE("rgw: hostd plugins loads remote on RGW, and refuses a wrong secret without showing it") {
  TempDir dir;
  const std::string secret = "Sup3r-Secret-Never-Printed";
  auto run = [&](const std::map<std::string, std::string>& overrides) {
    const fs::path config = dir / "host.toml";
    testing_support::WriteFile(
        config, "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) + "'\n[storage]\ndata_dir = '" +
                    (dir / "data").string() +
                    "'\n[server]\nport = 0\n[[providers]]\nname = 'offsite'\nplugin = "
                    "'remote'\n[providers.settings]\n" +
                    RgwSettings(Rgw().endpoint(), PrefixOf(dir.path()), overrides));
    return RunCommand({HOSTD_BIN, "plugins", "--config", config.string()});
  };
  const auto good = run({});
  CHECK_MESSAGE(good.exit_code == 0, good.output);
  CHECK_MESSAGE(Contains(good.output, "offsite: loaded"), good.output);
  CHECK_FALSE(Contains(good.output, Rgw().secret_key()));

  const auto bad = run({{"secret_access_key", "'" + secret + "'"}});
  CHECK_MESSAGE(bad.exit_code == 1, bad.output);
  CHECK_MESSAGE(Contains(bad.output, "offsite: REFUSED"), bad.output);
  CHECK_MESSAGE(Contains(bad.output, "SignatureDoesNotMatch"), bad.output);
  CHECK_FALSE(Contains(bad.output, secret));
}

TEST_CASE("rgw: a bucket that does not exist is a clear error") {
  TempDir dir;
  const std::string msg = OpenFailure("remote", RgwSettings(Rgw().endpoint(), PrefixOf(dir.path()),
                                                            {{"bucket", "'no-such-bucket'"}}));
  CHECK_MESSAGE(Contains(msg, hoststub::BkpStatusName(BKP_E_NOT_FOUND)), msg);
  CHECK_MESSAGE(Contains(msg, "bucket 'no-such-bucket' does not exist"), msg);
  CHECK_MESSAGE(Contains(msg, Rgw().endpoint()), msg);
  CHECK_FALSE(Contains(msg, Rgw().secret_key()));
}

TEST_CASE("rgw: virtual-host addressing over http backs up and restores") {
  std::mt19937_64 rng(103);
  TempDir dir;
  Written written;
  const std::string prefix = PrefixOf(dir.path());
  plugins_test::Provider remote(
      "remote", RgwSettings(Rgw().vhost_endpoint(), prefix, {{"path_style", "false"}}));
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Fill(*store, "orders", 400, rng, &written);
  const std::string id = remote.Backup(*store).backup_id;
  store.reset();
  remote.RequireVerifies(id);
  remote.Restore(id, dir / "restored");
  CheckHolds(*OpenStore(StoreOptions(dir / "restored", 64 * kKiB, 32 * kKiB)), written);
  // The objects are in the bucket RGW took from the host name.
  const auto ls =
      RunAws({"s3", "ls", "--recursive", "s3://" + Rgw().bucket() + "/" + prefix + "backups/"});
  CHECK_MESSAGE(Contains(ls.output, id + ".json"), ls.output);
}

TEST_CASE("rgw: https with the private CA in ca_file backs up and restores, path style and vhost") {
  for (const std::string& endpoint : {Rgw().https_endpoint(), Rgw().vhost_https_endpoint()}) {
    CAPTURE(endpoint);
    std::mt19937_64 rng(107);
    TempDir dir;
    Written written;
    const std::string prefix = PrefixOf(dir.path());
    const bool vhost = endpoint == Rgw().vhost_https_endpoint();
    plugins_test::Provider remote("remote",
                                  RgwSettings(endpoint, prefix,
                                              {{"path_style", vhost ? "false" : "true"},
                                               {"ca_file", "'" + Rgw().ca_file().string() + "'"}}));
    auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
    Fill(*store, "orders", 300, rng, &written);
    const std::string id = remote.Backup(*store).backup_id;
    store.reset();
    remote.RequireVerifies(id);
    remote.Restore(id, dir / "restored");
    CheckHolds(*OpenStore(StoreOptions(dir / "restored", 64 * kKiB, 32 * kKiB)), written);
  }
}

TEST_CASE("rgw: https with a CA that did not sign the server's certificate is a clear error") {
  TempDir dir;
  const auto start = std::chrono::steady_clock::now();
  const std::string msg =
      OpenFailure("remote", RgwSettings(Rgw().https_endpoint(), PrefixOf(dir.path()),
                                        {{"ca_file", "'" + Rgw().other_ca_file().string() + "'"}}));
  CHECK_MESSAGE(Contains(msg, Rgw().https_endpoint()), msg);
  CHECK_MESSAGE(Contains(msg, "certificate"), msg);
  CHECK_MESSAGE(Contains(msg, "ca_file"), msg);  // what to check
  CHECK_FALSE(Contains(msg, Rgw().secret_key()));
  // Not retried until the deadline: another attempt cannot succeed.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}
