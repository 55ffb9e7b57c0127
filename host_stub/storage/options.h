// StorageOptions: every knob of the host's storage engine, with its meaning
// and default. One struct, filled from the [storage] table of the host config
// (config/host_config.h) or directly by tests and benchmarks.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>

namespace hoststub {

class Env;

// When appended data is forced to stable storage before the append is
// acknowledged.
enum class FsyncPolicy {
  // Every acknowledged batch is on disk (group commit: concurrent batches to a
  // context share one fsync). The safe default.
  kBatch,
  // Data is fsynced every `fsync_interval`; a crash may lose the last interval
  // of acknowledged writes.
  kInterval,
  // Never fsync; the OS writes back when it likes. For benchmarks and tests.
  kNever,
};

struct StorageOptions {
  // Root of the data directory: control.db and contexts/<name>/{log,events,snapshots}.
  std::filesystem::path data_dir = "./data";

  // An event (or snapshot) segment is closed and a new one started once the
  // next record would take it past this size. Default 64 MiB.
  uint64_t event_segment_bytes = 64ull << 20;

  // Same for log entry segments. Default 16 MiB.
  uint64_t log_segment_bytes = 16ull << 20;

  FsyncPolicy fsync = FsyncPolicy::kBatch;

  // Period of the background fsync under FsyncPolicy::kInterval. Default 100 ms.
  std::chrono::milliseconds fsync_interval{100};

  // How often each context's commit index is written to the control DB.
  // Default 1 s. It is also written on clean close.
  std::chrono::milliseconds commit_index_interval{1000};

  // Log compaction keeps this many entries below the commit index; segments
  // wholly below (commit index - retention) may be deleted. Default 1,000,000.
  uint64_t log_retention_entries = 1'000'000;

  // Period of background log compaction; zero turns it off (compaction then
  // runs only when asked, via EventStore::CompactLogs). Default 60 s.
  std::chrono::milliseconds compaction_interval{60'000};

  // On open, closed segments are re-read and their checksums verified; this
  // bounds how many of the newest closed segments per stream are (older ones
  // only have their header checked). Zero means all. Default 0 (all).
  uint32_t recovery_verify_closed_segments = 0;

  // Not a config setting: a restore sets it, because the consistency check
  // that follows recovery reads every closed segment anyway. Recovery then
  // checks only their headers, and still reads and repairs the active ones.
  bool recovery_headers_only = false;

  // Not a config setting: how many CompactionFloors the host will hold (hostd
  // sets it to the number of archiving providers). Until that many are
  // registered, log compaction deletes nothing, so no log segment can go
  // before its archiver has learnt how far its archive reaches.
  uint32_t compaction_floors = 0;

  // Not a config setting: the file system the engine writes segments
  // through (storage/env.h); null means the posix one. Tests pass a
  // fault-injecting one. Not owned; must outlive the store.
  Env* env = nullptr;
};

const char* FsyncPolicyName(FsyncPolicy policy);

}  // namespace hoststub
