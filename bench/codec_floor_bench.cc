// The floor under any full backup in the repository format on this
// machine: the engine's codec (repo::FrameEncoder: LZ4 blocks, the frame's
// XXH32 content checksum, XXH3-64 and the XXH3-128 content address) over
// every byte of a data directory held in memory, on one thread per core as
// a backup runs by default, cut into the pieces a backup cuts, with no
// reading, writing or fsync. A real backup does all of this and more, so
// its time can only be longer. The harness sets `cp -r`'s time against this
// floor: that ratio is the best "full backup throughput / cp -r's" any
// implementation of the format can reach here, and the backup's own time
// against it shows how much goes to I/O and plumbing.
//
// Data: the bkp_dataset directory $BKP_CODEC_FLOOR_DIR names (the harness
// passes the dataset it benchmarks), else the ~1 GiB one BM_AbiCost builds.
//
// Run: build/.../bench/host_bench --benchmark_filter=BM_CodecFloor
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataset.h"
#include "discarding_writer.h"
#include "repo/chunk_store.h"
#include "repo/object_codec.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The harness's dataset is read as it is; only the default one is built
// (or grown) to 1 GiB.
hoststub::Status FindDataset(fs::path* dir) {
  if (const char* given = std::getenv("BKP_CODEC_FLOOR_DIR")) {
    *dir = given;
    return fs::is_directory(*dir)
               ? hoststub::Status::OK()
               : hoststub::Status::NotFound("BKP_CODEC_FLOOR_DIR: no directory " + dir->string());
  }
  *dir = bench::BenchRoot() / "abi-cost";
  return bench::EnsureDataset(*dir, uint64_t{1024} << 20);
}

// Reads `path` into pieces of at most repo::kMaxChunkBytes, as a backup cuts
// it. Returns false (with `error` set) when the file cannot be read whole.
bool LoadPieces(const fs::path& path, std::vector<std::vector<char>>& pieces, std::string& error) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot open " + path.string();
    return false;
  }
  const uint64_t size = fs::file_size(path);
  bool ok = true;
  for (uint64_t at = 0; ok && at < size; at += repo::kMaxChunkBytes) {
    std::vector<char> piece(std::min(repo::kMaxChunkBytes, size - at));
    size_t done = 0;
    while (done < piece.size()) {
      const ssize_t n =
          ::pread(fd, piece.data() + done, piece.size() - done, static_cast<off_t>(at + done));
      if (n <= 0) {
        error = "short read of " + path.string();
        ok = false;
        break;
      }
      done += static_cast<size_t>(n);
    }
    pieces.push_back(std::move(piece));
  }
  ::close(fd);
  return ok;
}

// Encodes every piece on `threads` threads, each taking the next one; fed
// kBlockBytes at a time, as the engine reads. Returns the stored bytes.
uint64_t EncodeAll(const std::vector<std::vector<char>>& pieces, unsigned threads) {
  std::atomic<size_t> next{0};
  std::atomic<uint64_t> stored{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < pieces.size();) {
      const std::vector<char>& piece = pieces[i];
      bench::DiscardingWriter out;
      repo::FrameEncoder encoder(out, piece.size());
      for (size_t at = 0; at < piece.size(); at += repo::kBlockBytes) {
        encoder.Update(piece.data() + at, std::min(repo::kBlockBytes, piece.size() - at));
      }
      stored += encoder.Finish().stored_size;
    }
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  return stored;
}

void BM_CodecFloor(benchmark::State& state) {
  fs::path data;
  if (auto st = FindDataset(&data); !st.ok()) {
    state.SkipWithError(st.ToString().c_str());
    return;
  }
  std::vector<std::vector<char>> pieces;
  uint64_t bytes = 0;
  for (const fs::path& file : bench::BackedUpFiles(data)) {
    std::string error;
    if (!LoadPieces(file, pieces, error)) {
      state.SkipWithError(error.c_str());
      return;
    }
  }
  for (const auto& p : pieces) bytes += p.size();
  // Largest first, as the backup job orders them.
  std::stable_sort(pieces.begin(), pieces.end(),
                   [](const auto& a, const auto& b) { return a.size() > b.size(); });
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());

  uint64_t stored = 0;
  double seconds = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    stored = EncodeAll(pieces, threads);
    const double s = std::chrono::duration<double>(Clock::now() - start).count();
    seconds += s;
    state.SetIterationTime(s);
  }
  const double per_iteration = seconds / static_cast<double>(state.iterations());
  state.counters["threads"] = threads;
  state.counters["data_MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.counters["floor_s"] = per_iteration;
  state.counters["floor_MiBps"] = static_cast<double>(bytes) / (1 << 20) / per_iteration;
  state.counters["ratio"] = static_cast<double>(bytes) / static_cast<double>(stored);
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
}

BENCHMARK(BM_CodecFloor)->UseManualTime()->Iterations(3)->Unit(benchmark::kMillisecond);

}  // namespace
