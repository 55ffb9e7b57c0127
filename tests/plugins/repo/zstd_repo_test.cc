// compression = "zstd" end to end: the real providers (local_disk,
// wal_archive, remote on s3rver, and local_disk encrypted) through the
// shared scenarios, every stored object a zstd frame the stock `zstd -t`
// accepts and `zstd -dc | xxhsum -H3` checks against the manifest; chains
// mixing LZ4 and zstd restore and verify; a damaged zstd object is caught
// by verify; bad settings are refused at open.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugins/plugins_test_util.h"
#include "plugins/provider_scenarios.h"
#include "plugins/remote_test_util.h"
#include "plugins/s3_test_support.h"
#include "repo/codec.h"
#include "repo/crypto/age_keys.h"
#include "repo/encrypted_driver.h"
#include "repo/posix/posix_driver.h"
#include "repo/s3/s3_driver.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::Contains;
using plugins_test::DiskProvider;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenStore;
using plugins_test::Sh;
using plugins_test::StoreOptions;
using plugins_test::Written;
using testing_support::ReadFile;
using testing_support::RunCommand;
using testing_support::TempDir;

namespace {

const std::string kZstd = "compression = 'zstd'\n";

// A provider that, once a scenario is done with it (its repository still
// there), checks that it stored objects and that every one is zstd.
template <typename Base>
class AllZstd : public Base {
 public:
  template <typename... Args>
  AllZstd(std::shared_ptr<repo::StorageDriver> storage, Args&&... args)
      : Base(std::forward<Args>(args)...), storage_(std::move(storage)) {}
  ~AllZstd() override {
    const auto keys = plugins_test::ObjectKeys(*storage_);
    CHECK_FALSE(keys.empty());
    for (const auto& k : keys) CHECK_MESSAGE(repo::CodecOfObject(k) == repo::Codec::kZstd, k);
  }

 private:
  std::shared_ptr<repo::StorageDriver> storage_;
};

// The message of a local_disk provider, its repository in a fresh
// directory, that must fail to open with `settings`.
std::string DiskOpenFailure(const std::string& settings) {
  TempDir dir;
  auto loaded = plugins_test::LoadDiskRegistry(dir / "repo", settings);
  REQUIRE_FALSE(loaded.ok());
  return loaded.status().message();
}

}  // namespace

TEST_CASE("zstd local_disk: hot backups restore, and retention collects") {
  const plugins_test::ProviderKind kind = {
      [](const fs::path& scratch) {
        return std::make_unique<AllZstd<DiskProvider>>(
            std::make_shared<repo::PosixDriver>(scratch / "repo"), scratch / "repo",
            "workers = 2\n" + kZstd);
      },
      [](const fs::path& scratch) { return std::make_shared<repo::PosixDriver>(scratch / "repo"); },
  };
  plugins_test::HotBackupUnderLoadRestoresEveryAcknowledgedEvent(kind, 1);
  plugins_test::RetentionKeepsTheNewestTwoWhole(kind);
}

TEST_CASE("zstd wal_archive: an incremental chain restores, verifies and deletes in order") {
  const plugins_test::ProviderKind kind = {
      [](const fs::path& scratch) {
        return std::make_unique<AllZstd<DiskProvider>>(
            std::make_shared<repo::PosixDriver>(scratch / "repo"), scratch / "repo",
            "workers = 2\n" + kZstd + "compression_level = 1\n", "wal_archive");
      },
      [](const fs::path& scratch) { return std::make_shared<repo::PosixDriver>(scratch / "repo"); },
  };
  plugins_test::IncrementalChainRestoresVerifiesAndDeletesInOrder(kind);
}

TEST_CASE("zstd remote: an incremental chain on S3 restores, verifies and deletes in order") {
  s3_test::S3Server server;
  const std::string endpoint = server.endpoint();
  auto storage = [endpoint](const fs::path& scratch) -> std::shared_ptr<repo::StorageDriver> {
    return std::make_shared<repo::s3::S3Driver>(
        remote_test::TestConfig(endpoint, remote_test::PrefixOf(scratch)));
  };
  const plugins_test::ProviderKind kind = {
      [&](const fs::path& scratch) {
        return std::make_unique<AllZstd<plugins_test::Provider>>(
            storage(scratch), "remote",
            s3_test::RemoteSettings(endpoint, remote_test::PrefixOf(scratch),
                                    {{"compression", "'zstd'"}, {"compression_level", "6"}}));
      },
      storage,
  };
  plugins_test::IncrementalChainRestoresVerifiesAndDeletesInOrder(kind);
}

TEST_CASE("zstd encrypted local_disk: hot backups restore through the key") {
  TempDir keys;
  const auto r = RunCommand({BKP_KEYGEN_BIN, "-o", (keys / "key.txt").string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  const std::string settings =
      "workers = 2\n" + kZstd + "encryption_identity = '" + (keys / "key.txt").string() + "'\n";
  // The repository as the engine sees it through the key.
  const auto storage = [&](const fs::path& scratch) -> std::shared_ptr<repo::StorageDriver> {
    return std::make_shared<repo::EncryptedDriver>(
        std::make_shared<repo::PosixDriver>(scratch / "repo"),
        age::ReadIdentityFile((keys / "key.txt").string()).front(), std::vector<age::Recipient>{});
  };
  const plugins_test::ProviderKind kind = {
      [&](const fs::path& scratch) {
        return std::make_unique<AllZstd<DiskProvider>>(storage(scratch), scratch / "repo",
                                                       settings);
      },
      storage,
  };
  plugins_test::HotBackupUnderLoadRestoresEveryAcknowledgedEvent(kind, 1);
}

TEST_CASE("zstd local_disk: the stock zstd -t accepts every stored object, xxhsum checks each") {
  std::mt19937_64 rng(23);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 700, rng, &written);
  Fill(*store, "billing", 90, rng, &written);
  REQUIRE(store->Sync().ok());
  DiskProvider provider(dir / "repo", "workers = 2\n" + kZstd);
  const std::string id = provider.Backup(*store).backup_id;
  const auto manifest = nlohmann::json::parse(ReadFile(dir / "repo" / "backups" / (id + ".json")));
  CHECK(manifest["format_version"] == 3);
  std::set<std::string> chunks;
  for (const auto& f : manifest["files"]) {
    for (const auto& c : f["chunks"]) {
      chunks.insert(c["object"].get<std::string>());
      CHECK(c["codec"] == "zstd");
      const fs::path object = dir / "repo" / c["object"].get<std::string>();
      REQUIRE_MESSAGE(fs::exists(object), object);
      Sh("zstd -t -q " + object.string());
      CHECK(Contains(Sh("zstd -dc -q " + object.string() + " | xxhsum -H3"),
                     c["xxh3"].get<std::string>()));
    }
  }
  CHECK(chunks.size() > 3);
  CHECK(chunks == plugins_test::ObjectKeys(dir / "repo"));
}

TEST_CASE("mixed codecs: an lz4 chain continued with zstd and back restores and verifies") {
  std::mt19937_64 rng(29);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Written written;
  std::vector<std::string> ids;
  std::vector<Written> states;
  const std::vector<std::string> settings = {"", kZstd, "compression = 'lz4'\n"};
  for (size_t i = 0; i < settings.size(); ++i) {
    Fill(*store, "orders", 400, rng, &written);
    REQUIRE(store->Sync().ok());
    // The provider opened anew on the same repository with the setting switched.
    DiskProvider provider(dir / "repo", "workers = 2\n" + settings[i], "wal_archive");
    ids.push_back(
        provider.Backup(*store, i == 0 ? BKP_BACKUP_FULL : BKP_BACKUP_INCREMENTAL).backup_id);
    states.push_back(written);
  }
  std::set<repo::Codec> codecs;
  for (const auto& k : plugins_test::ObjectKeys(dir / "repo"))
    codecs.insert(repo::CodecOfObject(k));
  CHECK(codecs == std::set<repo::Codec>{repo::Codec::kLz4, repo::Codec::kZstd});
  // The zstd increment is format 3; the ones of LZ4 chunks only stay 2.
  for (size_t i = 0; i < ids.size(); ++i) {
    const auto m = nlohmann::json::parse(ReadFile(dir / "repo" / "backups" / (ids[i] + ".json")));
    CHECK(m["format_version"] == (i == 1 ? 3 : 2));
  }
  store.reset();
  // Read by a provider set either way.
  for (const std::string& s : {std::string(), kZstd}) {
    DiskProvider provider(dir / "repo", "workers = 2\n" + s, "wal_archive");
    provider.RequireVerifies("");
    for (size_t i = 0; i < ids.size(); ++i) {
      const fs::path target = dir / ("restored-" + std::to_string(i) + (s.empty() ? "" : "z"));
      provider.Restore(ids[i], target);
      plugins_test::CheckHolds(*OpenStore(StoreOptions(target, 64 * kKiB, 32 * kKiB)), states[i]);
    }
  }
}

TEST_CASE("zstd local_disk: verify names a damaged zstd object and restore refuses it") {
  std::mt19937_64 rng(31);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 500, rng, &written);
  REQUIRE(store->Sync().ok());
  DiskProvider provider(dir / "repo", "workers = 2\n" + kZstd);
  const std::string id = provider.Backup(*store).backup_id;
  store.reset();
  // The largest object, one byte flipped in its middle.
  fs::path victim;
  for (const auto& k : plugins_test::ObjectKeys(dir / "repo")) {
    const fs::path p = dir / "repo" / k;
    if (victim.empty() || fs::file_size(p) > fs::file_size(victim)) victim = p;
  }
  std::string bytes = ReadFile(victim);
  bytes[bytes.size() / 2] ^= 0x10;
  fs::permissions(victim, fs::perms::owner_write, fs::perm_options::add);
  testing_support::WriteFile(victim, bytes);
  const std::string key = fs::relative(victim, dir / "repo").string();

  const auto restored = provider.TryRestore(id, dir / "restored");
  REQUIRE_FALSE(restored.ok());
  CHECK_MESSAGE(Contains(restored.status().message(), "zstd frame"), restored.status().ToString());

  const auto v = provider.Verify(id);
  CHECK(v.rc == BKP_E_CORRUPT);
  bool named = false;
  for (const auto& p : v.problems) {
    named = named || (Contains(p.message, key) && Contains(p.message, "zstd frame"));
  }
  std::string all;
  for (const auto& p : v.problems) all += p.message + "\n";
  CHECK_MESSAGE(named, all);
}

TEST_CASE("compression settings: unknown codecs, levels out of range and stray levels refused") {
  CHECK(Contains(DiskOpenFailure("compression = 'gzip'\n"),
                 "setting 'compression' is 'gzip', must be 'lz4' (the default) or 'zstd'"));
  CHECK(Contains(DiskOpenFailure(kZstd + "compression_level = 0\n"),
                 "setting 'compression_level' is 0, must be 1-19"));
  CHECK(Contains(DiskOpenFailure(kZstd + "compression_level = 22\n"),
                 "setting 'compression_level' is 22, must be 1-19"));
  CHECK(Contains(DiskOpenFailure("compression_level = 3\n"),
                 "'compression_level' applies to compression = 'zstd' only"));
  CHECK(Contains(DiskOpenFailure("compression = 3\n"), "compression"));
}
