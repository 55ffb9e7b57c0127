// The local_disk provider end to end: the real plugin loaded by the host's
// registry from the real plugin directory, a real EventStore on a scratch
// directory, the host's RunBackup/RunRestore, and the repository on disk.
// Covers hot backups under concurrent appends, reuse of unchanged segments,
// a restore by hand with the stock lz4/xxhsum tools, damage, cancellation,
// SIGKILL in the middle of backups, restore policies, retention and list.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backup/backup_runner.h"
#include "plugins/plugins_test_util.h"
#include "plugins/provider_scenarios.h"
#include "repo/manifest.h"
#include "repo/posix/posix_driver.h"
#include "repo/repository.h"
#include "test_support.h"

namespace fs = std::filesystem;
using hoststub::EventStore;
using hoststub::RestorePolicy;
using hoststub::Status;
using hoststub::StreamRole;
using plugins_test::BackupInfo;
using plugins_test::CheckHolds;
using plugins_test::Contains;
using plugins_test::DiskProvider;
using plugins_test::EventPayload;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::Label;
using plugins_test::OpenStore;
using plugins_test::ReadAll;
using plugins_test::ReadManifest;
using plugins_test::StoreOptions;
using plugins_test::TestSeed;
using plugins_test::VerifyOutcome;
using plugins_test::Written;
using testing_support::ReadFile;
using testing_support::RunCommand;
using testing_support::TempDir;
using testing_support::WriteFile;

namespace {

// Entries of `dir` (names only), to prove a failed restore left no trace.
std::set<std::string> Entries(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

// local_disk on a repository directory of the scratch directory.
const plugins_test::ProviderKind kLocalDisk = {
    [](const fs::path& scratch) { return std::make_unique<DiskProvider>(scratch / "repo"); },
    [](const fs::path& scratch) { return std::make_shared<repo::PosixDriver>(scratch / "repo"); },
};

}  // namespace

TEST_CASE("local_disk: a hot backup during concurrent appends restores every acknowledged event") {
  plugins_test::HotBackupUnderLoadRestoresEveryAcknowledgedEvent(kLocalDisk, 4);
}

TEST_CASE("local_disk: its table offers full backups only, and no archive") {
  TempDir dir;
  plugins_test::CheckTableOffers(DiskProvider(dir / "repo"), /*incremental=*/false,
                                 /*archive=*/false);
}

TEST_CASE("local_disk: a second backup of an unchanged host reads only what may have changed") {
  std::mt19937_64 rng(11);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 32 * kKiB, 32 * kKiB));
  Written written;
  Fill(*store, "orders", 3000, rng, &written);
  Fill(*store, "billing", 1500, rng, &written);
  Fill(*store, "billing", 40, rng, &written, 2, 300, StreamRole::kSnapshots);
  REQUIRE(store->Sync().ok());
  DiskProvider disk(dir / "repo");

  const auto first = disk.Backup(*store);
  const repo::Manifest m1 = ReadManifest(dir / "repo", first.backup_id);
  CHECK(first.bytes_read == m1.TotalBytes());

  const auto second = disk.Backup(*store);
  const repo::Manifest m2 = ReadManifest(dir / "repo", second.backup_id);
  uint64_t may_change = 0;
  uint64_t may_change_stored = 0;
  for (const auto& f : m2.files) {
    if (f.role == BKP_ROLE_CONTROL_DB || !f.closed) {
      may_change += f.size;
      may_change_stored += f.StoredBytes();
    }
  }
  CAPTURE(first.bytes_read);
  CAPTURE(second.bytes_read);
  CAPTURE(second.bytes_stored);
  CHECK(second.bytes_read <= may_change);
  CHECK(second.bytes_read * 5 < first.bytes_read);  // most of the data is closed
  CHECK(second.bytes_stored <= may_change_stored);
  CHECK(second.bytes_stored * 10 < first.bytes_stored);
  // The closed segments are the very same objects.
  std::map<std::string, std::vector<std::string>> objects_of;
  for (const auto& f : m1.files) objects_of[Label(f)] = plugins_test::Objects(f);
  for (const auto& f : m2.files) {
    if (f.closed && f.role != BKP_ROLE_CONTROL_DB)
      CHECK(objects_of[Label(f)] == plugins_test::Objects(f));
  }

  // After more events in one context, only what was appended since (and the
  // control DB) is read: the earlier bytes of the segments that grew are
  // reused unread, just as the closed segments are.
  Fill(*store, "orders", 400, rng, &written);
  const auto third = disk.Backup(*store);
  const repo::Manifest m3 = ReadManifest(dir / "repo", third.backup_id);
  std::set<std::string> closed_before;
  for (const auto& f : m2.files) {
    if (f.closed) closed_before.insert(Label(f) + "#" + std::to_string(f.size));
  }
  std::map<std::string, uint64_t> held_before;
  for (const auto& f : m2.files) {
    if (f.role != BKP_ROLE_CONTROL_DB) held_before[Label(f)] = f.size;
  }
  uint64_t expected = 0;
  size_t newly_closed = 0;
  for (const auto& f : m3.files) {
    const bool reused = f.closed && closed_before.count(Label(f) + "#" + std::to_string(f.size));
    expected += f.size - held_before[Label(f)];
    if (f.closed && f.role != BKP_ROLE_CONTROL_DB && !reused) {
      ++newly_closed;
      CHECK(f.context == "orders");
    }
  }
  CHECK(newly_closed >= 2);
  CHECK(third.bytes_read == expected);
  CHECK(third.bytes_read < first.bytes_read / 2);

  // And the newest backup still restores everything.
  store.reset();
  disk.Restore(third.backup_id, dir / "restored");
  CheckHolds(*OpenStore(StoreOptions(dir / "restored", 32 * kKiB, 32 * kKiB)), written);
}

TEST_CASE("local_disk: a backup restores by hand with stock lz4 and xxhsum") {
  std::mt19937_64 rng(23);
  TempDir dir;
  Written written;
  DiskProvider disk(dir / "repo");
  std::string id;
  {
    auto store = OpenStore(StoreOptions(dir / "data", 48 * kKiB, 24 * kKiB));
    Fill(*store, "orders", 1500, rng, &written);
    Fill(*store, "billing", 600, rng, &written);
    Fill(*store, "orders", 30, rng, &written, 3, 2000, StreamRole::kSnapshots);
    REQUIRE(store->Sync().ok());
    disk.Backup(*store);
    // The second backup holds the grown active segments as two chunks each.
    Fill(*store, "orders", 200, rng, &written);
    REQUIRE(store->Sync().ok());
    id = disk.Backup(*store).backup_id;
  }

  // Only the manifest JSON and the stock tools from here on: each file is
  // its chunks, decoded, checked and concatenated in order.
  const fs::path repo_dir = dir / "repo";
  const auto doc = nlohmann::json::parse(ReadFile(repo_dir / "backups" / (id + ".json")));
  // The host speaks the newest ABI, so the version in force is the plugin's.
  CHECK(doc.at("abi_version") == repo::AbiVersionText(BKP_ABI_VERSION));
  const fs::path data = dir / "by-hand";
  std::map<std::string, int> files_per_role;
  size_t multi_chunk_files = 0;
  for (const auto& f : doc.at("files")) {
    const std::string role = f.at("role");
    const std::string name = f.at("name");
    CAPTURE(name);
    fs::path out = data / "control.db";
    if (role != "control_db") {
      const std::string ctx = f.at("context");
      const std::string dir_name = role == "log"      ? "log"
                                   : role == "events" ? "events"
                                                      : "snapshots";
      REQUIRE((role == "log" || role == "events" || role == "snapshots"));
      out = data / "contexts" / ctx / dir_name / name;
    }
    ++files_per_role[role];
    fs::create_directories(out.parent_path());
    WriteFile(out, "");
    const fs::path piece = dir / "piece";
    if (f.at("chunks").size() > 1) ++multi_chunk_files;
    for (const auto& c : f.at("chunks")) {
      const fs::path object = repo_dir / c.at("object").get<std::string>();
      auto lz4 = RunCommand(
          {"sh", "-c", "lz4 -dc \"$1\" > \"$2\"", "sh", object.string(), piece.string()});
      REQUIRE_MESSAGE(lz4.exit_code == 0, lz4.output);
      CHECK(fs::file_size(piece) == c.at("size").get<uint64_t>());
      auto sum = RunCommand({"xxhsum", "-H3", piece.string()});
      REQUIRE_MESSAGE(sum.exit_code == 0, sum.output);
      // "XXH3 (file) = <hex>" (BSD style) or "<hex>  file" (GNU style).
      const size_t eq = sum.output.rfind(" = ");
      const std::string hex =
          eq != std::string::npos ? sum.output.substr(eq + 3, 16) : sum.output.substr(0, 16);
      CHECK_MESSAGE(hex == c.at("xxh3").get<std::string>(), sum.output);
      auto cat =
          RunCommand({"sh", "-c", "cat \"$1\" >> \"$2\"", "sh", piece.string(), out.string()});
      REQUIRE_MESSAGE(cat.exit_code == 0, cat.output);
    }
    CHECK(fs::file_size(out) == f.at("size").get<uint64_t>());
  }
  CHECK(multi_chunk_files >= 2);
  CHECK(files_per_role["control_db"] == 1);
  CHECK(files_per_role["log"] >= 2);
  CHECK(files_per_role["events"] >= 4);
  CHECK(files_per_role["snapshots"] >= 2);

  auto check = RunCommand({HOSTD_BIN, "check", "--data-dir", data.string()});
  CHECK_MESSAGE(check.exit_code == 0, check.output);

  auto restored = OpenStore(StoreOptions(data, 48 * kKiB, 24 * kKiB));
  CheckHolds(*restored, written);
  for (const auto& c : doc.at("contexts")) {
    const std::string ctx = c.at("name");
    CHECK(c.at("events").at("first") == 0);
    CHECK(c.at("events").at("next") == written.events[ctx].size());
  }
}

TEST_CASE("local_disk: damaged stored objects are reported by verify and refused by restore") {
  std::mt19937_64 rng(31);
  TempDir dir;
  Written written;
  DiskProvider disk(dir / "repo");
  std::string id;
  {
    auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 24 * kKiB));
    Fill(*store, "orders", 1200, rng, &written);
    Fill(*store, "billing", 100, rng, &written);
    id = disk.Backup(*store).backup_id;
  }
  disk.RequireVerifies(id);
  const repo::Manifest m = ReadManifest(dir / "repo", id);
  // Three closed event segments of "orders", each the only user of its object.
  std::map<std::string, int> users;
  for (const auto& f : m.files) {
    for (const auto& c : f.chunks) ++users[c.object];
  }
  std::vector<repo::FileEntry> victims;
  for (const auto& f : m.files) {
    if (f.role == BKP_ROLE_EVENTS && f.context == "orders" && f.closed && f.chunks.size() == 1 &&
        users[f.chunks[0].object] == 1) {
      victims.push_back(f);
    }
  }
  REQUIRE(victims.size() >= 3);
  const fs::path repo_dir = dir / "repo";

  // What restore must do with any damage: refuse, naming the backup and the
  // file, and leave the target as it was.
  auto restore_refused = [&](const repo::FileEntry& bad, const std::string& why) {
    const fs::path target = dir / "target";
    auto r = disk.TryRestore(id, target);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == Status::Code::kCorruption);
    const std::string& message = r.status().message();
    CHECK_MESSAGE(Contains(message, id), message);
    CHECK_MESSAGE(Contains(message, Label(bad)), message);
    CHECK_MESSAGE(Contains(message, bad.chunks[0].object), message);
    CHECK_MESSAGE(Contains(message, why), message);
    CHECK_FALSE(fs::exists(target));

    const fs::path old = dir / "old-host";
    fs::create_directories(old);
    WriteFile(old / "keep.txt", "previous data");
    const auto before = Entries(dir.path());
    auto forced = disk.TryRestore(id, old, RestorePolicy::kForce);
    REQUIRE_FALSE(forced.ok());
    CHECK(forced.status().code() == Status::Code::kCorruption);
    CHECK(Entries(old) == std::set<std::string>{"keep.txt"});
    CHECK(ReadFile(old / "keep.txt") == "previous data");
    CHECK(Entries(dir.path()) == before);  // no staging or moved-aside directory
  };
  auto only_problem = [&](const VerifyOutcome& v, const repo::FileEntry& bad) {
    CHECK(v.rc == BKP_E_CORRUPT);
    CHECK_MESSAGE(Contains(v.error, "problem"), v.error);
    REQUIRE(v.problems.size() == 1);
    const auto& p = v.problems[0];
    CHECK(p.backup_id == id);
    CHECK(p.file == Label(bad));
    CHECK_MESSAGE(Contains(p.message, bad.chunks[0].object), p.message);
    return p;
  };

  SUBCASE("a flipped byte") {
    testing_support::FlipByte(repo_dir / victims[0].chunks[0].object,
                              victims[0].chunks[0].stored_size / 2);
    const auto p = only_problem(disk.Verify(id), victims[0]);
    CHECK(p.status == BKP_E_CORRUPT);
    const bool says_why = Contains(p.message, "LZ4") || Contains(p.message, "XXH3") ||
                          Contains(p.message, "decodes to");
    CHECK_MESSAGE(says_why, p.message);
    restore_refused(victims[0], "");
  }
  SUBCASE("a truncated object") {
    fs::resize_file(repo_dir / victims[1].chunks[0].object, victims[1].chunks[0].stored_size / 2);
    const auto p = only_problem(disk.Verify(id), victims[1]);
    CHECK(p.status == BKP_E_CORRUPT);
    CHECK_MESSAGE(Contains(p.message, "truncated"), p.message);
    restore_refused(victims[1], "truncated");
  }
  SUBCASE("a missing object") {
    fs::remove(repo_dir / victims[2].chunks[0].object);
    const auto p = only_problem(disk.Verify(id), victims[2]);
    CHECK(p.status == BKP_E_NOT_FOUND);
    CHECK_MESSAGE(Contains(p.message, "missing"), p.message);
    restore_refused(victims[2], "missing");
  }
  SUBCASE("an object the storage cannot read") {
    // A directory in its place: it exists and opens, and its first read
    // fails (EISDIR). The restore reads objects on a thread of its own;
    // the failure must come back in its turn, naming the chunk, and not
    // pass for a short object.
    const fs::path object = repo_dir / victims[0].chunks[0].object;
    fs::remove(object);
    fs::create_directory(object);
    restore_refused(victims[0], "cannot read");
  }
  SUBCASE("all three at once, verifying the whole repository") {
    testing_support::FlipByte(repo_dir / victims[0].chunks[0].object,
                              victims[0].chunks[0].stored_size / 2);
    fs::resize_file(repo_dir / victims[1].chunks[0].object, victims[1].chunks[0].stored_size / 2);
    fs::remove(repo_dir / victims[2].chunks[0].object);
    const VerifyOutcome v = disk.Verify("");
    CHECK(v.rc == BKP_E_CORRUPT);
    std::set<std::string> files;
    for (const auto& p : v.problems) files.insert(p.file);
    CHECK(files == std::set<std::string>{Label(victims[0]), Label(victims[1]), Label(victims[2])});
    CHECK(v.problems.size() == 3);
  }
}

TEST_CASE("local_disk: verify sets a damaged object aside and the next backup stores it anew") {
  std::mt19937_64 rng(37);
  TempDir dir;
  Written written;
  DiskProvider disk(dir / "repo");
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 24 * kKiB));
  Fill(*store, "orders", 900, rng, &written);
  const std::string first = disk.Backup(*store).backup_id;
  const repo::Manifest m = ReadManifest(dir / "repo", first);
  const repo::FileEntry* victim = nullptr;
  for (const auto& f : m.files) {
    if (f.role == BKP_ROLE_EVENTS && f.closed && f.chunks.size() == 1) victim = &f;
  }
  REQUIRE(victim != nullptr);
  const repo::Chunk chunk = victim->chunks[0];
  const fs::path object = dir / "repo" / chunk.object;
  testing_support::FlipByte(object, chunk.stored_size / 2);
  const std::string damaged = ReadFile(object);

  const VerifyOutcome v = disk.Verify(first);
  REQUIRE(v.problems.size() == 1);
  CHECK(v.problems[0].status == BKP_E_CORRUPT);
  CHECK_MESSAGE(Contains(v.problems[0].message, "set aside as 'quarantine/" + chunk.object + "'"),
                v.problems[0].message);
  // Gone from objects/, its bytes kept for forensics with a record of why.
  CHECK_FALSE(fs::exists(object));
  CHECK(ReadFile(dir / "repo" / "quarantine" / chunk.object) == damaged);
  const std::string record = ReadFile(dir / "repo" / "quarantine" / (chunk.object + ".json"));
  CHECK_MESSAGE(Contains(record, chunk.object), record);
  // A restore now says why the object is missing.
  auto refused = disk.TryRestore(first, dir / "refused");
  REQUIRE_FALSE(refused.ok());
  CHECK_MESSAGE(Contains(refused.status().message(), "verify set it aside as damaged"),
                refused.status().message());

  // The next full backup must not build on the damaged object: it stores
  // the segment anew from the host, whose closed segment still holds the
  // same bytes, so the key is the same and the first backup heals too.
  const std::string second = disk.Backup(*store).backup_id;
  CHECK(ReadFile(dir / "repo" / "quarantine" / chunk.object) == damaged);
  REQUIRE(fs::exists(object));
  disk.RequireVerifies("");
  store.reset();
  for (const auto& id : {first, second}) {
    const fs::path target = dir / ("restored-" + id);
    disk.Restore(id, target);
    CheckHolds(*OpenStore(StoreOptions(target, 24 * kKiB, 24 * kKiB)), written);
  }
}

namespace {

// The pending quarantine record of `object`, as verify writes it when it
// cannot take the repository to itself (empty when there is none).
std::string PendingRecord(const fs::path& repo_dir, const std::string& object) {
  const fs::path record = repo_dir / "quarantine" / (object + ".json");
  if (!fs::exists(record)) return "";
  const auto doc = nlohmann::json::parse(ReadFile(record));
  return doc.value("pending", false) ? doc.dump() : "";
}

// A backup that fixes, in the first backup, a closed event segment of one
// chunk, flips a byte of that chunk's stored object and has verify find it
// while another process holds the repository's shared lock.
struct DeferredDamage {
  std::string first;
  repo::FileEntry victim;
  repo::Chunk chunk;
  fs::path object;
  std::string damaged;  // the object's damaged bytes

  DeferredDamage(const fs::path& dir, DiskProvider& disk, EventStore& store) {
    first = disk.Backup(store).backup_id;
    const repo::Manifest m = ReadManifest(dir / "repo", first);
    const repo::FileEntry* found = nullptr;
    for (const auto& f : m.files) {
      if (f.role == BKP_ROLE_EVENTS && f.closed && f.chunks.size() == 1) found = &f;
    }
    REQUIRE(found != nullptr);
    victim = *found;
    chunk = victim.chunks[0];
    object = dir / "repo" / chunk.object;
    testing_support::FlipByte(object, chunk.stored_size / 2);
    damaged = ReadFile(object);
  }

  // Verify under another process's shared lock: it reports the damage,
  // moves nothing, and records the object as pending.
  void VerifyDeferred(const fs::path& dir, DiskProvider& disk) const {
    const VerifyOutcome v = disk.Verify(first);
    CHECK(v.rc == BKP_E_CORRUPT);
    REQUIRE(v.problems.size() == 2);
    CHECK(v.problems[0].status == BKP_E_CORRUPT);
    CHECK_MESSAGE(Contains(v.problems[0].message, "not set aside yet"), v.problems[0].message);
    CHECK_MESSAGE(Contains(v.problems[0].message, "no new backup reuses it"),
                  v.problems[0].message);
    CHECK(v.problems[1].status == BKP_E_BUSY);
    CHECK(v.problems[1].file == "quarantine/");
    CHECK_MESSAGE(Contains(v.problems[1].message, "1 damaged object(s) not set aside yet"),
                  v.problems[1].message);
    CHECK_MESSAGE(Contains(v.problems[1].message, "backup on host"), v.problems[1].message);
    CHECK_MESSAGE(Contains(v.problems[1].message, "run verify again"), v.problems[1].message);
    CHECK(ReadFile(object) == damaged);
    CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / chunk.object));
    const std::string pending = PendingRecord(dir / "repo", chunk.object);
    CHECK_MESSAGE(Contains(pending, chunk.object), pending);
  }
};

}  // namespace

TEST_CASE("local_disk: verify moves nothing while a backup elsewhere holds the repository") {
  std::mt19937_64 rng(41);
  TempDir dir;
  DiskProvider disk(dir / "repo");
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 24 * kKiB));
  Written written;
  Fill(*store, "orders", 900, rng, &written);
  const DeferredDamage d(dir.path(), disk, *store);
  {
    // Another process's backup, under its shared lock, may be about to
    // reference exactly this object: moving it now would let that backup
    // publish a manifest naming an object that is gone. Verify records it
    // as damaged instead, and a backup (under its own shared lock) never
    // reuses it: the host still has the bytes, so it stores them over the
    // damaged object, which heals the first backup too.
    repo::Repository elsewhere(std::make_shared<repo::PosixDriver>(dir / "repo"));
    const auto backup = elsewhere.Lock(repo::RepositoryLock::Mode::kShared, "backup");
    d.VerifyDeferred(dir.path(), disk);
    const std::string second = disk.Backup(*store).backup_id;
    REQUIRE(fs::exists(d.object));
    CHECK(ReadFile(d.object) != d.damaged);
    CHECK(PendingRecord(dir / "repo", d.chunk.object).empty());
    CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / (d.chunk.object + ".json")));
    disk.RequireVerifies(second);
  }
  disk.RequireVerifies("");
  CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / d.chunk.object));

  // A pending record whose object a backup stored anew but could not drop
  // (a crash in between): the next verify finds the object intact and
  // drops it.
  WriteFile(
      dir / "repo" / "quarantine" / (d.chunk.object + ".json"),
      nlohmann::json{
          {"object", d.chunk.object}, {"quarantined_ms", 1}, {"reason", "test"}, {"pending", true}}
          .dump());
  disk.RequireVerifies("");
  CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / (d.chunk.object + ".json")));
}

TEST_CASE("local_disk: a backup never reuses an object recorded damaged whose bytes are gone") {
  std::mt19937_64 rng(47);
  TempDir dir;
  DiskProvider disk(dir / "repo");
  auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 24 * kKiB));
  Written written;
  Fill(*store, "orders", 900, rng, &written);
  const DeferredDamage d(dir.path(), disk, *store);
  // The host's copy no longer holds the bytes stored: one changed before
  // its last 4 KiB, so the file still seems to begin with what the backup
  // holds (the tail check passes) but its hash is not the object's name.
  REQUIRE(d.victim.size > 8 * kKiB);
  fs::path host_file;
  for (const auto& e : fs::recursive_directory_iterator(dir / "data")) {
    if (e.path().filename() == d.victim.name) host_file = e.path();
  }
  REQUIRE_FALSE(host_file.empty());
  testing_support::FlipByte(host_file, 100);

  std::string second;
  {
    repo::Repository elsewhere(std::make_shared<repo::PosixDriver>(dir / "repo"));
    const auto backup = elsewhere.Lock(repo::RepositoryLock::Mode::kShared, "backup");
    d.VerifyDeferred(dir.path(), disk);
    // Nothing to heal it with: the new full backup stores the host's file
    // whole instead of naming the damaged object, and verifies.
    second = disk.Backup(*store).backup_id;
  }
  for (const auto& f : ReadManifest(dir / "repo", second).files) {
    for (const auto& c : f.chunks) CHECK(c.object != d.chunk.object);
  }
  disk.RequireVerifies(second);
  CHECK(ReadFile(d.object) == d.damaged);
  CHECK_FALSE(PendingRecord(dir / "repo", d.chunk.object).empty());

  // With no other holder, verify sets it aside as it always did.
  const VerifyOutcome v = disk.Verify(d.first);
  REQUIRE(v.problems.size() == 1);
  CHECK_MESSAGE(Contains(v.problems[0].message, "set aside as 'quarantine/" + d.chunk.object + "'"),
                v.problems[0].message);
  CHECK_FALSE(fs::exists(d.object));
  CHECK(ReadFile(dir / "repo" / "quarantine" / d.chunk.object) == d.damaged);
  CHECK(PendingRecord(dir / "repo", d.chunk.object).empty());
}

TEST_CASE("local_disk: verify reports what the host's restore would refuse, before restoring") {
  std::mt19937_64 rng(43);
  TempDir dir;
  Written written;
  DiskProvider disk(dir / "repo");
  std::string id;
  {
    auto store = OpenStore(StoreOptions(dir / "data", 24 * kKiB, 24 * kKiB));
    Fill(*store, "orders", 400, rng, &written);
    id = disk.Backup(*store).backup_id;
  }
  disk.RequireVerifies(id);
  const fs::path manifest_file = dir / "repo" / "backups" / (id + ".json");
  const std::string original = ReadFile(manifest_file);
  // Each a manifest that still decodes and whose every object is sound,
  // which the host's restore sink refuses all the same.
  struct Damage {
    const char* what;
    std::function<void(nlohmann::json&)> apply;
    std::string verify_says;
    std::string restore_says;
  };
  const std::vector<Damage> damages = {
      {"an event segment named for another base",
       [](nlohmann::json& m) {
         for (auto& f : m["files"]) {
           if (f["role"] == "events" && f["base"].get<uint64_t>() > 0) {
             f["name"] = "00000000000000000001.events";
             return;
           }
         }
       },
       "should be named", "should be named"},
      {"a context name the host does not take",
       [](nlohmann::json& m) {
         for (auto& f : m["files"]) {
           if (!f["context"].is_null()) f["context"] = "orders/../x";
         }
         m["contexts"][0]["name"] = "orders/../x";
       },
       "invalid context name", "invalid context name"},
      {"no control DB",
       [](nlohmann::json& m) {
         auto& files = m["files"];
         for (auto it = files.begin(); it != files.end(); ++it) {
           if ((*it)["role"] == "control_db") {
             files.erase(it);
             return;
           }
         }
       },
       "0 control DBs", "before the control DB"},
  };
  for (const auto& damage : damages) {
    CAPTURE(damage.what);
    auto m = nlohmann::json::parse(original);
    damage.apply(m);
    WriteFile(manifest_file, m.dump(2));
    const VerifyOutcome v = disk.Verify(id);
    CHECK(v.rc == BKP_E_CORRUPT);
    REQUIRE_FALSE(v.problems.empty());
    CHECK_MESSAGE(Contains(v.problems[0].message, damage.verify_says), v.problems[0].message);
    // The host's sink, on its own, refuses the same backup.
    auto r = disk.TryRestore(id, dir / "target");
    REQUIRE_FALSE(r.ok());
    CHECK_MESSAGE(Contains(r.status().message(), damage.restore_says), r.status().message());
    CHECK_FALSE(fs::exists(dir / "target"));
  }
  WriteFile(manifest_file, original);
  disk.RequireVerifies(id);
}

TEST_CASE("local_disk: a cancelled backup fails as cancelled and leaves no backup") {
  std::mt19937_64 rng(41);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 64 * kKiB, 64 * kKiB));
  Written written;
  Fill(*store, "orders", 2000, rng, &written);
  Fill(*store, "billing", 2000, rng, &written);
  DiskProvider disk(dir / "repo");
  const std::string first = disk.Backup(*store).backup_id;
  Fill(*store, "orders", 1500, rng, &written);

  bkp_operation op;
  std::atomic<int> reports{0};
  op.on_progress = [&](const bkp_progress&) {
    if (reports.fetch_add(1) == 0) op.cancel_requested = true;
  };
  auto cancelled = disk.TryBackup(*store, op);
  REQUIRE_FALSE(cancelled.ok());
  CHECK(cancelled.status().code() == Status::Code::kCancelled);
  CHECK_MESSAGE(Contains(cancelled.status().message(), "BKP_E_CANCELLED"),
                cancelled.status().message());
  CHECK(reports.load() >= 1);
  CHECK(disk.ListIds() == std::vector<std::string>{first});
  CHECK(plugins_test::CountFiles(dir / "repo" / "backups") == 1);
  CHECK(plugins_test::CountFiles(dir / "repo" / "tmp") == 0);

  const std::string next = disk.Backup(*store).backup_id;
  CHECK(disk.ListIds() == std::vector<std::string>{first, next});
  disk.RequireVerifies(next);
  store.reset();
  disk.Restore(next, dir / "restored");
  CheckHolds(*OpenStore(StoreOptions(dir / "restored", 64 * kKiB, 64 * kKiB)), written);
}

namespace {

// The forked child of the crash test: opens the store and the plugin (no
// thread exists before the fork), then appends and backs up in a loop,
// writing 'B' to `fd` as each backup begins and 'D' when it is done. Never
// returns into doctest: the caller _exits with the result.
int BackupLoop(const hoststub::StorageOptions& options, const fs::path& repo, int fd,
               uint64_t seed) {
  try {
    auto store = EventStore::Open(options);
    if (!store.ok()) return 10;
    auto registry = plugins_test::LoadDiskRegistry(repo, "workers = 2\nrate_limit = 67108864\n");
    if (!registry.ok()) return 11;
    const hoststub::LoadedProvider* provider = registry->Find("disk").get();
    if (provider == nullptr) return 12;
    std::mt19937_64 rng(seed);
    for (int i = 0; i < 200; ++i) {
      const std::string ctx = rng() % 3 == 0 ? "billing" : "orders";
      std::vector<std::string> batch(1 + rng() % 50);
      for (auto& p : batch) p = EventPayload(rng, "child", 100 + rng() % 900);
      if (!(*store)->Append(ctx, batch).ok()) return 13;
      if (write(fd, "B", 1) != 1) return 14;
      bkp_operation op;
      auto r = hoststub::RunBackup(**store, plugins_test::RefOf(*provider), BKP_BACKUP_FULL, op);
      if (!r.ok()) return 15;
      if (write(fd, "D", 1) != 1) return 16;
    }
    return 0;
  } catch (...) {
    return 17;
  }
}

}  // namespace

TEST_CASE("local_disk: SIGKILL in the middle of backups never leaves a partial backup") {
  const uint64_t seed = TestSeed();
  MESSAGE("seed " << seed << " (set BKP_TEST_SEED to replay)");
  std::mt19937_64 rng(seed);
  TempDir dir;
  const auto options = StoreOptions(dir / "data", 512 * kKiB, 256 * kKiB);
  const fs::path repo = dir / "repo";
  {
    // A few MiB of data; the store is closed (its threads gone) before forking.
    auto store = OpenStore(options);
    Written written;
    Fill(*store, "orders", 5000, rng, &written, 8, 900);
    Fill(*store, "billing", 1500, rng, &written, 8, 900);
  }
  size_t listed_before = 0;
  int killed_mid_backup = 0;
  int killed_after_completed = 0;
  for (int round = 0; round < 6; ++round) {
    CAPTURE(round);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      _exit(BackupLoop(options, repo, fds[1], seed + static_cast<uint64_t>(round)));
    }
    close(fds[1]);
    // Even rounds: a random moment of the first backup. Odd rounds: a
    // random moment after the first backup completed (the next append or
    // backup). The waits are bounded; the delays only vary the moment.
    const char wait_for = round % 2 == 0 ? 'B' : 'D';
    std::string marks;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (marks.find(wait_for) == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (poll(&pfd, 1, 100) != 1) continue;
      char c = 0;
      if (read(fds[0], &c, 1) != 1) break;  // the child is gone
      marks += c;
    }
    const bool began = marks.find(wait_for) != std::string::npos;
    const int delay_ms = static_cast<int>(rng() % (round % 2 == 0 ? 150 : 100));
    if (began) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    char buf[512];
    for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) marks.append(buf, n);
    close(fds[0]);
    REQUIRE_MESSAGE(began,
                    "the child never reached '" << wait_for << "' (status " << status << ")");
    const bool by_kill = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    REQUIRE_MESSAGE((by_kill || (WIFEXITED(status) && WEXITSTATUS(status) == 0)),
                    "the child failed by itself with status " << status);
    const auto begun = std::count(marks.begin(), marks.end(), 'B');
    const auto done = std::count(marks.begin(), marks.end(), 'D');
    if (by_kill && begun > done) ++killed_mid_backup;
    if (by_kill && done > 0) ++killed_after_completed;
    MESSAGE("round " << round << ": killed after " << delay_ms << " ms, " << begun
                     << " backup(s) begun, " << done << " completed");

    DiskProvider disk(repo);
    const auto ids = disk.ListIds();
    // Only completed backups are listed, and each is whole.
    CHECK(ids.size() >= listed_before + static_cast<size_t>(done));
    CHECK(ids.size() <= listed_before + static_cast<size_t>(begun));
    for (const auto& id : ids) disk.RequireVerifies(id);
    auto store = OpenStore(options);
    const auto after = disk.Backup(*store);
    const std::string id = after.backup_id;
    disk.RequireVerifies(id);
    CHECK(disk.ListIds().size() == ids.size() + 1);
    listed_before = ids.size() + 1;
  }
  CHECK(killed_mid_backup >= 1);
  CHECK(killed_after_completed >= 1);

  // The newest backup restores to exactly the host's data.
  DiskProvider disk(repo);
  const std::string last = disk.ListIds().back();
  disk.Restore(last, dir / "restored");
  auto original = OpenStore(options);
  auto restored = OpenStore(StoreOptions(dir / "restored", 512 * kKiB, 256 * kKiB));
  for (const std::string ctx : {"orders", "billing"}) {
    const auto a = ReadAll(*original, ctx);
    const auto b = ReadAll(*restored, ctx);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) REQUIRE(a[i].payload == b[i].payload);
  }
}

TEST_CASE("local_disk: restore policies are safe by default, force keeps the old data aside") {
  std::mt19937_64 rng(53);
  TempDir dir;
  Written written;
  DiskProvider disk(dir / "repo");
  std::string id;
  {
    auto store = OpenStore(StoreOptions(dir / "data", 32 * kKiB, 32 * kKiB));
    Fill(*store, "orders", 500, rng, &written);
    id = disk.Backup(*store).backup_id;
  }
  const fs::path target = dir / "target";
  fs::create_directories(target);
  WriteFile(target / "old-notes.txt", "keep me");

  auto safe = disk.TryRestore(id, target, RestorePolicy::kSafe);
  REQUIRE_FALSE(safe.ok());
  CHECK(safe.status().code() == Status::Code::kRefused);
  CHECK_MESSAGE(Contains(safe.status().message(), target.string()), safe.status().message());
  CHECK(Entries(target) == std::set<std::string>{"old-notes.txt"});

  auto forced = disk.TryRestore(id, target, RestorePolicy::kForce);
  REQUIRE_MESSAGE(forced.ok(), forced.status().ToString());
  CHECK(forced->check.ok());
  REQUIRE_FALSE(forced->previous_moved_to.empty());
  CHECK(ReadFile(forced->previous_moved_to / "old-notes.txt") == "keep me");
  CHECK_FALSE(fs::exists(target / "old-notes.txt"));
  CHECK(fs::exists(target / "control.db"));
  {
    auto restored = OpenStore(StoreOptions(target, 32 * kKiB, 32 * kKiB));
    CheckHolds(*restored, written);

    // A running host holds its directory: even force is refused as busy.
    auto busy = disk.TryRestore(id, target, RestorePolicy::kForce);
    REQUIRE_FALSE(busy.ok());
    CHECK(busy.status().code() == Status::Code::kBusy);
    CheckHolds(*restored, written);
  }
}

// A restore holds a few descriptors whatever the number of files: the
// host's sink once kept every restored file open until its sync, and a
// backup of 28 000 small segments failed with "Too many open files" (issue
// 23). The soft limit is lowered for the restore only, far below the file
// count, and every event must come back.
TEST_CASE("local_disk: a restore of many more files than the open-file limit restores them all") {
  constexpr rlim_t kLimit = 64;
  std::mt19937_64 rng(61);
  TempDir dir;
  Written written;
  DiskProvider disk(dir / "repo");
  std::string id;
  {
    // 1 KiB segments: a few events each, hundreds of files.
    auto store = OpenStore(StoreOptions(dir / "data", kKiB, kKiB));
    for (const char* ctx : {"orders", "billing"}) Fill(*store, ctx, 400, rng, &written, 3, 60);
    id = disk.Backup(*store).backup_id;
  }
  const uint64_t files = disk.List().back().files;
  REQUIRE(files > 4 * kLimit);

  rlimit before{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &before) == 0);
  rlimit lowered = before;
  lowered.rlim_cur = std::min(kLimit, before.rlim_max);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
  auto report = disk.TryRestore(id, dir / "target");
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &before) == 0);

  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK(report->check.ok());
  CHECK(report->files == files);
  auto restored = OpenStore(StoreOptions(dir / "target", kKiB, kKiB));
  CheckHolds(*restored, written);
}

TEST_CASE("local_disk: retention keep_last 2 over 5 backups keeps the newest two whole") {
  plugins_test::RetentionKeepsTheNewestTwoWhole(kLocalDisk);
}

TEST_CASE("local_disk: list reports files bytes and per-context details of each backup") {
  plugins_test::ListReportsFilesBytesAndDetails(kLocalDisk);
}
