// The shared provider scenarios (see provider_scenarios.h).
#include "plugins/provider_scenarios.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backup/backup_runner.h"
#include "repo/repository.h"
#include "repo/utc_time.h"
#include "test_support.h"

namespace plugins_test {
namespace {

namespace fs = std::filesystem;
using hoststub::EventStore;
using hoststub::StreamRole;
using testing_support::TempDir;

size_t Count(const std::vector<repo::FileEntry>& files, uint32_t role, const std::string& ctx,
             bool closed) {
  size_t n = 0;
  for (const auto& f : files) n += f.role == role && f.context == ctx && f.closed == closed;
  return n;
}

}  // namespace

void CheckTableOffers(const Provider& provider, bool incremental, bool archive) {
  const bkp_provider& t = provider.table();
  CHECK(t.struct_size == sizeof(bkp_provider));
  CHECK(t.abi_version == BKP_ABI_VERSION);
  const uint64_t engine = BKP_CAP_BACKUP | BKP_CAP_RESTORE | BKP_CAP_LIST | BKP_CAP_VERIFY |
                          BKP_CAP_REMOVE | BKP_CAP_EXPIRE | BKP_CAP_POINT_IN_TIME;
  CHECK((t.capabilities & engine) == engine);
  CHECK((t.backup && t.restore && t.list && t.verify && t.remove && t.expire && t.close));
  CHECK(((t.capabilities & BKP_CAP_INCREMENTAL) != 0) == incremental);
  CHECK(((t.capabilities & BKP_CAP_ARCHIVE) != 0) == archive);
  CHECK((t.archive != nullptr) == archive);
  CHECK((t.archive_status != nullptr) == archive);
  // Every provider takes its location plus the engine's workers and rate_limit.
  std::set<std::string> settings;
  for (uint32_t i = 0; i < t.settings_count; ++i) settings.insert(t.settings[i].key);
  CHECK(settings.count("workers") == 1);
  CHECK(settings.count("rate_limit") == 1);
}

void HotBackupUnderLoadRestoresEveryAcknowledgedEvent(const ProviderKind& kind, int rounds) {
  const uint64_t seed = TestSeed();
  MESSAGE("seed " << seed << " (set BKP_TEST_SEED to replay)");
  const std::vector<std::string> contexts = {"orders", "billing"};
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    std::mt19937_64 rng(seed + static_cast<uint64_t>(round) * 7919);
    TempDir dir;
    const auto options = StoreOptions(dir / "data", 64 * kKiB, 48 * kKiB);
    auto store = OpenStore(options);
    const auto provider = kind.open(dir.path());
    Provider& disk = *provider;

    struct Acked {
      std::string payload;
      bool before_backup = false;
    };
    using StreamKey = std::pair<std::string, StreamRole>;
    std::mutex mu;
    std::map<StreamKey, std::map<uint64_t, Acked>> acked;
    std::string failure;
    std::atomic<bool> backup_started{false};
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> appended{0};

    std::vector<std::thread> writers;
    for (int w = 0; w < 3; ++w) {
      const uint64_t wseed = rng();
      const size_t max_batch = 1 + rng() % 12;
      const unsigned pause_odds = 2 + rng() % 14;
      writers.emplace_back([&, w, wseed, max_batch, pause_odds] {
        std::mt19937_64 r(wseed);
        uint64_t seq = 0;
        while (!stop.load()) {
          const std::string& ctx = contexts[r() % contexts.size()];
          const StreamRole stream = r() % 10 == 0 ? StreamRole::kSnapshots : StreamRole::kEvents;
          std::vector<std::string> batch(1 + r() % max_batch);
          for (auto& p : batch) {
            p = EventPayload(r, "w" + std::to_string(w) + "-" + std::to_string(seq++),
                             10 + r() % 400);
          }
          auto result = store->Append(ctx, batch, stream);
          // Read after the acknowledgement: false proves the append was
          // acknowledged before the backup was started.
          const bool before = !backup_started.load();
          std::lock_guard lock(mu);
          if (!result.ok()) {
            failure = result.status().ToString();
            return;
          }
          for (size_t i = 0; i < batch.size(); ++i) {
            acked[{ctx, stream}][result->first_token + i] = {batch[i], before};
          }
          appended += batch.size();
          if (r() % pause_odds == 0) {
            std::this_thread::sleep_for(std::chrono::microseconds(r() % 300));
          } else if (r() % 2 == 0) {
            std::this_thread::yield();
          }
        }
      });
    }
    auto stop_writers = [&] {
      stop = true;
      for (auto& t : writers) t.join();
      writers.clear();
    };

    // Bounded wait until each context has closed event segments.
    const uint64_t threshold = 1500 + rng() % 2500;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    auto ready = [&] {
      if (appended.load() < threshold) return false;
      for (const auto& ctx : contexts) {
        auto segs = store->Segments(ctx, StreamRole::kEvents);
        if (!segs.ok() || segs->size() < 3) return false;
      }
      return true;
    };
    while (!ready() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!ready()) {
      stop_writers();
      FAIL("writers did not produce closed segments in time: " << failure);
    }

    backup_started = true;
    bkp_operation op;
    auto outcome = disk.TryBackup(*store, op);
    const uint64_t at_backup_end = appended.load();
    // Let the writers go on a little after the backup, then stop them.
    const auto more_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (appended.load() < at_backup_end + 200 &&
           std::chrono::steady_clock::now() < more_deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    stop_writers();
    REQUIRE_MESSAGE(failure.empty(), failure);
    REQUIRE_MESSAGE(outcome.ok(), outcome.status().ToString());
    const std::string id = outcome->backup_id;

    // The backup holds closed and active segments of every context.
    const repo::Manifest m = ReadManifest(*kind.storage(dir.path()), id);
    for (const auto& ctx : contexts) {
      CHECK(Count(m.files, BKP_ROLE_EVENTS, ctx, true) >= 2);
      CHECK(Count(m.files, BKP_ROLE_EVENTS, ctx, false) == 1);
      CHECK(Count(m.files, BKP_ROLE_LOG, ctx, false) == 1);
    }
    disk.RequireVerifies(id);
    store.reset();  // the restore does not need the source host

    const auto report = disk.Restore(id, dir / "restored");
    CHECK(report.check.ok());
    CHECK(report.files == m.files.size());

    auto restored = OpenStore(StoreOptions(dir / "restored", 64 * kKiB, 48 * kKiB));
    uint64_t required = 0;
    uint64_t present = 0;
    for (const auto& [key, tokens] : acked) {
      const auto& [ctx, stream] = key;
      CAPTURE(ctx);
      CAPTURE(static_cast<int>(stream));
      const auto events = ReadAll(*restored, ctx, stream);
      present += events.size();
      // Whatever the backup holds is exactly what was written there.
      for (size_t i = 0; i < events.size(); ++i) {
        REQUIRE(events[i].token == i);
        auto it = tokens.find(i);
        REQUIRE_MESSAGE(it != tokens.end(), "restored token " << i << " was never acknowledged");
        if (events[i].payload != it->second.payload) {
          FAIL("token " << i << " differs from what was written");
        }
      }
      // Everything acknowledged before the backup began is there.
      for (const auto& [token, a] : tokens) {
        if (!a.before_backup) continue;
        ++required;
        if (token >= events.size()) {
          FAIL("token " << token << " was acknowledged before the backup began but is missing ("
                        << events.size() << " restored)");
        }
      }
      // The restored host accepts writes, with tokens after the restored ones.
      auto next = restored->Append(ctx, std::vector<std::string>{"after-restore"}, stream);
      REQUIRE_MESSAGE(next.ok(), next.status().ToString());
      CHECK(next->first_token == events.size());
      auto back = restored->Read(ctx, events.size(), 1, stream);
      REQUIRE(back.ok());
      REQUIRE(back->size() == 1);
      CHECK((*back)[0].payload == "after-restore");
    }
    CHECK(required >= threshold);
    MESSAGE("round " << round << ": " << required << " events acknowledged before the backup, "
                     << present << " restored, " << appended.load() << " written");
  }
}

void RetentionKeepsTheNewestTwoWhole(const ProviderKind& kind) {
  const NoGcGrace no_grace;  // what only the removed backups used goes at once
  std::mt19937_64 rng(61);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 24 * kKiB));
  const auto provider = kind.open(dir.path());
  Provider& disk = *provider;
  const auto storage = kind.storage(dir.path());
  Written written;
  Fill(*store, "billing", 300, rng, &written);
  std::vector<std::string> ids;
  std::vector<repo::Manifest> manifests;
  std::vector<Written> states;
  for (int i = 0; i < 5; ++i) {
    Fill(*store, "orders", 400, rng, &written);
    if (i % 2 == 1) Fill(*store, "billing", 100, rng, &written);
    // A context of its own gives each backup a control DB of its own: data
    // only the removed backups hold.
    Fill(*store, "tenant-" + std::to_string(i), 3, rng, &written);
    ids.push_back(disk.Backup(*store).backup_id);
    manifests.push_back(ReadManifest(*storage, ids.back()));
    states.push_back(written);
  }
  REQUIRE(disk.ListIds() == ids);

  bkp_retention retention;
  BKP_INIT(&retention);
  retention.keep_last = 2;
  std::vector<std::string> removed;
  char err[1024] = "";
  const bkp_status rc = disk.table().expire(
      disk.instance(), &retention,
      [](void* user, const bkp_backup_info* info) -> bkp_status {
        static_cast<std::vector<std::string>*>(user)->push_back(info->id);
        return BKP_OK;
      },
      &removed, err, sizeof err);
  REQUIRE_MESSAGE(rc == BKP_OK, err);
  CHECK(removed == std::vector<std::string>{ids[0], ids[1], ids[2]});
  CHECK(disk.ListIds() == std::vector<std::string>{ids[3], ids[4]});
  for (int i = 0; i < 3; ++i) CHECK_FALSE(storage->Stat(repo::ManifestKey(ids[i])));

  std::set<std::string> kept;
  for (int i = 3; i < 5; ++i) {
    for (const auto& f : manifests[i].files) {
      for (const auto& o : Objects(f)) kept.insert(o);
    }
  }
  std::set<std::string> only_removed;
  std::set<std::string> shared;
  for (int i = 0; i < 3; ++i) {
    for (const auto& f : manifests[i].files) {
      for (const auto& o : Objects(f)) (kept.count(o) ? shared : only_removed).insert(o);
    }
  }
  CHECK_FALSE(only_removed.empty());
  CHECK_FALSE(shared.empty());
  // objects/ holds exactly what the remaining backups reference.
  CHECK(ObjectKeys(*storage) == kept);

  store.reset();
  for (int i = 3; i < 5; ++i) {
    CAPTURE(i);
    disk.RequireVerifies(ids[i]);
    const fs::path target = dir / ("restored-" + std::to_string(i));
    disk.Restore(ids[i], target);
    CheckHolds(*OpenStore(StoreOptions(target, 24 * kKiB, 24 * kKiB)), states[i]);
  }
}

void IncrementalChainRestoresVerifiesAndDeletesInOrder(const ProviderKind& kind) {
  const NoGcGrace no_grace;  // the removed increment's objects go at once
  std::mt19937_64 rng(83);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 32 * kKiB));
  const auto opened = kind.open(dir.path());
  Provider& provider = *opened;
  const auto driver = kind.storage(dir.path());
  repo::StorageDriver& storage = *driver;

  Written written;
  std::vector<Written> states;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    Fill(*store, "orders", 500, rng, &written);
    Fill(*store, i == 1 ? "billing" : "orders", 120, rng, &written);
    REQUIRE(store->Sync().ok());
    ids.push_back(
        provider.Backup(*store, i == 0 ? BKP_BACKUP_FULL : BKP_BACKUP_INCREMENTAL).backup_id);
    states.push_back(written);
  }
  const auto listed = provider.List();
  REQUIRE(listed.size() == 3);
  CHECK(listed[0].type == BKP_BACKUP_FULL);
  CHECK_FALSE(listed[0].has_parent);
  for (int i = 1; i < 3; ++i) {
    CHECK(listed[i].type == BKP_BACKUP_INCREMENTAL);
    CHECK(ReadManifest(storage, ids[i]).parent == ids[i - 1]);
  }
  // An increment stores only what is new: less than the full backup.
  CHECK(listed[2].bytes < listed[0].bytes);
  store.reset();

  provider.RequireVerifies("");  // every backup
  for (int i : {2, 0}) {
    CAPTURE(i);
    const fs::path target = dir / ("restored-" + std::to_string(i));
    provider.Restore(ids[i], target);
    CheckHolds(*OpenStore(StoreOptions(target, 64 * kKiB, 32 * kKiB)), states[i]);
  }

  // A parent stays while an increment needs it; the chain's tip can go.
  char err[1024] = "";
  CHECK(provider.table().remove(provider.instance(), ids[1].c_str(), err, sizeof err) ==
        BKP_E_REFUSED_BY_POLICY);
  CHECK(Contains(err, ids[2]));
  REQUIRE_MESSAGE(
      provider.table().remove(provider.instance(), ids[2].c_str(), err, sizeof err) == BKP_OK, err);
  CHECK(provider.ListIds() == std::vector<std::string>{ids[0], ids[1]});
  CHECK_FALSE(storage.Stat(repo::ManifestKey(ids[2])));
  // What only the removed increment referenced is gone from the storage.
  std::set<std::string> referenced;
  for (int i = 0; i < 2; ++i) {
    for (const auto& f : ReadManifest(storage, ids[i]).files) {
      for (const auto& o : Objects(f)) referenced.insert(o);
    }
  }
  CHECK(ObjectKeys(storage) == referenced);
  provider.RequireVerifies(ids[1]);
}

void ListReportsFilesBytesAndDetails(const ProviderKind& kind) {
  std::mt19937_64 rng(71);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 32 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 900, rng, &written, 5);
  Fill(*store, "billing", 250, rng, &written, 5);
  Fill(*store, "orders", 12, rng, &written, 1, 300, StreamRole::kSnapshots);
  REQUIRE(store->Sync().ok());
  const auto provider = kind.open(dir.path());
  Provider& disk = *provider;

  const int64_t t0 = repo::NowMs();
  const auto outcome = disk.Backup(*store);
  const int64_t t1 = repo::NowMs();
  const auto infos = disk.List();
  REQUIRE(infos.size() == 1);
  const BackupInfo& info = infos[0];
  CHECK(info.id == outcome.backup_id);
  CHECK(info.type == BKP_BACKUP_FULL);
  CHECK_FALSE(info.has_parent);
  CHECK(info.created_ms >= t0);
  CHECK(info.created_ms <= t1);
  CHECK(info.files == outcome.files_listed);
  CHECK(info.bytes == outcome.bytes_listed);
  const repo::Manifest m = ReadManifest(*kind.storage(dir.path()), info.id);
  std::map<std::string, uint64_t> unique_objects;
  for (const auto& f : m.files) {
    for (const auto& c : f.chunks) unique_objects[c.object] = c.stored_size;
  }
  uint64_t stored = 0;
  for (const auto& [object, size] : unique_objects) stored += size;
  CHECK(info.stored_bytes == stored);

  // One file per segment of the host, and the control DB.
  uint64_t segments = 0;
  for (const std::string ctx : {"orders", "billing"}) {
    for (auto role : {StreamRole::kLog, StreamRole::kEvents, StreamRole::kSnapshots}) {
      auto segs = store->Segments(ctx, role);
      REQUIRE(segs.ok());
      segments += segs->size();
    }
  }
  CHECK(info.files == segments + 1);

  const auto details = nlohmann::json::parse(info.details);
  REQUIRE(details.at("contexts").size() == 2);
  for (const auto& c : details.at("contexts")) {
    const std::string ctx = c.at("name");
    CAPTURE(ctx);
    auto state = store->State(ctx);
    REQUIRE(state.ok());
    CHECK(c.at("commit_index") == state->commit_index);
    CHECK(c.at("commit_index") == state->last_log_index);
    CHECK(c.at("term") == state->term);
    CHECK(c.at("log").at("first") == 1);
    CHECK(c.at("log").at("next") == state->last_log_index + 1);
    CHECK(c.at("events").at("first") == 0);
    CHECK(c.at("events").at("next") == written.events[ctx].size());
    CHECK(c.at("snapshots").at("first") == 0);
    CHECK(c.at("snapshots").at("next") == written.snapshots[ctx].size());
  }
  CHECK(details.at("contexts")[0].at("name") == "billing");
  CHECK(details.at("contexts")[1].at("name") == "orders");

  // A second backup is listed after the first, oldest first.
  Fill(*store, "billing", 10, rng, &written);
  REQUIRE(store->Sync().ok());
  const auto second = disk.Backup(*store);
  const auto both = disk.List();
  REQUIRE(both.size() == 2);
  CHECK(both[0].id == outcome.backup_id);
  CHECK(both[1].id == second.backup_id);
  const auto d2 = nlohmann::json::parse(both[1].details);
  CHECK(d2.at("contexts")[0].at("events").at("next") == written.events["billing"].size());
  // Everything shared with the first is not "its own" any more.
  CHECK(both[1].stored_bytes < stored);
}

}  // namespace plugins_test
