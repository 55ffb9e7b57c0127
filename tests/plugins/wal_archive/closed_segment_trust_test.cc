// Trust in the host's word about closed segments (repo/backup_job.h,
// "Trust"): a backup reuses a closed segment listed as the last backup holds
// it without reading it, and every `full_check_every`-th backup reads the
// tails again, so a segment changed behind the host's back is stored anew.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "plugins/plugins_test_util.h"
#include "test_support.h"

namespace fs = std::filesystem;

using plugins_test::DiskProvider;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenStore;
using plugins_test::ReadManifest;
using plugins_test::StoreOptions;
using plugins_test::Written;
using testing_support::TempDir;

namespace {

// The oldest event segment of `ctx`: closed once the stream has rolled.
fs::path OldestEventSegment(const fs::path& data, const std::string& ctx) {
  std::vector<fs::path> segments;
  for (const auto& e : fs::directory_iterator(data / "contexts" / ctx / "events")) {
    segments.push_back(e.path());
  }
  REQUIRE_MESSAGE(segments.size() >= 3, "the stream must have rolled");
  std::sort(segments.begin(), segments.end());
  return segments.front();
}

// Flips the last byte of `file` in place: same name, same size, other bytes
// (what a disk fault or a hand edit does behind the host's back).
std::string FlipLastByte(const fs::path& file) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f);
  f.seekg(-1, std::ios::end);
  char c = 0;
  f.get(c);
  f.seekp(-1, std::ios::end);
  f.put(static_cast<char>(c ^ 0x5a));
  f.close();
  return testing_support::ReadFile(file);
}

// The entry of `name` in the manifest's files, or null.
const repo::FileEntry* Find(const repo::Manifest& m, const std::string& name) {
  for (const auto& f : m.files) {
    if (f.role == BKP_ROLE_EVENTS && f.name == name) return &f;
  }
  return nullptr;
}

// Whether the manifest stores `bytes` whole for `name` (one chunk, < 64 MiB).
bool StoresWhole(const repo::Manifest& m, const std::string& name, const std::string& bytes) {
  const repo::FileEntry* f = Find(m, name);
  return f != nullptr && f->inherit == 0 && f->chunks.size() == 1 &&
         f->chunks[0].size == bytes.size() &&
         f->chunks[0].xxh3 == XXH3_64bits(bytes.data(), bytes.size());
}

}  // namespace

TEST_CASE(
    "wal_archive: a closed segment changed behind the host's back is stored by the re-check") {
  TempDir dir;
  std::mt19937_64 rng(23);
  auto store = OpenStore(StoreOptions(dir / "data", 8 * kKiB, 8 * kKiB));
  Written written;
  Fill(*store, "orders", 300, rng, &written);
  DiskProvider wal(dir / "repo", "workers = 2\nfull_check_every = 3\n", "wal_archive");
  const std::string full = wal.Backup(*store, BKP_BACKUP_FULL).backup_id;
  CHECK(ReadManifest(dir / "repo", full).since_full_check == 0);

  const fs::path segment = OldestEventSegment(dir / "data", "orders");
  const std::string name = segment.filename().string();
  const std::string changed = FlipLastByte(segment);

  // The next two take the host's word: same name, size and range, closed.
  for (uint32_t i = 1; i <= 2; ++i) {
    CAPTURE(i);
    Fill(*store, "orders", 5, rng, &written);
    const std::string id = wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id;
    const repo::Manifest m = ReadManifest(dir / "repo", id);
    CHECK(m.since_full_check == i);
    CHECK(Find(m, name) == nullptr);
  }
  // The third reads every tail again: the changed segment is stored anew,
  // whole, with the bytes it holds now.
  Fill(*store, "orders", 5, rng, &written);
  const std::string checked = wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id;
  const repo::Manifest m = ReadManifest(dir / "repo", checked);
  CHECK(m.since_full_check == 0);
  CHECK(StoresWhole(m, name, changed));
  // And the count starts again.
  Fill(*store, "orders", 5, rng, &written);
  CHECK(ReadManifest(dir / "repo", wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id)
            .since_full_check == 1);
}

TEST_CASE("wal_archive: full_check_every = 1 reads every tail, so a change is stored at once") {
  TempDir dir;
  std::mt19937_64 rng(24);
  auto store = OpenStore(StoreOptions(dir / "data", 8 * kKiB, 8 * kKiB));
  Written written;
  Fill(*store, "orders", 300, rng, &written);
  DiskProvider wal(dir / "repo", "workers = 2\nfull_check_every = 1\n", "wal_archive");
  wal.Backup(*store, BKP_BACKUP_FULL);
  const fs::path segment = OldestEventSegment(dir / "data", "orders");
  const std::string changed = FlipLastByte(segment);
  const std::string id = wal.Backup(*store, BKP_BACKUP_INCREMENTAL).backup_id;
  const repo::Manifest m = ReadManifest(dir / "repo", id);
  CHECK(m.since_full_check == 0);
  CHECK(StoresWhole(m, segment.filename().string(), changed));
}

TEST_CASE("wal_archive: full_check_every out of range is refused naming the setting") {
  TempDir dir;
  for (const char* value : {"0", "-3", "1000001"}) {
    CAPTURE(value);
    auto loaded = plugins_test::LoadDiskRegistry(
        dir / "repo", std::string("full_check_every = ") + value + "\n", "wal_archive");
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.status().message().find("full_check_every") != std::string::npos);
  }
}
