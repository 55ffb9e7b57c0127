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

// Creates `dir` if it does not hold a dataset of at least `target_bytes`
// already (a marker file records what was generated), so repeated benchmark
// runs reuse it. Total size counts every file of the directory.
hoststub::Status EnsureDataset(const std::filesystem::path& dir, uint64_t target_bytes,
                               uint64_t seed = 1);

// Appends events to an existing dataset until it has grown by `percent` %
// of its size (segments roll as they would on a live host). Deterministic
// for a given seed. Marks the dataset as mutated, so EnsureDataset builds a
// fresh one next time.
hoststub::Status MutateDataset(const std::filesystem::path& dir, double percent, uint64_t seed);

// The files a backup of the dataset at `dir` reads: every regular file but
// the host's LOCK and hidden ones (the dataset marker, a backup's scratch).
std::vector<std::filesystem::path> BackedUpFiles(const std::filesystem::path& dir);

// Sum of the sizes of every regular file under `dir`.
uint64_t DirectoryBytes(const std::filesystem::path& dir);

// Where benchmark data lives: $BKP_BENCH_DIR or /tmp/bkp-bench.
std::filesystem::path BenchRoot();

}  // namespace bench
