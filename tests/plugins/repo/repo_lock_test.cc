// The repository's locks and garbage collection's grace period, on a real
// directory: who conflicts with whom, what a refusal says, check after
// create, stale locks (a process that is gone, a lock not refreshed),
// refreshing, a lost lock, and objects too young to collect. Lock objects a
// test plants are JSON written here by hand, as docs/repository-format.md
// describes them, not by the code under test.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "repo/posix/posix_driver.h"
#include "repo/repo_lock.h"
#include "repo/repository.h"
#include "repo/retention.h"
#include "repo/utc_time.h"
#include "test_support.h"

namespace fs = std::filesystem;
using repo::RepositoryLock;
using testing_support::Contains;
using testing_support::TempDir;
using Mode = repo::RepositoryLock::Mode;

namespace {

std::string Hostname() {
  char name[256] = "";
  ::gethostname(name, sizeof name - 1);
  return name;
}

int64_t Now() { return repo::NowMs(); }

// The message of the BKP_E_BUSY that `take` throws.
template <typename F>
std::string Refusal(F take) {
  try {
    take();
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_BUSY);
    return e.what();
  }
  FAIL("the lock was granted");
  return "";
}

// A lock object as another process would leave it.
void PlantLock(const fs::path& repo, const std::string& name, bool exclusive,
               const std::string& operation, const std::string& host, int64_t pid,
               int64_t refreshed_ms) {
  const nlohmann::json doc = {{"format", "eventstore-backup-lock"},
                              {"version", 1},
                              {"id", name},
                              {"exclusive", exclusive},
                              {"operation", operation},
                              {"host", host},
                              {"pid", pid},
                              {"owner", "another-process"},
                              {"since_ms", refreshed_ms - 1000},
                              {"refreshed_ms", refreshed_ms}};
  fs::create_directories(repo / "locks");
  testing_support::WriteFile(repo / "locks" / (name + ".json"), doc.dump());
}

// A pid no process has any more: a child that ran and was reaped.
int64_t DeadPid(const TempDir& dir) {
  testing_support::ChildProcess child({"/bin/true"}, dir / "true.log");
  const int64_t pid = child.pid();
  child.Stop(SIGKILL);  // reaps it (it has long exited, or dies now)
  return pid;
}

repo::RepositoryOptions Options(std::chrono::milliseconds refresh = std::chrono::minutes(1),
                                std::chrono::milliseconds stale = std::chrono::minutes(5)) {
  repo::RepositoryOptions o;
  o.locks.refresh = refresh;
  o.locks.stale = stale;
  o.unlock_hint = "`hostd backup unlock --provider p`";
  return o;
}

// Wraps a posix directory; when the engine starts writing its lock object,
// another process's exclusive lock appears first: the race that checking
// again after creating must catch.
class RacingDriver final : public repo::StorageDriver {
 public:
  explicit RacingDriver(fs::path root) : root_(root), inner_(root) {}
  std::string Describe() const override { return inner_.Describe(); }
  std::unique_ptr<repo::ObjectWriter> Create() override { return inner_.Create(); }
  std::unique_ptr<repo::ObjectWriter> CreateAt(const std::string& key) override {
    if (key.rfind("locks/", 0) == 0 && !raced_) {
      raced_ = true;
      PlantLock(root_, "racer", true, "expire", "other-host", 7, Now());
    }
    return inner_.Create();
  }
  std::unique_ptr<repo::ObjectReader> Open(const std::string& key) override {
    return inner_.Open(key);
  }
  std::optional<uint64_t> Stat(const std::string& key) override { return inner_.Stat(key); }
  std::vector<repo::ObjectInfo> List(const std::string& prefix) override {
    return inner_.List(prefix);
  }
  void Remove(const std::vector<std::string>& keys) override { inner_.Remove(keys); }

 private:
  fs::path root_;
  repo::PosixDriver inner_;
  bool raced_ = false;
};

}  // namespace

TEST_CASE("repository locks: shared beside shared, exclusive alone, refusals name the holder") {
  TempDir dir;
  const fs::path root = dir / "repo";
  repo::Repository a(std::make_shared<repo::PosixDriver>(root), Options());
  repo::Repository b(std::make_shared<repo::PosixDriver>(root), Options());
  {
    auto backup = a.Lock(Mode::kShared, "backup");
    auto verify = b.Lock(Mode::kShared, "verify");  // readers go together
    const std::string why = Refusal([&] { b.Lock(Mode::kExclusive, "delete"); });
    INFO(why);
    CHECK(Contains(why, "is locked by backup on host '" + Hostname() + "' (pid " +
                            std::to_string(::getpid()) + ", shared lock locks/"));
    CHECK(Contains(why, "since 20"));
    CHECK(Contains(why, "refreshed 0 s ago"));
    CHECK(Contains(why, "delete needs the repository to itself"));
    CHECK(Contains(why, "wait until that operation ends, then retry"));
    CHECK_FALSE(Contains(why, "stale"));
    verify.reset();
    // The instance's own operations are ordered in-process, not by locks.
    auto own = a.Lock(Mode::kExclusive, "expire");
    CHECK(own != nullptr);
  }
  CHECK(repo::ListLocks(a.driver()).empty());  // each was removed on release
  auto gc = b.Lock(Mode::kExclusive, "expire");
  const std::string why = Refusal([&] { a.Lock(Mode::kShared, "backup"); });
  INFO(why);
  CHECK(Contains(why, "is locked by expire on host"));
  CHECK(Contains(why, "exclusive lock"));
  CHECK(Contains(why, "backup needs it free of deleting operations"));
  Refusal([&] { a.Lock(Mode::kExclusive, "delete"); });
}

TEST_CASE("repository locks: a lock taken while ours was written makes us back off") {
  TempDir dir;
  repo::Repository r(std::make_shared<RacingDriver>(dir / "repo"), Options());
  const std::string why = Refusal([&] { r.Lock(Mode::kShared, "backup"); });
  INFO(why);
  CHECK(Contains(why, "locked by expire on host 'other-host' (pid 7, exclusive"));
  CHECK(Contains(why, "it was taken while this lock was being written"));
  // Ours is gone again; theirs stays.
  const auto locks = repo::ListLocks(r.driver());
  REQUIRE(locks.size() == 1);
  CHECK(locks[0].key == "locks/racer.json");
}

TEST_CASE("repository locks: stale ones are reported, still block, and unlock removes them") {
  TempDir dir;
  const fs::path root = dir / "repo";
  repo::Repository r(std::make_shared<repo::PosixDriver>(root), Options());
  const int64_t dead = DeadPid(dir);
  PlantLock(root, "dead", false, "backup", Hostname(), dead, Now());
  PlantLock(root, "silent", true, "delete", "far-away", 99, Now() - 10 * 60 * 1000);
  testing_support::WriteFile(root / "locks" / "junk.json", "{not json");
  const repo::LockTimings timings = r.options().locks;
  const auto by_key = [&](const std::string& key) {
    for (const auto& l : repo::ListLocks(r.driver())) {
      if (l.key == key) return l;
    }
    FAIL("no lock " << key);
    return repo::LockRecord{};
  };
  CHECK(repo::StaleReason(by_key("locks/dead.json"), Now(), timings) ==
        "its process " + std::to_string(dead) + " on this host is gone");
  CHECK(Contains(repo::StaleReason(by_key("locks/silent.json"), Now(), timings),
                 "not refreshed for 10 min (stale after 5 min)"));
  // A damaged lock is judged by its age alone: young, it blocks.
  CHECK(Contains(by_key("locks/junk.json").unreadable, "not a valid lock"));
  CHECK(repo::StaleReason(by_key("locks/junk.json"), Now(), timings).empty());
  fs::last_write_time(root / "locks" / "junk.json",
                      fs::file_time_type::clock::now() - std::chrono::hours(1));

  std::string why = Refusal([&] { r.Lock(Mode::kExclusive, "expire"); });
  INFO(why);
  CHECK(Contains(why,
                 "is locked by backup on host '" + Hostname() + "' (pid " + std::to_string(dead)));
  CHECK(Contains(why, "and 2 more lock(s)"));
  CHECK(Contains(why, "that lock is stale (its process " + std::to_string(dead) +
                          " on this host is gone), and so are the others"));
  CHECK(Contains(why, "remove them with `hostd backup unlock --provider p`"));
  // A live lock among them: that one is named, and waiting is the advice.
  PlantLock(root, "alive", false, "verify", "far-away", 98, Now());
  CHECK(repo::StaleReason(by_key("locks/alive.json"), Now(), timings).empty());
  why = Refusal([&] { r.Lock(Mode::kExclusive, "expire"); });
  CHECK(Contains(why, "is locked by verify on host 'far-away' (pid 98"));
  CHECK(Contains(why, "and 3 more lock(s) (3 of them stale)"));
  CHECK(Contains(why, "wait until that operation ends, then retry"));

  const auto inspected = repo::InspectLocks(r.driver(), timings, /*remove_stale=*/true);
  REQUIRE(inspected.size() == 4);
  CHECK(inspected[0].lock.key == "locks/alive.json");
  CHECK_FALSE(inspected[0].removed);
  CHECK(inspected[0].stale.empty());
  CHECK(inspected[1].lock.key == "locks/dead.json");
  CHECK(inspected[2].lock.key == "locks/junk.json");
  CHECK(Contains(inspected[2].stale, "written 60 min ago"));
  CHECK(inspected[3].lock.key == "locks/silent.json");
  for (size_t i = 1; i < 4; ++i) CHECK(inspected[i].removed);
  CHECK(testing_support::ListSorted(root / "locks") ==
        std::vector<fs::path>{root / "locks" / "alive.json"});
  // A live shared lock still lets shared operations in.
  auto backup = r.Lock(Mode::kShared, "backup");
  CHECK(backup != nullptr);
}

TEST_CASE("repository locks: a held lock is refreshed, and one removed or not refreshed is lost") {
  TempDir dir;
  const fs::path root = dir / "repo";
  repo::Repository r(std::make_shared<repo::PosixDriver>(root),
                     Options(std::chrono::milliseconds(50), std::chrono::minutes(5)));
  auto lock = r.Lock(Mode::kShared, "backup");
  const fs::path file = root / lock->key();
  const auto refreshed = [&] {
    return nlohmann::json::parse(testing_support::ReadFile(file)).at("refreshed_ms").get<int64_t>();
  };
  const int64_t first = refreshed();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (refreshed() == first) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "never refreshed");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CHECK(nlohmann::json::parse(testing_support::ReadFile(file)).at("since_ms") <= first);
  lock->CheckHeld();

  // `unlock` by mistake, or by an operator sure it was stale: the holder
  // must neither bring it back nor publish.
  fs::remove(file);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // a few refresh rounds
  CHECK_FALSE(fs::exists(file));
  std::string why;
  try {
    lock->CheckHeld();
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_BUSY);
    why = e.what();
  }
  CHECK(Contains(why, "lost its repository lock: its lock object " + lock->key() + " was removed"));
  CHECK(Contains(why, "nothing is published"));

  // Not refreshed within the stale time (here: never, for 100 ms).
  repo::Repository slow(std::make_shared<repo::PosixDriver>(root),
                        Options(std::chrono::hours(1), std::chrono::milliseconds(100)));
  auto held = slow.Lock(Mode::kShared, "backup");
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  why.clear();
  try {
    held->CheckHeld();
  } catch (const bkp::Error& e) {
    why = e.what();
  }
  CHECK(Contains(why, "could not be refreshed for"));
}

TEST_CASE("garbage collection: an unreferenced object younger than the grace period stays") {
  TempDir dir;
  const fs::path root = dir / "repo";
  auto options = Options();
  options.gc_grace = std::chrono::hours(1);
  repo::Repository r(std::make_shared<repo::PosixDriver>(root), options);
  const std::string key = "objects/ab/abababababababababababababababab.lz4";
  r.driver().PutSmall(key, "written by a backup that holds no lock");
  auto exclusive = r.Lock(Mode::kExclusive, "expire");
  CHECK(repo::CollectGarbage(r) == 0);
  CHECK(fs::exists(root / key));
  fs::last_write_time(root / key, fs::file_time_type::clock::now() - std::chrono::minutes(61));
  CHECK(repo::CollectGarbage(r) == 1);
  CHECK_FALSE(fs::exists(root / key));
}
