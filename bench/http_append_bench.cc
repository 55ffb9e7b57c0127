// Append throughput through the admin HTTP API: an in-process AdminServer on
// a free port, one AdminClient, generated events of 200-2000 bytes, batch
// sizes 1 and 100, fsync never and batch. Each benchmark opens its own store in
// a fresh directory under /tmp and removes it. Reports payload bytes/s and
// events/s over wall-clock time (the work happens on the server's threads).
// Single-threaded benchmark bodies; the server's workers touch only the store.
#include <signal.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include "api/admin_client.h"
#include "api/admin_server.h"
#include "api/event_generator.h"
#include "storage/event_store.h"
#include "storage/options.h"

namespace {

namespace fs = std::filesystem;
using namespace hoststub;

// Enough distinct events that batches do not repeat within a short run;
// generated up front so the generator's cost stays out of the timing.
constexpr size_t kEventPool = 4096;

class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (fs::temp_directory_path() / "bkp-bench-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void BM_HttpAppend(benchmark::State& state, FsyncPolicy fsync, size_t batch) {
  // A client hanging up mid-reply must not kill the benchmark process.
  signal(SIGPIPE, SIG_IGN);
  ScratchDir dir;
  if (dir.path().empty()) return state.SkipWithError("cannot create a directory under /tmp");
  StorageOptions options;
  options.data_dir = dir.path() / "data";
  options.fsync = fsync;
  options.compaction_interval = std::chrono::milliseconds(0);
  Result<std::unique_ptr<EventStore>> store = EventStore::Open(options);
  if (!store.ok()) return state.SkipWithError(store.status().ToString().c_str());
  {
    AdminServer server(**store, ServerOptions{"127.0.0.1", 0});
    Status started = server.Start();
    if (!started.ok()) return state.SkipWithError(started.ToString().c_str());
    AdminClient client("127.0.0.1", server.port());

    const std::vector<std::string> pool =
        EventGenerator({.min_size = 200, .max_size = 2000, .seed = 42}).NextBatch(kEventPool);
    size_t next = 0;
    int64_t bytes = 0;
    int64_t events = 0;
    for (auto _ : state) {
      if (next + batch > pool.size()) next = 0;
      std::span<const std::string> slice(pool.data() + next, batch);
      ApiResult<AppendResult> result = client.Append("bench", slice);
      if (!result.ok()) {
        state.SkipWithError(result.error().message.c_str());
        break;
      }
      for (const std::string& e : slice) bytes += static_cast<int64_t>(e.size());
      events += static_cast<int64_t>(batch);
      next += batch;
    }
    state.SetBytesProcessed(bytes);
    state.SetItemsProcessed(events);
  }  // the client's connection closes before the server stops, so Stop is quick
}

void RegisterHttpAppendBenchmarks() {
  for (const FsyncPolicy fsync : {FsyncPolicy::kNever, FsyncPolicy::kBatch}) {
    for (const size_t batch : {size_t{1}, size_t{100}}) {
      const std::string name =
          fmt::format("BM_HttpAppend/fsync:{}/batch:{}", FsyncPolicyName(fsync), batch);
      benchmark::RegisterBenchmark(name.c_str(), BM_HttpAppend, fsync, batch)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

// Registered before benchmark_main's main() runs, like the BENCHMARK macro.
[[maybe_unused]] const bool kRegistered = (RegisterHttpAppendBenchmarks(), true);

}  // namespace
