// The scheduler in-process, on a real EventStore and the real
// provider wal_archive (a repository in a scratch directory; it takes
// incrementals, local_disk does not), driven by RunDue at
// times the test picks (Options::now is the test's clock, jitter zero), so
// nothing sleeps for a schedule. The busy case uses the fx_blocking
// fixture, released by the test.
#include "backup/scheduler.h"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "config/host_config.h"
#include "host_stub/storage_test_util.h"
#include "test_support.h"

using namespace hoststub;
using namespace storage_test;
using testing_support::Contains;
using testing_support::TempDir;
namespace fs = std::filesystem;
using namespace std::chrono;

namespace {

struct Host {
  explicit Host(const TempDir& dir, const std::string& extra_toml = "")
      : store(OpenOrFail(Options(dir / "data"))) {
    AppendNumbered(*store, "orders", 200);
    config_toml = "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) +
                  "'\n[[providers]]\nname = 'local'\nplugin = 'wal_archive'\n"
                  "[providers.settings]\npath = '" +
                  (dir / "repo").string() + "'\n" + extra_toml;
  }
  // The schedules (a TOML fragment) parsed with the providers, as hostd does.
  std::vector<ScheduleConfig> Schedules(const std::string& schedules_toml) {
    auto config = ParseHostConfig(config_toml + schedules_toml, "host.toml");
    REQUIRE_MESSAGE(config.ok(), config.status().ToString());
    return config->schedules;
  }
  void Load() {
    auto config = ParseHostConfig(config_toml, "host.toml");
    REQUIRE_MESSAGE(config.ok(), config.status().ToString());
    auto loaded = ProviderRegistry::Load(*config);
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
    providers = std::move(loaded).value();
    coordinator = std::make_unique<BackupCoordinator>(*store, providers);
  }
  std::vector<BackupListing> List() {
    auto listed = coordinator->List("local");
    REQUIRE_MESSAGE(listed.ok(), listed.status().ToString());
    return *listed;
  }

  std::unique_ptr<EventStore> store;
  std::string config_toml;
  ProviderRegistry providers;
  std::unique_ptr<BackupCoordinator> coordinator;
};

// The test's clock: starts at a fixed instant, moves when told.
struct FakeClock {
  SystemTime now = sys_days(year(2026) / 3 / 10) + hours(9);
  Scheduler::Options Options(const fs::path& scratch) {
    Scheduler::Options o;
    o.now = [this] { return now; };
    o.jitter = [](seconds) { return seconds(0); };
    o.drill_scratch = scratch;
    o.busy_poll = milliseconds(20);
    return o;
  }
};

const ScheduleStatus& Only(const std::vector<ScheduleStatus>& all) {
  REQUIRE(all.size() == 1);
  return all.front();
}

// Flips one byte in the middle of every object file of a posix repository.
size_t CorruptObjects(const fs::path& repo) {
  size_t n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(repo / "objects")) {
    if (!entry.is_regular_file() || entry.file_size() < 16) continue;
    std::fstream f(entry.path(), std::ios::in | std::ios::out | std::ios::binary);
    const auto at = static_cast<std::streamoff>(entry.file_size() / 2);
    f.seekg(at);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x5a);
    f.seekp(at);
    f.write(&c, 1);
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("scheduler: runs only when due, promotes an incremental with no full, then chains") {
  TempDir dir;
  Host host(dir);
  host.Load();
  FakeClock clock;
  Scheduler scheduler(*host.coordinator, clock.Options(dir / "scratch"));
  scheduler.SetSchedules(
      host.Schedules("[[schedules]]\nprovider = 'local'\nkind = 'incremental'\nevery = '1h'\n"));
  CHECK(Only(scheduler.Schedules()).next_due == clock.now + hours(1));

  CHECK(scheduler.RunDue(clock.now + minutes(59)) == 0);
  CHECK(host.List().empty());

  clock.now += hours(1);
  CHECK(scheduler.RunDue(clock.now) == 1);
  std::vector<BackupListing> backups = host.List();
  REQUIRE(backups.size() == 1);
  CHECK(backups[0].type == BKP_BACKUP_FULL);  // promoted: nothing to build on
  const ScheduleStatus first = Only(scheduler.Schedules());
  CHECK(first.last_ok);
  CHECK(first.last_backup_id == backups[0].id);
  CHECK(first.next_due == clock.now + hours(1));

  AppendNumbered(*host.store, "orders", 20, "more");
  clock.now += hours(1);
  CHECK(scheduler.RunDue(clock.now) == 1);
  backups = host.List();
  REQUIRE(backups.size() == 2);
  CHECK(backups[1].type == BKP_BACKUP_INCREMENTAL);
  CHECK(backups[1].parent_id == backups[0].id);

  // Three periods missed: one run, and the next is due after now.
  clock.now += hours(3) + minutes(10);
  CHECK(scheduler.RunDue(clock.now) == 1);
  CHECK(Only(scheduler.Schedules()).next_due == clock.now - minutes(10) + hours(1));
}

TEST_CASE("scheduler: retention after each scheduled backup keeps keep_last, whole chains") {
  TempDir dir;
  Host host(dir);
  host.Load();
  FakeClock clock;
  Scheduler scheduler(*host.coordinator, clock.Options(dir / "scratch"));
  scheduler.SetSchedules(host.Schedules(
      "[[schedules]]\nprovider = 'local'\nkind = 'full'\nevery = '1h'\nkeep_last = 2\n"));
  std::vector<std::string> made;
  for (int i = 0; i < 4; ++i) {
    clock.now += hours(1);
    REQUIRE(scheduler.RunDue(clock.now) == 1);
    const ScheduleStatus s = Only(scheduler.Schedules());
    INFO(s.last_error);
    REQUIRE(s.last_ok);
    made.push_back(s.last_backup_id);
    if (i >= 2) CHECK(s.last_expired == std::vector<std::string>{made[static_cast<size_t>(i) - 2]});
  }
  const std::vector<BackupListing> left = host.List();
  REQUIRE(left.size() == 2);
  CHECK(left[0].id == made[2]);
  CHECK(left[1].id == made[3]);
}

TEST_CASE("scheduler: a due schedule waits for a running operation instead of failing") {
  TempDir dir;
  const fs::path release = dir / "release";
  Host host(dir, "[[providers]]\nname = 'slow'\nplugin = '" +
                     (fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so").string() +
                     "'\n[providers.settings]\nrelease_file = '" + release.string() + "'\n");
  host.Load();
  FakeClock clock;
  Scheduler scheduler(*host.coordinator, clock.Options(dir / "scratch"));
  scheduler.SetSchedules(
      host.Schedules("[[schedules]]\nprovider = 'local'\nkind = 'full'\nevery = '1h'\n"));
  auto slow = host.coordinator->StartBackup("slow", BKP_BACKUP_FULL);
  REQUIRE(slow.ok());
  clock.now += hours(1);
  auto ran = std::async(std::launch::async, [&] { return scheduler.RunDue(clock.now); });
  // Still waiting while the slow backup holds the host (several busy polls).
  CHECK(ran.wait_for(milliseconds(300)) == std::future_status::timeout);
  CHECK(host.coordinator->Current()->id == slow->id);
  std::ofstream(release).put('x');
  REQUIRE(ran.wait_for(seconds(60)) == std::future_status::ready);
  CHECK(ran.get() == 1);
  const ScheduleStatus s = Only(scheduler.Schedules());
  INFO(s.last_error);
  CHECK(s.last_ok);
  CHECK(host.List().size() == 1);
}

TEST_CASE("scheduler: a restore drill passes, and fails on a corrupted backup") {
  TempDir dir;
  Host host(dir);
  host.Load();
  // Each drill is an operation of the coordinator: its recorder (the host's
  // operation history in hostd) sees every one, passed or failed.
  std::vector<OperationSnapshot> recorded;
  host.coordinator->set_recorder([&](const OperationSnapshot& op) {
    if (op.kind == OperationKind::kDrill) recorded.push_back(op);
  });
  FakeClock clock;
  Scheduler scheduler(*host.coordinator, clock.Options(dir / "scratch"));
  scheduler.SetSchedules(host.Schedules(
      "[[schedules]]\nname = 'drill'\nprovider = 'local'\nkind = 'drill'\ncron = '0 * * * *'\n"));
  auto last_drill = [&] {
    const ScheduleStatus s = Only(scheduler.Schedules());
    REQUIRE(s.last_drill.has_value());
    return *s.last_drill;
  };

  // No backup yet: the drill fails, saying so.
  clock.now += hours(1);
  REQUIRE(scheduler.RunDue(clock.now) == 1);
  REQUIRE(recorded.size() == 1);
  CHECK(recorded[0].state == OperationState::kFailed);
  CHECK_FALSE(last_drill().ok);
  CHECK(Contains(last_drill().error, "holds no complete backup"));

  REQUIRE(host.coordinator->StartBackup("local", BKP_BACKUP_FULL).ok());
  const auto op = host.coordinator->WaitIdle(seconds(60));
  REQUIRE((op && op->state == OperationState::kSucceeded));

  clock.now += hours(1);
  REQUIRE(scheduler.RunDue(clock.now) == 1);
  REQUIRE(recorded.size() == 2);
  CHECK(recorded[1].state == OperationState::kSucceeded);
  CHECK(recorded[1].backup_id == op->backup_id);
  const DrillResult passed = last_drill();
  INFO(passed.error);
  CHECK(passed.ok);
  CHECK(passed.schedule == "drill");
  CHECK(passed.backup_id == op->backup_id);
  CHECK(passed.files > 0);
  CHECK(passed.bytes > 0);
  CHECK(host.coordinator->Current()->kind == OperationKind::kDrill);
  CHECK(host.coordinator->Current()->backup_id == op->backup_id);
  // The scratch copy is gone.
  CHECK(fs::is_empty(dir / "scratch"));

  REQUIRE(CorruptObjects(dir / "repo") > 0);
  clock.now += hours(1);
  REQUIRE(scheduler.RunDue(clock.now) == 1);
  REQUIRE(recorded.size() == 3);
  CHECK(recorded[2].state == OperationState::kFailed);
  CHECK(Contains(last_drill().error, "restore drill of backup '" + op->backup_id + "'"));
  const ScheduleStatus s = Only(scheduler.Schedules());
  CHECK_FALSE(s.last_ok);
  CHECK_FALSE(s.last_drill->ok);
  CHECK(host.coordinator->Current()->state == OperationState::kFailed);
  CHECK(fs::is_empty(dir / "scratch"));
}

TEST_CASE(
    "scheduler: a reload keeps the next run of an unchanged schedule, replans a changed one") {
  TempDir dir;
  Host host(dir);
  host.Load();
  FakeClock clock;
  Scheduler scheduler(*host.coordinator, clock.Options(dir / "scratch"));
  const std::string a = "[[schedules]]\nname = 'a'\nprovider = 'local'\nkind = 'full'\n";
  const std::string b = "[[schedules]]\nname = 'b'\nprovider = 'local'\nkind = 'full'\n";
  scheduler.SetSchedules(host.Schedules(a + "every = '1h'\n" + b + "every = '2h'\n"));
  const SystemTime start = clock.now;
  clock.now += minutes(30);
  scheduler.SetSchedules(host.Schedules(a + "every = '1h'\n" + b + "every = '3h'\n"));
  auto all = scheduler.Schedules();
  REQUIRE(all.size() == 2);
  CHECK(all[0].next_due == start + hours(1));
  CHECK(all[1].next_due == clock.now + hours(3));
  scheduler.SetSchedules(host.Schedules(b + "every = '3h'\n"));
  REQUIRE(scheduler.Schedules().size() == 1);
  CHECK(scheduler.Schedules()[0].config.name == "b");
}

TEST_CASE("coordinator: expire and delete dry runs name what would go and delete nothing") {
  TempDir dir;
  Host host(dir);
  host.Load();
  auto backup = [&](uint32_t type) {
    auto started = host.coordinator->StartBackup("local", type);
    REQUIRE_MESSAGE(started.ok(), started.status().ToString());
    const auto op = host.coordinator->WaitIdle(seconds(60));
    REQUIRE((op && op->state == OperationState::kSucceeded));
    AppendNumbered(*host.store, "orders", 5, "next");
    return op->backup_id;
  };
  const std::string f1 = backup(BKP_BACKUP_FULL);
  const std::string i1 = backup(BKP_BACKUP_INCREMENTAL);
  const std::string f2 = backup(BKP_BACKUP_FULL);
  const std::string f3 = backup(BKP_BACKUP_FULL);
  const auto before = host.List();
  REQUIRE(before.size() == 4);

  RetentionPolicy policy;
  policy.keep_last = 2;
  policy.dry_run = true;
  auto would = host.coordinator->Expire("local", policy);
  REQUIRE_MESSAGE(would.ok(), would.status().ToString());
  REQUIRE(would->size() == 2);
  CHECK((*would)[0].id == f1);
  CHECK((*would)[1].id == i1);
  CHECK(host.List().size() == 4);

  auto plan = host.coordinator->PlanDelete("local", f2.substr(0, f2.size() - 1));
  REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
  CHECK(plan->id == f2);
  auto parent = host.coordinator->PlanDelete("local", f1);
  REQUIRE_FALSE(parent.ok());
  CHECK(Contains(parent.status().message(), "is the parent of incremental backup(s) '" + i1));
  CHECK(host.List().size() == 4);

  // The real expire removes what the dry run named; `latest` deletes f3.
  policy.dry_run = false;
  auto removed = host.coordinator->Expire("local", policy);
  REQUIRE(removed.ok());
  CHECK(removed->size() == 2);
  REQUIRE(host.coordinator->Delete("local", "latest").ok());
  CHECK(host.coordinator->Current()->backup_id == f3);
  const auto left = host.List();
  REQUIRE(left.size() == 1);
  CHECK(left[0].id == f2);
}

TEST_CASE("scheduler: each run starts its jitter late, the delay drawn per run") {
  TempDir dir;
  Host host(dir);
  host.Load();
  FakeClock clock;
  Scheduler::Options options = clock.Options(dir / "scratch");
  std::vector<seconds> asked;
  options.jitter = [&](seconds jitter) {
    asked.push_back(jitter);
    return seconds(100 + asked.size());
  };
  Scheduler scheduler(*host.coordinator, options);
  scheduler.SetSchedules(host.Schedules(
      "[[schedules]]\nprovider = 'local'\nkind = 'full'\nevery = '1h'\njitter = '5m'\n"));
  const SystemTime start = clock.now;
  CHECK(Only(scheduler.Schedules()).next_due == start + hours(1) + seconds(101));
  // Not due at the period itself, only once the delay passed.
  CHECK(scheduler.RunDue(start + hours(1)) == 0);
  clock.now = start + hours(1) + seconds(101);
  CHECK(scheduler.RunDue(clock.now) == 1);
  // The next period counts from when it was due, not from the late start.
  CHECK(Only(scheduler.Schedules()).next_due == start + hours(2) + seconds(102));
  CHECK(asked == std::vector<seconds>{minutes(5), minutes(5)});
}
