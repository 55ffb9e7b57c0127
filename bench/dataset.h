// A realistic event-store data directory for the benchmarks: written through
// the real storage engine (fsync off, default 64 MiB event / 16 MiB log
// segments) with JSON-like events of 200-2000 bytes from the deterministic
// event generator, so the same seed always gives the same bytes.
//
// Thread-safety: one call at a time per directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "util/status.h"

namespace bench {

// How a dataset is laid out. The default is the backup suite's: two
// contexts (most traffic to "default", a tenth to "audit"), the engine's
// default segment sizes, batches of 50 events. The scale suite asks for many
// contexts and small segments, so tens of thousands of closed segments hold
// a modest number of bytes.
struct Layout {
  uint32_t contexts = 0;       // 0: "default" and "audit"; N: ctx-000 .. ctx-(N-1), even traffic
  uint64_t segment_bytes = 0;  // 0: engine defaults; else both log and event segments
  uint32_t batch_events = 50;  // events per append (one log record)
};

// Creates `dir` if it does not hold a dataset of at least `target_bytes`
// already (a marker file records what was generated), so repeated benchmark
// runs reuse it. Total size counts every file of the directory.
hoststub::Status EnsureDataset(const std::filesystem::path& dir, uint64_t target_bytes,
                               uint64_t seed = 1, const Layout& layout = {});

// Appends events to an existing dataset until it has grown by `percent` %
// of its size (segments roll as they would on a live host). Deterministic
// for a given seed. Marks the dataset as mutated, so EnsureDataset builds a
// fresh one next time.
// `layout` must be the one the dataset was built with.
hoststub::Status MutateDataset(const std::filesystem::path& dir, double percent, uint64_t seed,
                               const Layout& layout = {});

// The files a backup of the dataset at `dir` reads: every regular file but
// the host's LOCK and hidden ones (the dataset marker, a backup's scratch).
std::vector<std::filesystem::path> BackedUpFiles(const std::filesystem::path& dir);

// Sum of the sizes of every regular file under `dir`.
uint64_t DirectoryBytes(const std::filesystem::path& dir);

// Where benchmark data lives: $BKP_BENCH_DIR or /tmp/bkp-bench.
std::filesystem::path BenchRoot();

}  // namespace bench
