// Encrypted repositories end to end: the real providers (local_disk,
// wal_archive, remote on s3rver) with `encryption_identity`, checked from
// outside by the stock tools: `age -d` opens every stored object, manifest
// and record, `lz4 -dc | xxhsum -H3` gives the checksum the manifest
// (itself opened by `age -d`) records, and object names are not the XXH128
// of the content. Then damage (a flipped byte, a swapped manifest, a
// truncated file) and every mix of keys and repositories is refused.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugins/plugins_test_util.h"
#include "plugins/provider_scenarios.h"
#include "plugins/remote_test_util.h"
#include "plugins/s3_test_support.h"
#include "repo/crypto/age_file.h"
#include "repo/crypto/age_keys.h"
#include "repo/encrypted_driver.h"
#include "repo/object_codec.h"
#include "repo/posix/posix_driver.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::DiskProvider;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenFailure;
using plugins_test::OpenStore;
using plugins_test::Sh;
using plugins_test::StoreOptions;
using plugins_test::Written;
using testing_support::Contains;
using testing_support::ReadFile;
using testing_support::RunCommand;
using testing_support::TempDir;
using testing_support::WriteFile;

namespace {

// A key made by bkp-keygen, its recipient as it printed it.
struct Key {
  fs::path file;
  std::string recipient;
};

Key MakeKey(const fs::path& file) {
  const auto r = RunCommand({BKP_KEYGEN_BIN, "-o", file.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  return {file, r.output.substr(0, r.output.find('\n'))};
}

std::string EncryptionSettings(const Key& key, const std::string& extra_recipients = "") {
  std::string s = "encryption_identity = '" + key.file.string() + "'\n";
  if (!extra_recipients.empty()) s += "encryption_recipients = '" + extra_recipients + "'\n";
  return s;
}

// The repository's storage as the engine sees it through the key.
std::shared_ptr<repo::StorageDriver> Decrypting(std::shared_ptr<repo::StorageDriver> inner,
                                                const Key& key) {
  return std::make_shared<repo::EncryptedDriver>(std::move(inner),
                                                 age::ReadIdentityFile(key.file.string()).front(),
                                                 std::vector<age::Recipient>{});
}

// The stock `age -d -i key file`, its plaintext.
std::string StockDecrypt(const fs::path& key, const fs::path& file, const fs::path& out) {
  const auto r = RunCommand({"age", "-d", "-i", key.string(), "-o", out.string(), file.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, file << ": " << r.output);
  return ReadFile(out);
}

}  // namespace

TEST_CASE("encrypted local_disk: hot backups restore, and retention collects, through the key") {
  TempDir keys;
  const Key key = MakeKey(keys / "key.txt");
  const plugins_test::ProviderKind kind = {
      [&](const fs::path& scratch) {
        return std::make_unique<DiskProvider>(scratch / "repo",
                                              "workers = 2\n" + EncryptionSettings(key));
      },
      [&](const fs::path& scratch) {
        return Decrypting(std::make_shared<repo::PosixDriver>(scratch / "repo"), key);
      },
  };
  plugins_test::HotBackupUnderLoadRestoresEveryAcknowledgedEvent(kind, 1);
  plugins_test::RetentionKeepsTheNewestTwoWhole(kind);
}

TEST_CASE("encrypted wal_archive: an incremental chain restores, verifies and deletes in order") {
  TempDir keys;
  const Key key = MakeKey(keys / "key.txt");
  const plugins_test::ProviderKind kind = {
      [&](const fs::path& scratch) {
        return std::make_unique<DiskProvider>(
            scratch / "repo", "workers = 2\n" + EncryptionSettings(key), "wal_archive");
      },
      [&](const fs::path& scratch) {
        return Decrypting(std::make_shared<repo::PosixDriver>(scratch / "repo"), key);
      },
  };
  plugins_test::IncrementalChainRestoresVerifiesAndDeletesInOrder(kind);
}

TEST_CASE("encrypted remote: an incremental chain on S3 restores, verifies and deletes in order") {
  s3_test::S3Server server;
  TempDir keys;
  const Key key = MakeKey(keys / "key.txt");
  const std::string endpoint = server.endpoint();
  const plugins_test::ProviderKind kind = {
      [&](const fs::path& scratch) {
        return remote_test::OpenRemote(endpoint, remote_test::PrefixOf(scratch),
                                       {{"encryption_identity", "'" + key.file.string() + "'"}});
      },
      [&](const fs::path& scratch) {
        return Decrypting(std::make_shared<repo::s3::S3Driver>(
                              remote_test::TestConfig(endpoint, remote_test::PrefixOf(scratch))),
                          key);
      },
  };
  plugins_test::IncrementalChainRestoresVerifiesAndDeletesInOrder(kind);
}

TEST_CASE("encrypted local_disk: the stock age opens every file, and names hide the content") {
  std::mt19937_64 rng(5);
  TempDir dir;
  const Key key = MakeKey(dir / "key.txt");
  const Key recovery = MakeKey(dir / "recovery.txt");
  Written written;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 24 * kKiB));
  Fill(*store, "orders", 800, rng, &written);
  REQUIRE(store->Sync().ok());
  const fs::path repo_dir = dir / "repo";
  DiskProvider disk(repo_dir, "workers = 2\n" + EncryptionSettings(key, recovery.recipient));
  const auto first = disk.Backup(*store);
  const auto second = disk.Backup(*store);
  // Deduplication works under keyed names: little is stored the second time.
  CHECK(second.bytes_stored * 5 < first.bytes_stored);

  // format.json says so, plain, and holds no key of any kind.
  const std::string format = ReadFile(repo_dir / "format.json");
  const auto doc = nlohmann::json::parse(format);
  CHECK(doc.at("encryption") == "age-v1-x25519");
  // A format version an engine from before encryption refuses up front
  // (it reads up to 2) instead of taking every age file for damage.
  CHECK(doc.at("version") == 3);
  CHECK_FALSE(Contains(format, "AGE-SECRET-KEY"));
  CHECK_FALSE(Contains(format, key.recipient));
  CHECK_FALSE(Contains(format, recovery.recipient));

  // The manifest, opened by the stock age with either key, is the JSON an
  // unencrypted repository holds; the raw file is not.
  const fs::path manifest_file = repo_dir / "backups" / (first.backup_id + ".json");
  CHECK_FALSE(Contains(ReadFile(manifest_file), first.backup_id));
  const std::string manifest_text = StockDecrypt(key.file, manifest_file, dir / "m.json");
  CHECK(StockDecrypt(recovery.file, manifest_file, dir / "m2.json") == manifest_text);
  const repo::Manifest m = repo::DecodeManifest(manifest_text, "manifest");
  CHECK(m.id == first.backup_id);

  // Every chunk: `age -d | lz4 -dc` gives bytes whose XXH3-64 the manifest
  // records, and whose XXH128 is not the object's name.
  size_t checked = 0;
  for (const auto& f : m.files) {
    for (const auto& c : f.chunks) {
      const fs::path object = repo_dir / c.object;
      const std::string pipe =
          "age -d -i '" + key.file.string() + "' '" + object.string() + "' | lz4 -dc | ";
      const std::string h3 = Sh(pipe + "xxhsum -H3");
      CHECK_MESSAGE(Contains(h3, repo::Hex64(c.xxh3)), c.object << ": " << h3);
      const std::string h2 = Sh(pipe + "xxhsum -H2");
      const std::string digest = h2.substr(0, h2.find(' '));
      REQUIRE(digest.size() == 32);
      CHECK_FALSE(Contains(c.object, digest));
      CHECK(fs::file_size(object) == c.stored_size);
      ++checked;
    }
  }
  CHECK(checked >= 3);
  // Nothing in the repository but format.json and locks is readable without
  // the key: every other file is an age file.
  for (const auto& e : fs::recursive_directory_iterator(repo_dir)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = e.path().lexically_relative(repo_dir).generic_string();
    if (rel == "format.json" || rel.rfind("locks/", 0) == 0) continue;
    CAPTURE(rel);
    CHECK(ReadFile(e.path()).rfind("age-encryption.org/v1\n", 0) == 0);
  }

  // A manifest the stock age encrypted to our recipient reads as ours.
  const auto again = RunCommand(
      {"age", "-r", key.recipient, "-o", manifest_file.string(), (dir / "m.json").string()});
  REQUIRE_MESSAGE(again.exit_code == 0, again.output);
  CHECK(disk.ListIds() == std::vector<std::string>{first.backup_id, second.backup_id});
  disk.RequireVerifies(first.backup_id);
  store.reset();
  disk.Restore(first.backup_id, dir / "restored");
  plugins_test::CheckHolds(*OpenStore(StoreOptions(dir / "restored", 24 * kKiB, 24 * kKiB)),
                           written);
}

TEST_CASE(
    "encrypted local_disk: a flipped byte, a swapped manifest and a truncated file are named") {
  std::mt19937_64 rng(9);
  TempDir dir;
  const Key key = MakeKey(dir / "key.txt");
  Written written;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 24 * kKiB));
  Fill(*store, "orders", 600, rng, &written);
  const fs::path repo_dir = dir / "repo";
  DiskProvider disk(repo_dir, "workers = 2\n" + EncryptionSettings(key));
  const auto a = disk.Backup(*store);
  Fill(*store, "orders", 50, rng, &written);
  const auto b = disk.Backup(*store);
  auto storage = Decrypting(std::make_shared<repo::PosixDriver>(repo_dir), key);
  const repo::Manifest m = plugins_test::ReadManifest(*storage, a.backup_id);

  SUBCASE("a flipped byte in an object") {
    const auto& c = m.files.back().chunks.front();
    testing_support::FlipByte(repo_dir / c.object, fs::file_size(repo_dir / c.object) - 5);
    const auto v = disk.Verify(a.backup_id);
    CHECK(v.rc == BKP_E_CORRUPT);
    bool named = false;
    for (const auto& p : v.problems) named = named || Contains(p.message, c.object);
    CHECK_MESSAGE(named, v.error);
    auto r = disk.TryRestore(a.backup_id, dir / "target");
    REQUIRE_FALSE(r.ok());
    CHECK(Contains(r.status().message(), c.object));
  }
  SUBCASE("a manifest swapped for another backup's") {
    fs::copy_file(repo_dir / "backups" / (b.backup_id + ".json"),
                  repo_dir / "backups" / (a.backup_id + ".json"),
                  fs::copy_options::overwrite_existing);
    const auto v = disk.Verify(a.backup_id);
    CHECK(v.rc != BKP_OK);
    CHECK_MESSAGE(Contains(v.error, a.backup_id), v.error);
  }
  SUBCASE("a truncated manifest") {
    const fs::path file = repo_dir / "backups" / (a.backup_id + ".json");
    fs::resize_file(file, fs::file_size(file) - 20);
    const auto v = disk.Verify(a.backup_id);
    CHECK(v.rc == BKP_E_CORRUPT);
    CHECK_MESSAGE(Contains(v.error, "backups/" + a.backup_id + ".json"), v.error);
  }
}

TEST_CASE("encrypted repositories: missing or wrong identities and plain ones are refused") {
  TempDir dir;
  const Key key = MakeKey(dir / "key.txt");
  const Key other = MakeKey(dir / "other.txt");
  const fs::path secret_repo = dir / "secret";
  const fs::path plain_repo = dir / "plain";
  { DiskProvider create(secret_repo, EncryptionSettings(key)); }
  { DiskProvider create(plain_repo, ""); }
  auto settings = [](const fs::path& repo, const std::string& rest) {
    return "path = '" + repo.string() + "'\n" + rest;
  };
  CHECK(Contains(OpenFailure("local_disk", settings(secret_repo, "")),
                 "is encrypted (age-v1-x25519): set encryption_identity"));
  const std::string wrong =
      OpenFailure("local_disk", settings(secret_repo, EncryptionSettings(other)));
  CHECK_MESSAGE(Contains(wrong, "is not this repository's"), wrong);
  CHECK_FALSE(Contains(wrong, "AGE-SECRET-KEY"));
  CHECK(Contains(OpenFailure("local_disk", settings(plain_repo, EncryptionSettings(key))),
                 "is an unencrypted repository, but encryption_identity is set"));
  CHECK(Contains(OpenFailure("local_disk", settings(dir / "new", "encryption_recipients = '" +
                                                                     key.recipient + "'\n")),
                 "needs 'encryption_identity'"));
  CHECK(Contains(
      OpenFailure("local_disk", settings(dir / "new2", "encryption_identity = '" +
                                                           (dir / "nokey").string() + "'\n")),
      "setting 'encryption_identity'"));
  CHECK(Contains(
      OpenFailure("local_disk", settings(dir / "new3", EncryptionSettings(key, "age1notakey"))),
      "not an age X25519 recipient"));
  // A key file that is not a key: named by line, never quoted.
  WriteFile(dir / "bad.txt", "AGE-SECRET-KEY-1NOTAKEY\n");
  const std::string bad = OpenFailure(
      "local_disk",
      settings(dir / "new4", "encryption_identity = '" + (dir / "bad.txt").string() + "'\n"));
  CHECK(Contains(bad, "line 1"));
  CHECK_FALSE(Contains(bad, "NOTAKEY"));
}

TEST_CASE(
    "encrypted driver: a batch commit seals every object and stores it through the inner "
    "driver's group commit") {
  TempDir dir;
  const Key key = MakeKey(dir / "key");
  auto inner = std::make_shared<repo::PosixDriver>(dir / "repo");
  auto driver = Decrypting(inner, key);
  std::vector<repo::PendingObject> batch;
  for (int i = 0; i < 12; ++i) {
    auto writer = driver->Create();
    const std::string content = "secret " + std::to_string(i);
    writer->Append(content.data(), content.size());
    batch.push_back(
        {std::move(writer), "objects/0" + std::to_string(i % 3) + "/o" + std::to_string(i)});
  }
  driver->CommitBatch(batch);
  batch.clear();
  for (int i = 0; i < 12; ++i) {
    const std::string k = "objects/0" + std::to_string(i % 3) + "/o" + std::to_string(i);
    CHECK(driver->GetSmall(k) == "secret " + std::to_string(i));
    CHECK_FALSE(Contains(inner->GetSmall(k), "secret"));  // stored encrypted
  }
}
