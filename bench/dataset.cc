// Dataset generation for the benchmarks (see dataset.h).
#include "dataset.h"

#include <cstdlib>
#include <fstream>
#include <string>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "api/event_generator.h"
#include "storage/event_store.h"

namespace fs = std::filesystem;

namespace bench {

std::vector<fs::path> BackedUpFiles(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (entry.is_regular_file() && name != "LOCK" && !name.starts_with(".")) {
      files.push_back(entry.path());
    }
  }
  return files;
}

uint64_t DirectoryBytes(const fs::path& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_regular_file()) total += it->file_size();
  }
  return total;
}

fs::path BenchRoot() {
  const char* env = std::getenv("BKP_BENCH_DIR");
  return env != nullptr ? fs::path(env) : fs::path("/tmp/bkp-bench");
}

namespace {

hoststub::StorageOptions DatasetOptions(const fs::path& dir) {
  hoststub::StorageOptions options;
  options.data_dir = dir;
  options.fsync = hoststub::FsyncPolicy::kNever;
  options.compaction_interval = std::chrono::milliseconds(0);
  return options;
}

// Appends batches until the directory holds `target_bytes`.
hoststub::Status FillTo(const fs::path& dir, uint64_t target_bytes, uint64_t seed) {
  auto store = hoststub::EventStore::Open(DatasetOptions(dir));
  if (!store.ok()) return store.status();
  hoststub::EventGenerator gen({200, 2000, seed});
  // Most traffic to one context, a little to a second, as on real hosts.
  // Checked every 10 batches (~1 MB of log and events): "+1 %" of a
  // 256 MiB dataset must not come out as +2 %.
  uint64_t batches = 0;
  while (DirectoryBytes(dir) < target_bytes) {
    for (int i = 0; i < 10; ++i, ++batches) {
      const char* context = batches % 10 == 9 ? "audit" : "default";
      auto r = (*store)->Append(context, gen.NextBatch(50));
      if (!r.ok()) return r.status();
    }
  }
  return hoststub::Status::OK();
}

}  // namespace

hoststub::Status MutateDataset(const fs::path& dir, double percent, uint64_t seed) {
  std::ofstream(dir / ".dataset") << "mutated\n";
  const auto before = DirectoryBytes(dir);
  return FillTo(dir, before + static_cast<uint64_t>(static_cast<double>(before) * percent / 100),
                seed);
}

hoststub::Status EnsureDataset(const fs::path& dir, uint64_t target_bytes, uint64_t seed) {
  const fs::path marker = dir / ".dataset";
  const std::string want = fmt::format("bytes={} seed={}\n", target_bytes, seed);
  {
    std::ifstream in(marker);
    std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (have == want) return hoststub::Status::OK();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (auto st = FillTo(dir, target_bytes, seed); !st.ok()) return st;
  std::ofstream(marker) << want;
  return hoststub::Status::OK();
}

}  // namespace bench
