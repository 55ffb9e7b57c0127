// In-process append throughput of the storage engine, beside its baseline in
// the same run: the same batches written with plain pwrite (+ fdatasync per
// batch for the batch policy) to one file. The ratio engine/raw is what the
// engine's framing, checksums, log + event double write and locking cost.
// Events are realistic 200-2000 byte JSON; batch sizes 1 and 100; 1 and 4
// appender threads (group commit shares fsyncs between them).
//
// Run: build/.../bench/host_bench --benchmark_filter='BM_(Append|RawAppend)'
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
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

fs::path MakeScratchDir(const char* what) {
  return fs::temp_directory_path() /
         (std::string("bkp-bench-") + what + "-" + std::to_string(std::random_device{}()));
}

std::vector<std::vector<std::string>> MakeBatches(size_t batch, uint64_t seed) {
  hoststub::EventGenerator gen({200, 2000, seed});
  std::vector<std::vector<std::string>> batches(64);
  for (auto& b : batches) b = gen.NextBatch(batch);
  return batches;
}

void Report(benchmark::State& state, int64_t bytes, size_t batch) {
  state.SetBytesProcessed(bytes);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(batch));
}

// Shared by all threads of one run: thread 0 sets up before the timed loop
// and tears down after; the framework holds the others at a barrier.
struct Shared {
  fs::path dir;
  std::unique_ptr<EventStore> store;
  int fd = -1;
  std::atomic<uint64_t> offset{0};
} g_shared;

void BM_Append(benchmark::State& state, FsyncPolicy policy) {
  const auto batch = static_cast<size_t>(state.range(0));
  if (state.thread_index() == 0) {
    g_shared.dir = MakeScratchDir("append");
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
  // Pre-generated so the generator's cost stays out of the measurement.
  const auto batches = MakeBatches(batch, 42 + static_cast<uint64_t>(state.thread_index()));
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
  Report(state, bytes, batch);
  if (state.thread_index() == 0) {
    g_shared.store.reset();
    fs::remove_all(g_shared.dir);
  }
}

// The floor: the same payload bytes appended to one file, nothing else.
void BM_RawAppend(benchmark::State& state, FsyncPolicy policy) {
  const auto batch = static_cast<size_t>(state.range(0));
  if (state.thread_index() == 0) {
    g_shared.dir = MakeScratchDir("raw");
    fs::create_directories(g_shared.dir);
    g_shared.fd = ::open((g_shared.dir / "raw").c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
    g_shared.offset = 0;
    if (g_shared.fd < 0) {
      state.SkipWithError("cannot create the raw append file");
      return;
    }
  }
  std::vector<std::string> joined;
  for (const auto& b : MakeBatches(batch, 42 + static_cast<uint64_t>(state.thread_index()))) {
    std::string all;
    for (const auto& e : b) all += e;
    joined.push_back(std::move(all));
  }
  int64_t bytes = 0;
  size_t i = 0;
  for (auto _ : state) {
    const std::string& b = joined[i++ % joined.size()];
    const uint64_t at = g_shared.offset.fetch_add(b.size());
    if (::pwrite(g_shared.fd, b.data(), b.size(), static_cast<off_t>(at)) !=
            static_cast<ssize_t>(b.size()) ||
        (policy == FsyncPolicy::kBatch && ::fdatasync(g_shared.fd) != 0)) {
      state.SkipWithError("raw write failed");
      break;
    }
    bytes += static_cast<int64_t>(b.size());
  }
  Report(state, bytes, batch);
  if (state.thread_index() == 0) {
    ::close(g_shared.fd);
    fs::remove_all(g_shared.dir);
  }
}

#define APPEND_BENCH(fn, name, policy) \
  BENCHMARK_CAPTURE(fn, name, policy)  \
      ->ArgName("batch")               \
      ->Arg(1)                         \
      ->Arg(100)                       \
      ->Threads(1)                     \
      ->Threads(4)                     \
      ->UseRealTime()

APPEND_BENCH(BM_RawAppend, fsync_never, FsyncPolicy::kNever);
APPEND_BENCH(BM_Append, fsync_never, FsyncPolicy::kNever);
APPEND_BENCH(BM_RawAppend, fsync_batch, FsyncPolicy::kBatch);
APPEND_BENCH(BM_Append, fsync_batch, FsyncPolicy::kBatch);

}  // namespace
