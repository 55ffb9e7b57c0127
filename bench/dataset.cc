// Dataset generation for the benchmarks (see dataset.h).
#include "dataset.h"

#include <algorithm>
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

hoststub::StorageOptions DatasetOptions(const fs::path& dir, const Layout& layout) {
  hoststub::StorageOptions options;
  if (layout.segment_bytes > 0) {
    options.event_segment_bytes = options.log_segment_bytes = layout.segment_bytes;
  }
  options.data_dir = dir;
  options.fsync = hoststub::FsyncPolicy::kNever;
  options.compaction_interval = std::chrono::milliseconds(0);
  return options;
}

// The context of the `batch`-th append.
std::string ContextOf(const Layout& layout, uint64_t batch) {
  if (layout.contexts == 0) return batch % 10 == 9 ? "audit" : "default";
  return fmt::format("ctx-{:03}", batch % layout.contexts);
}

// Appends batches until the directory holds `target_bytes`. Its size is
// summed again only every ~1 MB appended (a walk over tens of thousands of
// segments is not free): "+1 %" of a 256 MiB dataset must not come out as
// +2 %.
hoststub::Status FillTo(const fs::path& dir, uint64_t target_bytes, uint64_t seed,
                        const Layout& layout) {
  auto store = hoststub::EventStore::Open(DatasetOptions(dir, layout));
  if (!store.ok()) return store.status();
  hoststub::EventGenerator gen({200, 2000, seed});
  const uint32_t batch_events = std::max<uint32_t>(1, layout.batch_events);
  // Events average ~1.1 KB and each is written twice (log and events).
  const uint64_t per_check = std::max<uint64_t>(1, 500 / batch_events);
  uint64_t batches = 0;
  while (DirectoryBytes(dir) < target_bytes) {
    for (uint64_t i = 0; i < per_check; ++i, ++batches) {
      auto r = (*store)->Append(ContextOf(layout, batches), gen.NextBatch(batch_events));
      if (!r.ok()) return r.status();
    }
  }
  return hoststub::Status::OK();
}

}  // namespace

hoststub::Status MutateDataset(const fs::path& dir, double percent, uint64_t seed,
                               const Layout& layout) {
  std::ofstream(dir / ".dataset") << "mutated\n";
  const auto before = DirectoryBytes(dir);
  return FillTo(dir, before + static_cast<uint64_t>(static_cast<double>(before) * percent / 100),
                seed, layout);
}

hoststub::Status EnsureDataset(const fs::path& dir, uint64_t target_bytes, uint64_t seed,
                               const Layout& layout) {
  const fs::path marker = dir / ".dataset";
  std::string want = fmt::format("bytes={} seed={}\n", target_bytes, seed);
  if (layout.contexts != 0 || layout.segment_bytes != 0 || layout.batch_events != 50) {
    want = fmt::format("bytes={} seed={} contexts={} segment_bytes={} batch={}\n", target_bytes,
                       seed, layout.contexts, layout.segment_bytes, layout.batch_events);
  }
  {
    std::ifstream in(marker);
    std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (have == want) return hoststub::Status::OK();
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  if (auto st = FillTo(dir, target_bytes, seed, layout); !st.ok()) return st;
  std::ofstream(marker) << want;
  return hoststub::Status::OK();
}

}  // namespace bench
