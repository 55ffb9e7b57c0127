// In-process append throughput of the storage engine: realistic 200-2000 byte
// JSON events, batch sizes 1 and 100, fsync never (the engine's own cost) and
// fsync per batch with group commit across appender threads. Later hot-backup
// benchmarks run under this load, so this is their baseline.
//
// Run: build/bench/host_bench --benchmark_filter=BM_Append
#include <benchmark/benchmark.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "api/event_generator.h"
#include "storage/event_store.h"

namespace {

namespace fs = std::filesystem;
using hoststub::EventStore;
using hoststub::FsyncPolicy;

// One store shared by all threads of a benchmark run; thread 0 sets it up
// before the timed loop and tears it down after (the framework holds the
// other threads at a barrier on both sides).
struct SharedStore {
  fs::path dir;
  std::unique_ptr<EventStore> store;
};
SharedStore g_shared;

void BM_Append(benchmark::State& state) {
  const auto policy = static_cast<FsyncPolicy>(state.range(0));
  const auto batch = static_cast<size_t>(state.range(1));
  if (state.thread_index() == 0) {
    g_shared.dir =
        fs::temp_directory_path() / ("bkp-bench-append-" + std::to_string(std::random_device{}()));
    hoststub::StorageOptions options;
    options.data_dir = g_shared.dir;
    options.fsync = policy;
    options.compaction_interval = std::chrono::milliseconds(0);
    auto opened = EventStore::Open(options);
    if (!opened.ok()) {
      state.SkipWithError(opened.status().ToString().c_str());
      return;
    }
    g_shared.store = std::move(*opened);
  }
  hoststub::EventGenerator gen({200, 2000, 42 + static_cast<uint64_t>(state.thread_index())});
  // Pre-generate so the generator's cost stays out of the measurement.
  std::vector<std::vector<std::string>> batches(64);
  for (auto& b : batches) b = gen.NextBatch(batch);
  int64_t bytes = 0;
  size_t i = 0;
  for (auto _ : state) {
    const auto& b = batches[i++ % batches.size()];
    auto r = g_shared.store->Append("bench", b);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
    for (const auto& e : b) bytes += static_cast<int64_t>(e.size());
  }
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
  if (state.thread_index() == 0) {
    g_shared.store.reset();
    std::error_code ec;
    fs::remove_all(g_shared.dir, ec);
  }
}

BENCHMARK(BM_Append)
    ->ArgNames({"fsync", "batch"})
    ->Args({static_cast<int64_t>(FsyncPolicy::kNever), 1})
    ->Args({static_cast<int64_t>(FsyncPolicy::kNever), 100})
    ->Args({static_cast<int64_t>(FsyncPolicy::kBatch), 1})
    ->Args({static_cast<int64_t>(FsyncPolicy::kBatch), 100})
    ->Threads(1)
    ->Threads(4)
    ->UseRealTime();

}  // namespace
