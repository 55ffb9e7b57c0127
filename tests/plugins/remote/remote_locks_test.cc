// Repository locks on S3 (s3rver), across two hostd processes: a
// rate-limited incremental backup by `hostd backup create` on one data
// directory, and `hostd backup delete|expire` of its parent from a second
// config (another data directory, the same bucket and prefix). The delete
// and the garbage collection are refused naming the backup's lock; the
// backup publishes whole and verifies. Also: garbage collection's grace
// period judged by the server's LastModified.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "plugins/remote_test_util.h"
#include "repo/repo_lock.h"
#include "repo/repository.h"
#include "repo/retention.h"
#include "repo/utc_time.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::Contains;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenStore;
using plugins_test::StoreOptions;
using plugins_test::Written;
using remote_test::PrefixOf;
using remote_test::TestConfig;
using s3_test::S3Server;
using testing_support::Quoted;
using testing_support::TempDir;

namespace {

fs::path WriteConfig(const fs::path& file, const fs::path& data_dir, const std::string& endpoint,
                     const std::string& prefix, int rate_limit) {
  std::map<std::string, std::string> overrides;
  if (rate_limit > 0) {
    overrides["rate_limit"] = std::to_string(rate_limit);
    overrides["workers"] = "1";
  }
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(data_dir) + "\n";
  toml += "event_segment_size = '64KiB'\nlog_segment_size = '32KiB'\n";
  toml += "[[providers]]\nname = 'remote'\nplugin = 'remote'\n[providers.settings]\n";
  toml += s3_test::RemoteSettings(endpoint, prefix, overrides);
  testing_support::WriteFile(file, toml);
  return file;
}

testing_support::CommandResult Hostd(std::vector<std::string> args) {
  args.insert(args.begin(), HOSTD_BIN);
  return testing_support::RunCommand(args);
}

// The exit code of a background child, once it ended (bounded).
int WaitExit(testing_support::ChildProcess& child, std::chrono::steady_clock::time_point deadline) {
  while (child.Running()) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the child never exited");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return child.Stop(SIGKILL);  // already reaped: only returns the code
}

std::set<std::string> Keys(repo::StorageDriver& storage, const std::string& prefix) {
  std::set<std::string> out;
  for (const auto& o : storage.List(prefix)) out.insert(o.key);
  return out;
}

}  // namespace

TEST_CASE("remote locks: a delete of a running incremental's parent from another config waits") {
  S3Server server;
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  repo::s3::S3Driver storage(TestConfig(server.endpoint(), prefix));
  std::mt19937_64 rng(151);
  Written written;
  {
    auto store = OpenStore(StoreOptions(dir / "data-a", 64 * kKiB, 32 * kKiB));
    Fill(*store, "orders", 300, rng, &written);
    REQUIRE(store->Sync().ok());
  }
  const std::string endpoint = server.endpoint();
  const fs::path fast = WriteConfig(dir / "a-fast.toml", dir / "data-a", endpoint, prefix, 0);
  const fs::path slow = WriteConfig(dir / "a.toml", dir / "data-a", endpoint, prefix, 200'000);
  const fs::path other = WriteConfig(dir / "b.toml", dir / "data-b", endpoint, prefix, 0);
  auto r = Hostd({"backup", "create", "--config", fast.string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string parent = testing_support::CreatedBackupId(r.output);
  const std::set<std::string> parent_objects = Keys(storage, "objects/");
  {
    auto store = OpenStore(StoreOptions(dir / "data-a", 64 * kKiB, 32 * kKiB));
    Fill(*store, "orders", 3000, rng, &written);
    REQUIRE(store->Sync().ok());
  }

  // Host A: the incremental, at 200 kB/s, for seconds.
  testing_support::ChildProcess backup(
      {HOSTD_BIN, "backup", "create", "--config", slow.string(), "--type", "incremental"},
      dir / "backup.out");
  std::set<std::string> unpublished;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (unpublished.empty()) {
    REQUIRE_MESSAGE(backup.Running(), testing_support::ReadFile(dir / "backup.out"));
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    for (const auto& key : Keys(storage, "objects/")) {
      if (parent_objects.count(key) == 0) unpublished.insert(key);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // Host B: the same bucket and prefix, its own data directory.
  r = Hostd({"backup", "delete", "--config", other.string(), parent});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "BKP_E_BUSY"));
  CHECK(Contains(r.output, "is locked by backup on host '"));
  CHECK(Contains(r.output, "(pid " + std::to_string(backup.pid()) + ", shared lock locks/"));
  CHECK(Contains(r.output, "delete needs the repository to itself"));
  r = Hostd({"backup", "expire", "--config", other.string(), "--keep-last", "1"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "is locked by backup"));

  CHECK(WaitExit(backup, deadline) == 0);
  const std::string out = testing_support::ReadFile(dir / "backup.out");
  INFO(out);
  const std::string child = testing_support::CreatedBackupId(out);
  const std::set<std::string> now = Keys(storage, "objects/");
  for (const auto& key : unpublished) CHECK_MESSAGE(now.count(key) == 1, key << " was deleted");
  CHECK(Keys(storage, "locks/").empty());
  r = Hostd({"backup", "verify", "--config", other.string(), child});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  // The parent is still there and still refused, now by the chain itself.
  r = Hostd({"backup", "delete", "--config", other.string(), parent});
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "is the parent of incremental backup(s) '" + child + "'"));
}

TEST_CASE("remote locks: garbage collection leaves objects younger than its grace period") {
  S3Server server;
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  auto storage = std::make_shared<repo::s3::S3Driver>(TestConfig(server.endpoint(), prefix));
  const std::string key = "objects/cd/cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd.lz4";
  repo::RepositoryOptions options;
  options.gc_grace = std::chrono::hours(1);
  {
    repo::Repository repository(storage, options);
    storage->PutSmall(key, "stored by a writer that holds no lock");
    const auto listed = storage->List("objects/");
    REQUIRE(listed.size() == 1);
    // LastModified is the server's clock, read back as ms since the epoch.
    CHECK(std::llabs(listed[0].modified_ms - repo::NowMs()) < 60'000);
    auto lock = repository.Lock(repo::RepositoryLock::Mode::kExclusive, "expire");
    CHECK(repo::CollectGarbage(repository) == 0);
    CHECK(storage->Stat(key));
  }
  // The same object, once past the grace period (here: none at all).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  options.gc_grace = std::chrono::milliseconds(1000);
  repo::Repository repository(storage, options);
  auto lock = repository.Lock(repo::RepositoryLock::Mode::kExclusive, "expire");
  CHECK(repo::CollectGarbage(repository) == 1);
  CHECK_FALSE(storage->Stat(key));
}
