// The wal_archive provider end to end: the real plugin from the real plugin
// directory, a real EventStore, the host's RunBackup/RunRestore (and its
// point-in-time cut), and the repository on disk. Segments reach the archive
// through the provider's archive callback with a real backup source, as the
// host's archiver hands them over. Covers a full backup and a chain of
// increments taken under load, broken chains, point-in-time restore to
// random targets, retention of chains and of the archive.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backup/backup_runner.h"
#include "backup/backup_source.h"
#include "plugins/plugins_test_util.h"
#include "plugins/provider_scenarios.h"
#include "repo/archive_record.h"
#include "repo/chain.h"
#include "repo/posix/posix_driver.h"
#include "repo/repository.h"
#include "storage/record.h"
#include "test_support.h"

namespace fs = std::filesystem;
using hoststub::BackupSource;
using hoststub::EventStore;
using hoststub::RestorePolicy;
using hoststub::RestoreTarget;
using hoststub::StoredEvent;
using hoststub::StreamRole;
using plugins_test::CheckHolds;
using plugins_test::Contains;
using plugins_test::DiskProvider;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenStore;
using plugins_test::ReadAll;
using plugins_test::ReadManifest;
using plugins_test::StoreOptions;
using plugins_test::TestSeed;
using plugins_test::Written;
using testing_support::TempDir;

namespace {

DiskProvider WalArchive(const fs::path& repo) {
  return DiskProvider(repo, "workers = 2\n", "wal_archive");
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Hands every segment of `store` to the provider's archive as the host's
// archiver does: closed ones, and (with `pieces`) what the active ones hold
// so far. Returns how many calls stored or confirmed something.
size_t ShipToArchive(EventStore& store, DiskProvider& provider, const fs::path& scratch,
                     bool pieces) {
  auto source = BackupSource::Create(store, scratch);
  REQUIRE_MESSAGE(source.ok(), source.status().ToString());
  std::vector<bkp_item> items;
  auto collect = [](void* user, const bkp_item* item) -> bkp_status {
    static_cast<std::vector<bkp_item>*>(user)->push_back(*item);
    return BKP_OK;
  };
  std::string error;
  for (uint32_t role : {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS}) {
    std::vector<bkp_item> listed;
    REQUIRE_MESSAGE((*source)->List(role, collect, &listed, &error) == BKP_OK, error);
    if (role != BKP_ROLE_CONTROL_DB) items.insert(items.end(), listed.begin(), listed.end());
  }
  size_t calls = 0;
  bkp_operation op;
  // Events before the log: the log piece then covers every event shipped.
  std::stable_sort(items.begin(), items.end(), [](const bkp_item& a, const bkp_item& b) {
    return (a.role == BKP_ROLE_LOG) < (b.role == BKP_ROLE_LOG);
  });
  for (bkp_item item : items) {
    if ((item.flags & BKP_ITEM_CLOSED) == 0) {
      if (!pieces) continue;
      item.flags |= BKP_ITEM_PARTIAL;
    }
    bkp_archive_args args;
    BKP_INIT(&args);
    args.item = &item;
    args.source = source->get();
    args.op = &op;
    args.observed_ms = NowMs();
    if (item.role != BKP_ROLE_LOG) {  // the host reads its first event's time
      auto first =
          store.Read(item.context, item.base, 1,
                     item.role == BKP_ROLE_EVENTS ? StreamRole::kEvents : StreamRole::kSnapshots);
      REQUIRE(first.ok());
      if (!first->empty()) args.first_ms = first->front().timestamp_ms;
    }
    char err[1024] = "";
    const bkp_status rc = provider.table().archive(provider.instance(), &args, err, sizeof err);
    REQUIRE_MESSAGE(rc == BKP_OK, "archive of " << item.name << ": " << err);
    ++calls;
  }
  return calls;
}

struct Position {
  std::string context;
  uint32_t role = 0;
  bool has_closed = false;
  uint64_t closed_base = 0;
  std::string partial_name;
  uint64_t partial_size = 0;
  uint64_t next = 0;
};

std::vector<Position> ArchivePositions(DiskProvider& provider) {
  std::vector<Position> out;
  char err[1024] = "";
  const bkp_status rc = provider.table().archive_status(
      provider.instance(),
      [](void* user, const bkp_archive_position* p) -> bkp_status {
        static_cast<std::vector<Position>*>(user)->push_back(
            {p->context, p->role, p->has_closed != 0, p->closed_base,
             p->partial_name ? p->partial_name : "", p->partial_size, p->next});
        return BKP_OK;
      },
      &out, err, sizeof err);
  REQUIRE_MESSAGE(rc == BKP_OK, err);
  return out;
}

// The events of `ctx` a restore to `target` must hold: the source's, up to
// the last whole append at or before the target.
std::vector<StoredEvent> Expected(const std::vector<StoredEvent>& source,
                                  const RestoreTarget& target) {
  size_t keep = source.size();
  for (size_t i = 0; i < source.size(); ++i) {
    const bool past = target.kind == RestoreTarget::Kind::kToken
                          ? source[i].token > target.token
                          : source[i].timestamp_ms > target.time_ms;
    if (past) {
      // The whole append it belongs to goes.
      keep = i;
      while (keep > 0 && source[keep - 1].log_index == source[i].log_index) --keep;
      break;
    }
  }
  return {source.begin(), source.begin() + static_cast<std::ptrdiff_t>(keep)};
}

void CheckSameEvents(const std::vector<StoredEvent>& got, const std::vector<StoredEvent>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    if (got[i].token != want[i].token || got[i].payload != want[i].payload ||
        got[i].log_index != want[i].log_index) {
      FAIL("event " << i << " differs");
    }
  }
}

}  // namespace

TEST_CASE("wal_archive: its table offers incremental backups and the archive") {
  TempDir dir;
  plugins_test::CheckTableOffers(WalArchive(dir / "repo"), /*incremental=*/true, /*archive=*/true);
}

TEST_CASE("wal_archive: a full backup and 5 increments under load restore as the source was") {
  const uint64_t seed = TestSeed();
  MESSAGE("seed " << seed << " (set BKP_TEST_SEED to replay)");
  std::mt19937_64 rng(seed);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 48 * kKiB, 32 * kKiB));
  Written seeded;
  Fill(*store, "orders", 800, rng, &seeded);
  Fill(*store, "billing", 200, rng, &seeded);
  DiskProvider wal = WalArchive(dir / "repo");

  std::atomic<bool> stop{false};
  std::thread writer([&] {
    std::mt19937_64 r(seed + 1);
    while (!stop.load()) {
      const std::string ctx = r() % 3 == 0 ? "billing" : "orders";
      std::vector<std::string> batch(1 + r() % 5);
      for (auto& p : batch) p = plugins_test::EventPayload(r, "live", 50 + r() % 400);
      REQUIRE(store->Append(ctx, batch).ok());
      // A steady load, not a flood: the test is about consistency.
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  std::vector<std::string> ids;
  ids.push_back(wal.Backup(*store, BKP_BACKUP_FULL).backup_id);
  for (int i = 0; i < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 60));  // let data grow
    ids.push_back(wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id);
  }
  stop = true;
  writer.join();

  // Each increment names its parent and holds only what changed: less
  // than the state it restores to, and no closed segment its parent had.
  const repo::Manifest full = ReadManifest(dir / "repo", ids[0]);
  CHECK(full.type == "full");
  repo::Repository repository(std::make_shared<repo::PosixDriver>(dir / "repo"));
  for (size_t i = 1; i < ids.size(); ++i) {
    const repo::Manifest m = ReadManifest(dir / "repo", ids[i]);
    CAPTURE(i);
    CHECK(m.type == "incremental");
    CHECK(m.parent == ids[i - 1]);
    const repo::BackupState parent = repo::ResolveState(repository, ids[i - 1]);
    CHECK(m.TotalBytes() < repo::ResolveState(repository, ids[i]).TotalBytes());
    for (const auto& f : m.files) {
      auto before = parent.files.find(f.key());
      if (before != parent.files.end() && before->second.closed) {
        FAIL_CHECK(f.name << " was closed in the parent already");
      }
    }
  }
  const auto infos = wal.List();
  REQUIRE(infos.size() == 6);
  CHECK(infos[5].type == BKP_BACKUP_INCREMENTAL);
  CHECK(infos[5].has_parent);

  // The newest increment restores to exactly what the source held at the
  // end of the log it holds: every event of those entries, byte for byte,
  // and nothing else. The host lists a context's log and events at one
  // instant, so those are exactly the events the manifest's ranges name.
  const repo::Manifest last = ReadManifest(dir / "repo", ids[5]);
  wal.RequireVerifies(ids[5]);
  store.reset();
  const auto report = wal.Restore(ids[5], dir / "restored");
  CHECK(report.check.ok());
  auto source = OpenStore(StoreOptions(dir / "data", 48 * kKiB, 32 * kKiB));
  auto restored = OpenStore(StoreOptions(dir / "restored", 48 * kKiB, 32 * kKiB));
  uint64_t orders_kept = 0;
  for (const auto& c : last.contexts) {
    CAPTURE(c.name);
    const auto from_source = ReadAll(*source, c.name);
    REQUIRE(from_source.size() >= c.events.next);
    size_t kept = 0;
    while (kept < from_source.size() && from_source[kept].log_index < c.log.next) ++kept;
    CHECK(kept == c.events.next);
    const std::vector<StoredEvent> want(from_source.begin(),
                                        from_source.begin() + static_cast<std::ptrdiff_t>(kept));
    CheckSameEvents(ReadAll(*restored, c.name), want);
    if (c.name == "orders") orders_kept = kept;
  }
  // And the restored host takes new writes after the restored tokens.
  auto next = restored->Append("orders", std::vector<std::string>{"{\"after\":\"restore\"}"});
  REQUIRE(next.ok());
  CHECK(next->first_token == orders_kept);
}

TEST_CASE(
    "wal_archive: an incremental needs a full backup, and a chain is never broken by delete") {
  std::mt19937_64 rng(5);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 32 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 300, rng, &written);
  DiskProvider wal = WalArchive(dir / "repo");

  bkp_operation op;
  auto none = wal.TryBackup(*store, op, BKP_BACKUP_INCREMENTAL);
  REQUIRE_FALSE(none.ok());
  CHECK_MESSAGE(Contains(none.status().message(), "needs a full backup"), none.status().ToString());
  CHECK_MESSAGE(Contains(none.status().ToString(), "BKP_E_MISSING_FULL_BACKUP"),
                none.status().ToString());

  std::vector<std::string> ids{wal.Backup(*store).backup_id};
  for (int i = 0; i < 4; ++i) {
    Fill(*store, "orders", 100, rng, &written);
    ids.push_back(wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id);
  }
  // Deleting a backup an increment builds on is refused, naming the child.
  char err[1024] = "";
  const bkp_status rc = wal.table().remove(wal.instance(), ids[2].c_str(), err, sizeof err);
  CHECK(rc == BKP_E_REFUSED_BY_POLICY);
  CHECK_MESSAGE(Contains(err, ids[3]), err);
  // The newest can go; then its parent can.
  REQUIRE(wal.table().remove(wal.instance(), ids[4].c_str(), err, sizeof err) == BKP_OK);
  CHECK(wal.ListIds() == std::vector<std::string>(ids.begin(), ids.begin() + 4));

  // Retention keeps whole chains: keeping the newest 1 keeps all of it.
  bkp_retention keep_one;
  BKP_INIT(&keep_one);
  keep_one.keep_last = 1;
  REQUIRE(wal.table().expire(wal.instance(), &keep_one, nullptr, nullptr, err, sizeof err) ==
          BKP_OK);
  CHECK(wal.ListIds() == std::vector<std::string>(ids.begin(), ids.begin() + 4));
  // A new full backup starts a new chain; the old one can then expire.
  const std::string fresh = wal.Backup(*store).backup_id;
  REQUIRE(wal.table().expire(wal.instance(), &keep_one, nullptr, nullptr, err, sizeof err) ==
          BKP_OK);
  CHECK(wal.ListIds() == std::vector<std::string>{fresh});
  wal.RequireVerifies(fresh);
}

TEST_CASE("wal_archive: a missing increment is a broken chain naming it and what still restores") {
  std::mt19937_64 rng(9);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 32 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 300, rng, &written);
  DiskProvider wal = WalArchive(dir / "repo");
  std::vector<std::string> ids{wal.Backup(*store).backup_id};
  for (int i = 0; i < 5; ++i) {
    Fill(*store, "orders", 120, rng, &written);
    ids.push_back(wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id);
  }
  store.reset();
  // Increment 3 is lost (a person deleted its manifest).
  fs::remove(dir / "repo" / "backups" / (ids[3] + ".json"));

  auto r = wal.TryRestore(ids[5], dir / "restored");
  REQUIRE_FALSE(r.ok());
  const std::string message = r.status().ToString();
  CHECK_MESSAGE(Contains(message, "BKP_E_BROKEN_CHAIN"), message);
  CHECK_MESSAGE(Contains(message, "'" + ids[3] + "'"), message);
  CHECK_MESSAGE(Contains(message, "missing"), message);
  CHECK_MESSAGE(
      Contains(message, "newest backup before the break that can be restored is '" + ids[2] + "'"),
      message);
  CHECK_FALSE(fs::exists(dir / "restored"));

  const auto v = wal.Verify(ids[5]);
  CHECK(v.rc == BKP_E_CORRUPT);
  REQUIRE(v.problems.size() == 1);
  CHECK(v.problems[0].status == BKP_E_BROKEN_CHAIN);
  CHECK_MESSAGE(Contains(v.problems[0].message, ids[3]), v.problems[0].message);

  // What lies before the break still restores.
  wal.Restore(ids[2], dir / "restored-2");
}

TEST_CASE("wal_archive: the archive resumes where it ends, once per segment") {
  std::mt19937_64 rng(13);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 16 * kKiB));
  Written written;
  Fill(*store, "orders", 600, rng, &written);
  DiskProvider wal = WalArchive(dir / "repo");
  CHECK(ArchivePositions(wal).empty());
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);

  auto positions = ArchivePositions(wal);
  auto segments = store->Segments("orders", StreamRole::kEvents);
  REQUIRE(segments.ok());
  REQUIRE(segments->size() >= 3);
  const Position* events = nullptr;
  for (const auto& p : positions) {
    if (p.context == "orders" && p.role == BKP_ROLE_EVENTS) events = &p;
  }
  REQUIRE(events != nullptr);
  CHECK(events->has_closed);
  CHECK(events->closed_base == (*segments)[segments->size() - 2].base);
  CHECK(events->partial_name == segments->back().path.filename().string());
  CHECK(events->partial_size == segments->back().size);
  CHECK(events->next == written.events["orders"].size());

  // Shipping the same segments again stores nothing new.
  const auto objects_before = plugins_test::ObjectKeys(dir / "repo");
  const auto records_before = plugins_test::CountFiles(dir / "repo" / "archive");
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
  CHECK(plugins_test::ObjectKeys(dir / "repo") == objects_before);
  CHECK(plugins_test::CountFiles(dir / "repo" / "archive") == records_before);

  // The active segment grows, then closes: the piece is extended and then
  // replaced by the closed record, which reuses the piece's chunks.
  Fill(*store, "orders", 150, rng, &written);
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
  for (const auto& p : ArchivePositions(wal)) {
    if (p.context == "orders" && p.role == BKP_ROLE_EVENTS) {
      CHECK(p.next == written.events["orders"].size());
    }
  }
  size_t partials = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir / "repo" / "archive")) {
    partials += Contains(e.path().filename().string(), ".partial.json");
  }
  CHECK(partials <= 3);  // one per stream at most: closed pieces are gone
}

TEST_CASE("wal_archive: point-in-time restore to 20 random targets keeps exactly what precedes") {
  const uint64_t seed = TestSeed();
  MESSAGE("seed " << seed << " (set BKP_TEST_SEED to replay)");
  std::mt19937_64 rng(seed);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 16 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 200, rng, &written);
  Fill(*store, "billing", 80, rng, &written);
  wal.Backup(*store);
  // Then appends shipped as they go, another backup midway, and time
  // passing between some batches so time targets fall between appends.
  std::vector<int64_t> moments;
  for (int round = 0; round < 12; ++round) {
    Fill(*store, "orders", 40 + rng() % 60, rng, &written);
    Fill(*store, "billing", 10 + rng() % 20, rng, &written);
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    moments.push_back(NowMs());
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
    if (round == 6) wal.Backup(*store, BKP_BACKUP_INCREMENTAL);
  }
  const auto orders = ReadAll(*store, "orders");
  const auto billing = ReadAll(*store, "billing");
  store.reset();

  for (int i = 0; i < 20; ++i) {
    CAPTURE(i);
    RestoreTarget target;
    if (i % 3 == 2) {
      target.kind = RestoreTarget::Kind::kTime;
      target.time_ms = moments[rng() % moments.size()];
    } else {
      target.kind = RestoreTarget::Kind::kToken;
      target.token = rng() % orders.size();
      target.context = i % 3 == 0 ? "orders" : "";
    }
    CAPTURE(target.Describe());
    const fs::path into = dir / ("pit-" + std::to_string(i));
    auto report = wal.TryRestore("", into, RestorePolicy::kSafe, target);
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    REQUIRE(report->check.ok());
    std::string cuts;
    for (const auto& c : report->cut) {
      cuts += c.context + (c.cut ? " cut" : " kept") + " to log " +
              std::to_string(c.last_log_index) + " token " +
              std::to_string(c.last_token.value_or(0)) + "; ";
    }
    CAPTURE(cuts);
    auto restored = OpenStore(StoreOptions(into, 24 * kKiB, 16 * kKiB));
    CheckSameEvents(ReadAll(*restored, "orders"), Expected(orders, target));
    // A token target names one context (or all); time cuts every context.
    const bool billing_cut = target.kind == RestoreTarget::Kind::kTime || target.context.empty();
    CheckSameEvents(ReadAll(*restored, "billing"),
                    billing_cut ? Expected(billing, target) : billing);
  }

  // A token past everything archived is refused, saying how far it reaches.
  RestoreTarget beyond;
  beyond.kind = RestoreTarget::Kind::kToken;
  beyond.token = orders.size() + 1000;
  beyond.context = "orders";
  auto r = wal.TryRestore("", dir / "beyond", RestorePolicy::kSafe, beyond);
  REQUIRE_FALSE(r.ok());
  CHECK_MESSAGE(Contains(r.status().message(), "is beyond the backup and the archive"),
                r.status().ToString());
  CHECK_MESSAGE(Contains(r.status().message(),
                         "'orders' reaches token " + std::to_string(orders.back().token)),
                r.status().ToString());
}

TEST_CASE("wal_archive: a damaged archived segment is a broken chain naming it") {
  std::mt19937_64 rng(17);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 16 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 100, rng, &written);
  const std::string base_id = wal.Backup(*store).backup_id;
  Fill(*store, "orders", 600, rng, &written);
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
  const auto orders = ReadAll(*store, "orders");
  store.reset();

  // Flip a byte in the object of the second archived closed event segment.
  std::vector<fs::path> records;
  for (const auto& e : fs::directory_iterator(dir / "repo" / "archive" / "orders" / "events")) {
    if (!Contains(e.path().filename().string(), "partial")) records.push_back(e.path());
  }
  std::sort(records.begin(), records.end());
  REQUIRE(records.size() >= 3);
  const auto record =
      repo::DecodeArchiveRecord(testing_support::ReadFile(records[1]), records[1].string());
  REQUIRE(record.file.chunks.size() >= 1);
  const auto& chunk = record.file.chunks.back();
  testing_support::FlipByte(dir / "repo" / chunk.object, chunk.stored_size / 2);

  RestoreTarget target;
  target.kind = RestoreTarget::Kind::kToken;
  target.token = orders.back().token;
  auto r = wal.TryRestore("", dir / "restored", RestorePolicy::kSafe, target);
  REQUIRE_FALSE(r.ok());
  const std::string message = r.status().ToString();
  CHECK_MESSAGE(Contains(message, "BKP_E_BROKEN_CHAIN"), message);
  CHECK_MESSAGE(Contains(message, record.file.name), message);
  CHECK_MESSAGE(Contains(message, "restore to a point before"), message);
  CHECK_FALSE(fs::exists(dir / "restored"));

  // A target before the damaged segment still restores.
  target.token = record.file.base - 1;
  auto before = wal.TryRestore("", dir / "before", RestorePolicy::kSafe, target);
  REQUIRE_MESSAGE(before.ok(), before.status().ToString());

  // A gap in the archive (a record gone) is named with the newest point:
  // as far as the backup and the archive before the gap reach.
  const repo::Manifest base = ReadManifest(dir / "repo", base_id);
  const uint64_t reach = std::max(record.file.base, base.contexts.at(0).events.next);
  fs::remove(records[1]);
  target.token = orders.back().token;
  auto gap = wal.TryRestore("", dir / "gap", RestorePolicy::kSafe, target);
  REQUIRE_FALSE(gap.ok());
  CHECK_MESSAGE(Contains(gap.status().message(), "has a gap"), gap.status().ToString());
  CHECK_MESSAGE(
      Contains(gap.status().message(),
               "newest point that can be restored there is token " + std::to_string(reach - 1)),
      gap.status().ToString());
}

TEST_CASE("wal_archive: the next incremental stores an object verify set aside anew") {
  std::mt19937_64 rng(19);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 16 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 700, rng, &written);
  const std::string full = wal.Backup(*store).backup_id;
  const repo::Manifest m = ReadManifest(dir / "repo", full);
  const repo::FileEntry* victim = nullptr;
  for (const auto& f : m.files) {
    if (f.role == BKP_ROLE_EVENTS && f.closed && f.chunks.size() == 1) victim = &f;
  }
  REQUIRE(victim != nullptr);
  const repo::Chunk chunk = victim->chunks[0];
  testing_support::FlipByte(dir / "repo" / chunk.object, chunk.stored_size / 2);
  REQUIRE(wal.Verify(full).problems.size() == 1);
  REQUIRE_FALSE(fs::exists(dir / "repo" / chunk.object));

  Fill(*store, "orders", 50, rng, &written);
  const std::string incremental = wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id;
  // Before it planned anything, the backup stored the object again from
  // the host's unchanged closed segment: the full backup and the increment
  // that inherits from it are whole.
  REQUIRE(fs::exists(dir / "repo" / chunk.object));
  CHECK(fs::exists(dir / "repo" / "quarantine" / chunk.object));
  wal.RequireVerifies("");
  store.reset();
  wal.Restore(incremental, dir / "restored");
  CheckHolds(*OpenStore(StoreOptions(dir / "restored", 24 * kKiB, 16 * kKiB)), written);
}

TEST_CASE("wal_archive: an incremental never inherits an object set aside that cannot heal") {
  std::mt19937_64 rng(29);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 16 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 700, rng, &written);
  const std::string full = wal.Backup(*store).backup_id;
  const repo::Manifest m = ReadManifest(dir / "repo", full);
  const repo::FileEntry* victim = nullptr;
  for (const auto& f : m.files) {
    if (f.role == BKP_ROLE_EVENTS && f.closed && f.chunks.size() == 1) victim = &f;
  }
  REQUIRE(victim != nullptr);
  const repo::Chunk chunk = victim->chunks[0];
  testing_support::FlipByte(dir / "repo" / chunk.object, chunk.stored_size / 2);
  REQUIRE(wal.Verify(full).problems.size() == 1);
  // The host's copy changed too, early in the file: its last 4 KiB (all a
  // backup reads to reuse what it has) still match, but the lost object
  // can no longer be stored again from it.
  testing_support::FlipByte(dir / "data" / "contexts" / "orders" / "events" / victim->name, 100);

  Fill(*store, "orders", 50, rng, &written);
  const std::string incremental = wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id;
  CHECK_FALSE(fs::exists(dir / "repo" / chunk.object));
  // The increment stores that segment whole instead of inheriting the lost
  // object, so it verifies; its parent stays damaged.
  const repo::Manifest inc = ReadManifest(dir / "repo", incremental);
  bool whole = false;
  for (const auto& f : inc.files) {
    if (f.key() == victim->key()) whole = f.inherit == 0 && !f.chunks.empty();
  }
  CHECK(whole);
  wal.RequireVerifies(incremental);
  CHECK(wal.Verify(full).problems.size() == 1);
}

TEST_CASE("wal_archive: the archive never extends a piece whose object verify set aside") {
  std::mt19937_64 rng(31);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 64 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 20, rng, &written);
  const std::string id = wal.Backup(*store).backup_id;
  std::set<std::string> in_backup;
  for (const auto& f : ReadManifest(dir / "repo", id).files) {
    for (const auto& c : f.chunks) in_backup.insert(c.object);
  }
  // A piece of the active event segment, stored by the archive alone.
  Fill(*store, "orders", 40, rng, &written);
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
  fs::path piece_file;
  for (const auto& e : fs::directory_iterator(dir / "repo" / "archive" / "orders" / "events")) {
    if (Contains(e.path().filename().string(), "partial")) piece_file = e.path();
  }
  REQUIRE_FALSE(piece_file.empty());
  auto piece = repo::DecodeArchiveRecord(testing_support::ReadFile(piece_file), "piece");
  REQUIRE_FALSE(piece.file.chunks.empty());
  const repo::Chunk chunk = piece.file.chunks.back();
  REQUIRE(in_backup.count(chunk.object) == 0);
  testing_support::FlipByte(dir / "repo" / chunk.object, chunk.stored_size / 2);
  REQUIRE(wal.Verify("").problems.size() == 1);

  // The segment grows; the next piece must not build on the lost object.
  Fill(*store, "orders", 10, rng, &written);
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
  piece = repo::DecodeArchiveRecord(testing_support::ReadFile(piece_file), "piece");
  for (const auto& c : piece.file.chunks) CHECK(c.object != chunk.object);
  wal.RequireVerifies("");
}

namespace {

// Verify of `id` while another process holds the repository's shared lock:
// the damaged object stays where it is, recorded as pending.
void VerifyUnderAnotherLock(DiskProvider& wal, const fs::path& repo_dir, const std::string& id,
                            const std::string& object) {
  repo::Repository elsewhere(std::make_shared<repo::PosixDriver>(repo_dir));
  const auto held = elsewhere.Lock(repo::RepositoryLock::Mode::kShared, "backup");
  const auto v = wal.Verify(id);
  REQUIRE(v.problems.size() == 2);
  CHECK_MESSAGE(Contains(v.problems[0].message, "not set aside yet"), v.problems[0].message);
  REQUIRE(fs::exists(repo_dir / object));
  const fs::path record = repo_dir / "quarantine" / (object + ".json");
  CHECK(fs::exists(record));
  if (fs::exists(record)) {
    CHECK(nlohmann::json::parse(testing_support::ReadFile(record)).value("pending", false));
  }
}

}  // namespace

TEST_CASE("wal_archive: an incremental stores anew an object verify recorded damaged in place") {
  std::mt19937_64 rng(53);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 16 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 700, rng, &written);
  const std::string full = wal.Backup(*store).backup_id;
  const repo::FileEntry* victim = nullptr;
  const repo::Manifest m = ReadManifest(dir / "repo", full);
  for (const auto& f : m.files) {
    if (f.role == BKP_ROLE_EVENTS && f.closed && f.chunks.size() == 1) victim = &f;
  }
  REQUIRE(victim != nullptr);
  const repo::Chunk chunk = victim->chunks[0];
  testing_support::FlipByte(dir / "repo" / chunk.object, chunk.stored_size / 2);
  const std::string damaged = testing_support::ReadFile(dir / "repo" / chunk.object);
  VerifyUnderAnotherLock(wal, dir / "repo", full, chunk.object);

  // The increment would inherit the segment; the host still has its bytes,
  // so they are written over the damaged object and the record dropped.
  Fill(*store, "orders", 50, rng, &written);
  wal.Backup(*store, BKP_BACKUP_INCREMENTAL);
  CHECK(testing_support::ReadFile(dir / "repo" / chunk.object) != damaged);
  CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / (chunk.object + ".json")));
  wal.RequireVerifies("");
}

TEST_CASE("wal_archive: the archive never extends a piece whose object verify recorded damaged") {
  std::mt19937_64 rng(59);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 64 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 20, rng, &written);
  const std::string id = wal.Backup(*store).backup_id;
  std::set<std::string> in_backup;
  for (const auto& f : ReadManifest(dir / "repo", id).files) {
    for (const auto& c : f.chunks) in_backup.insert(c.object);
  }
  Fill(*store, "orders", 40, rng, &written);
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
  fs::path piece_file;
  for (const auto& e : fs::directory_iterator(dir / "repo" / "archive" / "orders" / "events")) {
    if (Contains(e.path().filename().string(), "partial")) piece_file = e.path();
  }
  REQUIRE_FALSE(piece_file.empty());
  auto piece = repo::DecodeArchiveRecord(testing_support::ReadFile(piece_file), "piece");
  REQUIRE_FALSE(piece.file.chunks.empty());
  const repo::Chunk chunk = piece.file.chunks.back();
  REQUIRE(in_backup.count(chunk.object) == 0);
  testing_support::FlipByte(dir / "repo" / chunk.object, chunk.stored_size / 2);
  VerifyUnderAnotherLock(wal, dir / "repo", "", chunk.object);

  // The segment grows; the next piece stores it whole rather than extend
  // the one that names the damaged object.
  Fill(*store, "orders", 10, rng, &written);
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
  piece = repo::DecodeArchiveRecord(testing_support::ReadFile(piece_file), "piece");
  for (const auto& c : piece.file.chunks) CHECK(c.object != chunk.object);
  wal.RequireVerifies("");
}

TEST_CASE("wal_archive: verify of every backup covers the archive and sets damage aside") {
  std::mt19937_64 rng(23);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 16 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 100, rng, &written);
  const std::string id = wal.Backup(*store).backup_id;
  Fill(*store, "orders", 600, rng, &written);
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/false);
  wal.RequireVerifies("");

  // An object only the archive references.
  std::set<std::string> in_backup;
  for (const auto& f : ReadManifest(dir / "repo", id).files) {
    for (const auto& c : f.chunks) in_backup.insert(c.object);
  }
  std::string record_key;
  repo::Chunk chunk;
  for (const auto& e :
       fs::recursive_directory_iterator(dir / "repo" / "archive" / "orders" / "events")) {
    const auto record =
        repo::DecodeArchiveRecord(testing_support::ReadFile(e.path()), e.path().string());
    for (const auto& c : record.file.chunks) {
      if (in_backup.count(c.object) == 0 && record_key.empty()) {
        record_key = fs::relative(e.path(), dir / "repo").generic_string();
        chunk = c;
      }
    }
  }
  REQUIRE_FALSE(record_key.empty());
  testing_support::FlipByte(dir / "repo" / chunk.object, chunk.stored_size / 2);

  // The backup alone is sound; the whole repository is not.
  wal.RequireVerifies(id);
  const auto v = wal.Verify("");
  CHECK(v.rc == BKP_E_CORRUPT);
  REQUIRE(v.problems.size() == 1);
  CHECK(v.problems[0].backup_id.empty());
  CHECK(v.problems[0].file == record_key);
  CHECK_MESSAGE(Contains(v.problems[0].message, chunk.object), v.problems[0].message);
  CHECK_MESSAGE(Contains(v.problems[0].message, "set aside"), v.problems[0].message);
  CHECK(fs::exists(dir / "repo" / "quarantine" / chunk.object));
}

TEST_CASE("wal_archive: retention drops archived segments older than the oldest backup kept") {
  std::mt19937_64 rng(21);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 16 * kKiB));
  Written written;
  DiskProvider wal = WalArchive(dir / "repo");
  Fill(*store, "orders", 300, rng, &written);
  const std::string first = wal.Backup(*store).backup_id;
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/false);
  const size_t early_records = plugins_test::CountFiles(dir / "repo" / "archive");
  REQUIRE(early_records > 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  Fill(*store, "orders", 300, rng, &written);
  const std::string second = wal.Backup(*store).backup_id;
  Fill(*store, "orders", 300, rng, &written);
  ShipToArchive(*store, wal, dir / "scratch", /*pieces=*/true);
  const size_t all_records = plugins_test::CountFiles(dir / "repo" / "archive");
  REQUIRE(all_records > early_records);

  bkp_retention keep_one;
  BKP_INIT(&keep_one);
  keep_one.keep_last = 1;
  char err[1024] = "";
  REQUIRE(wal.table().expire(wal.instance(), &keep_one, nullptr, nullptr, err, sizeof err) ==
          BKP_OK);
  CHECK(wal.ListIds() == std::vector<std::string>{second});
  // The records shipped before `second` went; those after it stay, and the
  // whole repository still verifies and restores to the newest point.
  CHECK(plugins_test::CountFiles(dir / "repo" / "archive") == all_records - early_records);
  wal.RequireVerifies("");
  store.reset();
  RestoreTarget newest;
  newest.kind = RestoreTarget::Kind::kToken;
  newest.token = written.events["orders"].size() - 1;
  auto r = wal.TryRestore("", dir / "restored", RestorePolicy::kSafe, newest);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
}
