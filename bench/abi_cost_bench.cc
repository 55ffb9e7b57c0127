// What the C ABI and the host's read path cost: a full backup through the
// `null` provider (which reads every byte through source_read and discards
// it) beside plain pread of the same files into a buffer of the same size,
// interleaved in each iteration so both see the same machine state. The
// ratio null/direct is the figure; target >= 0.95.
//
// Data: a ~1 GiB data directory (override with BKP_ABI_BENCH_MIB), built
// once under $BKP_BENCH_DIR (default /tmp/bkp-bench) and reused, or the
// bkp_dataset directory $BKP_ABI_BENCH_DIR names (the harness passes a copy
// of the dataset it benchmarks, so nothing is generated twice). Both sides
// read from the page cache after the first pass, which isolates the CPU cost
// of the path from the disk.
//
// Run: build/.../bench/host_bench --benchmark_filter=BM_AbiCost
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <vector>

#include "backup/backup_runner.h"
#include "config/host_config.h"
#include "dataset.h"
#include "plugin_host/provider_registry.h"
#include "storage/event_store.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr size_t kBuffer = 1 << 20;  // the null provider's default buffer_kib

fs::path DatasetDir() {
  const char* dir = std::getenv("BKP_ABI_BENCH_DIR");
  return dir != nullptr ? fs::path(dir) : bench::BenchRoot() / "abi-cost";
}

uint64_t DatasetBytes() {
  const char* mib = std::getenv("BKP_ABI_BENCH_MIB");
  return (mib != nullptr ? std::strtoull(mib, nullptr, 10) : 1024) << 20;
}

// Every file a backup reads, read whole with pread. Returns bytes read.
uint64_t ReadDirectly(const fs::path& dir, std::vector<char>& buf) {
  uint64_t total = 0;
  for (const fs::path& file : bench::BackedUpFiles(dir)) {
    int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    uint64_t offset = 0;
    ssize_t n;
    while ((n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(offset))) > 0) {
      offset += static_cast<uint64_t>(n);
    }
    ::close(fd);
    total += offset;
  }
  return total;
}

void BM_AbiCost(benchmark::State& state) {
  const fs::path data = DatasetDir();
  if (auto st = bench::EnsureDataset(data, DatasetBytes()); !st.ok()) {
    state.SkipWithError(st.ToString().c_str());
    return;
  }
  hoststub::StorageOptions options;
  options.data_dir = data;
  options.fsync = hoststub::FsyncPolicy::kNever;
  options.compaction_interval = std::chrono::milliseconds(0);
  auto store = hoststub::EventStore::Open(options);
  if (!store.ok()) {
    state.SkipWithError(store.status().ToString().c_str());
    return;
  }
  auto config = hoststub::ParseHostConfig("plugin_dir = \"" BKP_PLUGIN_DIR
                                          "\"\n[[providers]]\nname = \"null\"\nplugin = \"null\"\n",
                                          "<abi bench>");
  if (!config.ok()) {
    state.SkipWithError(config.status().ToString().c_str());
    return;
  }
  auto registry = hoststub::ProviderRegistry::Load(*config, [](auto, auto, auto) {});
  if (!registry.ok()) {
    state.SkipWithError(registry.status().ToString().c_str());
    return;
  }
  hoststub::LoadedProvider* null = registry->Find("null").get();
  const hoststub::ProviderRef ref{null->name(), null->table(), null->instance()};

  std::vector<char> buf(kBuffer);
  double direct_s = 0;
  double null_s = 0;
  uint64_t direct_bytes = 0;
  uint64_t null_bytes = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    direct_bytes += ReadDirectly(data, buf);
    auto t1 = Clock::now();
    bkp_operation op;
    auto outcome = hoststub::RunBackup(**store, ref, BKP_BACKUP_FULL, op);
    auto t2 = Clock::now();
    if (!outcome.ok()) {
      state.SkipWithError(outcome.status().ToString().c_str());
      return;
    }
    null_bytes += outcome->bytes_read;
    direct_s += std::chrono::duration<double>(t1 - t0).count();
    null_s += std::chrono::duration<double>(t2 - t1).count();
    state.SetIterationTime(std::chrono::duration<double>(t2 - t1).count());
  }
  const double direct_rate = static_cast<double>(direct_bytes) / direct_s;
  const double null_rate = static_cast<double>(null_bytes) / null_s;
  state.counters["dataset_MiB"] = static_cast<double>(bench::DirectoryBytes(data)) / (1 << 20);
  state.counters["direct_MiBps"] = direct_rate / (1 << 20);
  state.counters["null_MiBps"] = null_rate / (1 << 20);
  state.counters["null_vs_direct"] = null_rate / direct_rate;
  state.SetBytesProcessed(static_cast<int64_t>(null_bytes));
}

BENCHMARK(BM_AbiCost)->UseManualTime()->Iterations(5)->Unit(benchmark::kMillisecond);

}  // namespace
