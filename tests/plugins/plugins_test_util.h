// Shared by the provider tests: seeded randomness, realistic payloads, the
// real local_disk plugin loaded through the host's ProviderRegistry from the
// real plugin directory, and thin wrappers around its table and the host's
// RunBackup/RunRestore that keep what the tests look at.
// Not thread-safe; one DiskProvider per test (the ABI allows one operation
// at a time per instance).
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "backup/backup_runner.h"
#include "config/host_config.h"
#include "plugin_host/provider_registry.h"
#include "repo/manifest.h"
#include "repo/storage_driver.h"
#include "storage/event_store.h"
#include "test_support.h"

namespace plugins_test {

namespace fs = std::filesystem;

using testing_support::Contains;

// Sizes, for the store's segment sizes and the payloads the tests write.
constexpr uint64_t kKiB = 1024;
constexpr uint64_t kMiB = 1024 * kKiB;

// `n` bytes of uniform noise from `seed`: incompressible, the same for a
// seed on every run.
inline std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (auto& c : out) c = static_cast<char>(rng());
  return out;
}

// The output of a bash `script` (with pipefail) that must succeed, for the
// stock tools the tests check stored files with (zstd, age, ...).
inline std::string Sh(const std::string& script) {
  const auto r = testing_support::RunCommand({"bash", "-c", "set -o pipefail; " + script});
  REQUIRE_MESSAGE(r.exit_code == 0, script << ": " << r.output);
  return r.output;
}

// The stored objects of a file, in order.
inline std::vector<std::string> Objects(const repo::FileEntry& f) {
  std::vector<std::string> out;
  for (const auto& c : f.chunks) out.push_back(c.object);
  return out;
}

// While alive, providers opened in this process (and the hostd processes
// it starts) collect garbage without the grace period that otherwise keeps
// every object younger than an hour (BKP_TEST_GC_GRACE_MS): for tests that
// check what a delete or retention removes.
class NoGcGrace {
 public:
  NoGcGrace() { ::setenv("BKP_TEST_GC_GRACE_MS", "0", 1); }
  ~NoGcGrace() { ::unsetenv("BKP_TEST_GC_GRACE_MS"); }
  NoGcGrace(const NoGcGrace&) = delete;
  NoGcGrace& operator=(const NoGcGrace&) = delete;
};

// BKP_TEST_SEED if set (to replay a failure), else a fresh random seed.
inline uint64_t TestSeed() {
  if (const char* env = std::getenv("BKP_TEST_SEED"); env != nullptr && *env != '\0') {
    return std::strtoull(env, nullptr, 10);
  }
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// An event as an application would write it: a small JSON document with ids,
// amounts and free text, `filler` extra characters of text at the end.
inline std::string EventPayload(std::mt19937_64& rng, const std::string& tag, size_t filler) {
  static const char* const kTypes[] = {"OrderPlaced", "OrderShipped", "PaymentReceived",
                                       "CustomerMoved", "InvoiceIssued"};
  static const char* const kWords[] = {"express", "parcel", "warehouse", "north", "priority",
                                       "refund",  "euro",   "pending",   "blue",  "retry"};
  std::string s = "{\"type\":\"" + std::string(kTypes[rng() % 5]) + "\",\"tag\":\"" + tag +
                  "\",\"aggregate\":\"agg-" + std::to_string(rng() % 5000) +
                  "\",\"amount\":" + std::to_string(rng() % 100000) + "." +
                  std::to_string(rng() % 100) + ",\"note\":\"";
  while (filler > 0) {
    std::string w = kWords[rng() % 10];
    if (rng() % 4 == 0) w += std::to_string(rng() % 1000);
    w += ' ';
    if (w.size() > filler) w.resize(filler);
    s += w;
    filler -= w.size();
  }
  return s + "\"}";
}

// `n` bytes of event-like text with some binary noise: compressible, but not
// trivially.
inline std::string RealisticBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out;
  out.reserve(n + 512);
  uint64_t seq = 0;
  while (out.size() < n) {
    out += EventPayload(rng, "s" + std::to_string(seq++), rng() % 200);
    out += '\n';
    if (rng() % 8 == 0) {
      for (int i = 0; i < 16; ++i) out += static_cast<char>(rng() & 0xff);
    }
  }
  out.resize(n);
  return out;
}

inline hoststub::StorageOptions StoreOptions(const fs::path& dir, uint64_t event_segment_bytes,
                                             uint64_t log_segment_bytes) {
  hoststub::StorageOptions o;
  o.data_dir = dir;
  o.fsync = hoststub::FsyncPolicy::kNever;
  o.compaction_interval = std::chrono::milliseconds(0);
  o.event_segment_bytes = event_segment_bytes;
  o.log_segment_bytes = log_segment_bytes;
  return o;
}

inline std::unique_ptr<hoststub::EventStore> OpenStore(const hoststub::StorageOptions& o) {
  auto store = hoststub::EventStore::Open(o);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(*store);
}

// Every event of a context's stream, in token order.
inline std::vector<hoststub::StoredEvent> ReadAll(
    const hoststub::EventStore& store, const std::string& ctx,
    hoststub::StreamRole stream = hoststub::StreamRole::kEvents) {
  std::vector<hoststub::StoredEvent> out;
  uint64_t from = 0;
  while (true) {
    auto batch = store.Read(ctx, from, 4096, stream);
    REQUIRE_MESSAGE(batch.ok(), batch.status().ToString());
    if (batch->empty()) break;
    from = batch->back().token + 1;
    for (auto& e : *batch) out.push_back(std::move(e));
  }
  return out;
}

struct BackupInfo {
  uint32_t type = 0;
  std::string id;
  bool has_parent = false;
  int64_t created_ms = 0;
  uint64_t bytes = 0;
  uint64_t stored_bytes = 0;
  uint64_t files = 0;
  std::string details;
};

struct VerifyProblem {
  bkp_status status = BKP_OK;
  std::string backup_id;
  std::string file;
  std::string message;
};

struct VerifyOutcome {
  bkp_status rc = BKP_OK;
  std::string error;
  std::vector<VerifyProblem> problems;
};

// The host config for one provider named "disk" of `plugin` with `settings`
// (the TOML lines of its [providers.settings]), loaded from the real plugin
// directory. No doctest here: a forked child uses it.
inline hoststub::Result<hoststub::ProviderRegistry> LoadRegistry(const std::string& plugin,
                                                                 const std::string& settings) {
  const fs::path plugin_dir = BKP_PLUGIN_DIR;
  const std::string toml = "plugin_dir = '" + plugin_dir.string() +
                           "'\n[[providers]]\nname = 'disk'\nplugin = '" + plugin +
                           "'\n[providers.settings]\n" + settings;
  auto config = hoststub::ParseHostConfig(toml, "plugins_test.toml");
  if (!config.ok()) return config.status();
  return hoststub::ProviderRegistry::Load(*config,
                                          [](std::string_view, int32_t, std::string_view) {});
}

// As LoadRegistry, for local_disk or wal_archive with their repository at
// `repo`.
inline hoststub::Result<hoststub::ProviderRegistry> LoadDiskRegistry(
    const fs::path& repo, const std::string& extra_settings,
    const std::string& plugin = "local_disk") {
  return LoadRegistry(plugin, "path = '" + repo.string() + "'\n" + extra_settings);
}

// The message of a provider of `plugin` that must fail to open with
// `settings` (as for LoadRegistry).
inline std::string OpenFailure(const std::string& plugin, const std::string& settings) {
  auto loaded = LoadRegistry(plugin, settings);
  REQUIRE_FALSE(loaded.ok());
  return loaded.status().message();
}

inline hoststub::ProviderRef RefOf(const hoststub::LoadedProvider& p) {
  return {p.name(), p.table(), p.instance()};
}

// A real provider, loaded by the host's registry from the real plugin
// directory, configured with `settings` (TOML lines).
class Provider {
 public:
  Provider(const std::string& plugin, const std::string& settings) {
    const fs::path plugin_dir = BKP_PLUGIN_DIR;
    const fs::path file = plugin_dir / ("bkp_" + plugin + ".so");
    REQUIRE_MESSAGE(fs::exists(file), "missing " << file);
    auto loaded = LoadRegistry(plugin, settings);
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
    registry_ = std::move(*loaded);
    provider_ = registry_.Find("disk").get();
    REQUIRE(provider_ != nullptr);
    REQUIRE(provider_->plugin_path() == file);
  }
  virtual ~Provider() = default;

  hoststub::ProviderRef Ref() const { return RefOf(*provider_); }
  const bkp_provider& table() const { return provider_->table(); }
  bkp_instance* instance() const { return provider_->instance(); }

  hoststub::Result<hoststub::BackupOutcome> TryBackup(hoststub::EventStore& store,
                                                      bkp_operation& op,
                                                      uint32_t type = BKP_BACKUP_FULL) {
    return hoststub::RunBackup(store, Ref(), type, op);
  }
  hoststub::BackupOutcome Backup(hoststub::EventStore& store, uint32_t type = BKP_BACKUP_FULL) {
    bkp_operation op;
    auto outcome = TryBackup(store, op, type);
    REQUIRE_MESSAGE(outcome.ok(), outcome.status().ToString());
    return *outcome;
  }

  // An empty `id` with a point in time lets the provider pick the backup.
  hoststub::Result<hoststub::RestoreReport> TryRestore(
      const std::string& id, const fs::path& target,
      hoststub::RestorePolicy policy = hoststub::RestorePolicy::kSafe,
      const hoststub::RestoreTarget& point_in_time = {}) {
    bkp_operation op;
    return hoststub::RunRestore(Ref(), id, target, policy,
                                StoreOptions(target, 64ull << 20, 16ull << 20), op, point_in_time);
  }
  hoststub::RestoreReport Restore(const std::string& id, const fs::path& target) {
    auto report = TryRestore(id, target);
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    REQUIRE_MESSAGE(report->check.ok(), "restored data fails the check");
    return *report;
  }

  std::vector<BackupInfo> List() {
    std::vector<BackupInfo> out;
    char err[1024] = "";
    const bkp_status rc = table().list(
        instance(),
        [](void* user, const bkp_backup_info* info) -> bkp_status {
          BackupInfo b;
          b.type = info->type;
          b.id = info->id;
          b.has_parent = info->parent_id != nullptr;
          b.created_ms = info->created_ms;
          b.bytes = info->bytes;
          b.stored_bytes = info->stored_bytes;
          b.files = info->files;
          b.details = info->details != nullptr ? info->details : "";
          static_cast<std::vector<BackupInfo>*>(user)->push_back(std::move(b));
          return BKP_OK;
        },
        &out, err, sizeof err);
    REQUIRE_MESSAGE(rc == BKP_OK, err);
    return out;
  }

  std::vector<std::string> ListIds() {
    std::vector<std::string> ids;
    for (const auto& b : List()) ids.push_back(b.id);
    return ids;
  }

  // The provider's verify of one backup (all when `id` is empty).
  VerifyOutcome Verify(const std::string& id) {
    VerifyOutcome out;
    bkp_operation op;
    char err[1024] = "";
    out.rc = table().verify(
        instance(), id.empty() ? nullptr : id.c_str(), &op,
        [](void* user, const bkp_verify_problem* p) -> bkp_status {
          static_cast<std::vector<VerifyProblem>*>(user)->push_back(
              {p->status, p->backup_id ? p->backup_id : "", p->file ? p->file : "",
               p->message ? p->message : ""});
          return BKP_OK;
        },
        &out.problems, err, sizeof err);
    out.error = err;
    return out;
  }

  void RequireVerifies(const std::string& id) {
    VerifyOutcome v = Verify(id);
    std::string problems;
    for (const auto& p : v.problems) problems += "\n  " + p.file + ": " + p.message;
    REQUIRE_MESSAGE(v.rc == BKP_OK, "verify of '" << id << "': " << v.error << problems);
    REQUIRE(v.problems.empty());
  }

 private:
  hoststub::ProviderRegistry registry_;
  hoststub::LoadedProvider* provider_ = nullptr;
};

// A provider of a directory repository (local_disk by default, or
// wal_archive) with its repository at `repo`.
class DiskProvider : public Provider {
 public:
  explicit DiskProvider(const fs::path& repo, const std::string& extra_settings = "workers = 2\n",
                        const std::string& plugin = "local_disk")
      : Provider(plugin, "path = '" + repo.string() + "'\n" + extra_settings) {}
};

// What a test wrote, per context and stream, in token order.
struct Written {
  std::map<std::string, std::vector<std::string>> events;
  std::map<std::string, std::vector<std::string>> snapshots;
};

// Appends `count` events to `ctx` in batches of 1..max_batch, recording them.
inline void Fill(hoststub::EventStore& store, const std::string& ctx, size_t count,
                 std::mt19937_64& rng, Written* written, size_t max_batch = 6,
                 size_t max_filler = 300,
                 hoststub::StreamRole stream = hoststub::StreamRole::kEvents) {
  auto& log =
      stream == hoststub::StreamRole::kEvents ? written->events[ctx] : written->snapshots[ctx];
  size_t done = 0;
  while (done < count) {
    const size_t n = std::min<size_t>(1 + rng() % max_batch, count - done);
    std::vector<std::string> batch;
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(
          EventPayload(rng, ctx + "-" + std::to_string(log.size() + i), 20 + rng() % max_filler));
    }
    auto r = store.Append(ctx, batch, stream);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    REQUIRE(r->first_token == log.size());
    log.insert(log.end(), batch.begin(), batch.end());
    done += n;
  }
}

// Every event of every stream in `restored` equals what was written, and
// each stream holds exactly `expected` (all of it when not given).
inline void CheckHolds(const hoststub::EventStore& restored, const Written& written) {
  for (const auto& [ctx, payloads] : written.events) {
    CAPTURE(ctx);
    const auto events = ReadAll(restored, ctx);
    REQUIRE(events.size() == payloads.size());
    for (size_t i = 0; i < events.size(); ++i) {
      CHECK(events[i].token == i);
      if (events[i].payload != payloads[i]) {
        FAIL_CHECK("event " << i << " of '" << ctx << "' differs");
        break;
      }
    }
  }
  for (const auto& [ctx, payloads] : written.snapshots) {
    CAPTURE(ctx);
    const auto snaps = ReadAll(restored, ctx, hoststub::StreamRole::kSnapshots);
    REQUIRE(snaps.size() == payloads.size());
    for (size_t i = 0; i < snaps.size(); ++i) CHECK(snaps[i].payload == payloads[i]);
  }
}

// The label verify and restore use for a manifest file.
inline std::string Label(const repo::FileEntry& f) {
  return f.role == BKP_ROLE_CONTROL_DB ? f.name
                                       : f.context + "/" + repo::RoleName(f.role) + "/" + f.name;
}

// The manifest of backup `id` as stored in the repository directory.
inline repo::Manifest ReadManifest(const fs::path& repo_dir, const std::string& id) {
  const fs::path file = repo_dir / "backups" / (id + ".json");
  REQUIRE_MESSAGE(fs::exists(file), "no manifest " << file);
  return repo::DecodeManifest(testing_support::ReadFile(file), file.string());
}

// The manifest of backup `id`, read from the repository's storage.
inline repo::Manifest ReadManifest(repo::StorageDriver& storage, const std::string& id) {
  const std::string key = repo::ManifestKey(id);
  REQUIRE_MESSAGE(storage.Stat(key), "no manifest " << key << " in " << storage.Describe());
  return repo::DecodeManifest(storage.GetSmall(key), key);
}

// Keys of the stored objects (objects/xx/....lz4) in a repository's storage.
inline std::set<std::string> ObjectKeys(repo::StorageDriver& storage) {
  std::set<std::string> out;
  for (const auto& o : storage.List("objects/")) out.insert(o.key);
  return out;
}

// Keys of the stored objects (objects/xx/....lz4) in a repository directory.
inline std::set<std::string> ObjectKeys(const fs::path& repo_dir) {
  std::set<std::string> out;
  if (!fs::exists(repo_dir / "objects")) return out;
  for (const auto& e : fs::recursive_directory_iterator(repo_dir / "objects")) {
    if (e.is_regular_file()) out.insert(e.path().lexically_relative(repo_dir).generic_string());
  }
  return out;
}

// Regular files directly or indirectly under `dir` (0 when it is absent).
inline size_t CountFiles(const fs::path& dir) {
  size_t n = 0;
  if (!fs::exists(dir)) return 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file() ? 1 : 0;
  return n;
}

}  // namespace plugins_test
