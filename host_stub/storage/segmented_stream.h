// SegmentedStream: one append-only sequence of records spread over segment
// files in one directory (a context's log, events or snapshots). The newest
// segment is active and appended to; every older one is closed and immutable.
//
// Thread-safety: none. The owning context serialises every call; readers
// instead take Segments() under that lock and scan the files themselves.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/env.h"
#include "storage/segment.h"
#include "util/file.h"
#include "util/status.h"

namespace hoststub {

struct StreamSegment {
  std::filesystem::path path;
  uint64_t base = 0;
  uint64_t size = 0;  // whole records only, for the active segment
  uint64_t next = 0;  // one past the last sequence held (filled by Segments())
  bool closed = false;
};

// A segment file as the stream writes it. After a failed fsync every later
// write and fsync of the file fails with that error: the kernel may have
// dropped the dirty pages and marked them clean, so a later fsync could
// succeed over lost data (PostgreSQL's "fsyncgate"), and a segment closed
// on such a success would be trusted whole by recovery.
// Thread-safety: as EnvFile; the failure is guarded by its own mutex.
class StreamFile {
 public:
  StreamFile(std::unique_ptr<EnvFile> file, std::atomic<bool>* fsync_failed)
      : file_(std::move(file)), fsync_failed_(fsync_failed) {}
  Status PWriteAll(const void* data, size_t size, uint64_t offset);
  Status Sync();
  Status Truncate(uint64_t size) { return file_->Truncate(size); }

 private:
  std::unique_ptr<EnvFile> file_;
  std::atomic<bool>* fsync_failed_;  // the owner's flag, may be null
  std::mutex mu_;
  Status sync_failure_;  // guarded by mu_
  std::atomic<bool> failed_{false};
};

class SegmentedStream {
 public:
  struct Options {
    std::filesystem::path dir;
    StreamRole kind = StreamRole::kEvents;
    uint64_t segment_bytes = 64ull << 20;
    // fsync each closed segment and directory entries as they change.
    bool durable = true;
    // How many of the newest closed segments to re-verify on open (0 = all).
    uint32_t verify_closed = 0;
    // Check only the headers of closed segments (StorageOptions::recovery_headers_only).
    bool closed_headers_only = false;
    // Every create, write, fsync, truncate and removal goes through it; not
    // owned, must outlive the stream.
    Env* env = Env::Default();
    // Set (if given) when any fsync of this stream fails, so the owner can
    // stop every write: see StreamFile. Must outlive the stream.
    std::atomic<bool>* fsync_failed = nullptr;
  };

  // Opens the directory (creating it and a first segment if empty) and
  // recovers: the active segment is truncated at its last whole record (each
  // truncation is described in `notes`). A damaged closed segment, a gap
  // between segments or a bad header on a non-empty active segment fails with
  // Corruption naming the file and offset; nothing is changed then.
  static Result<std::unique_ptr<SegmentedStream>> Open(const Options& options,
                                                       std::vector<std::string>* notes);

  // Appends whole encoded records (record.h framing). `sizes` gives each
  // record's length within `records`; `first_seq` must equal next_seq().
  // Rolls to a new segment when a record would take the active one past the
  // segment size (a segment always takes at least one record). Each segment
  // a roll closed is added to `closed` (if given), with its `next` filled.
  Status Append(std::string_view records, std::span<const uint32_t> sizes, uint64_t first_seq,
                std::vector<StreamSegment>* closed = nullptr);

  // fsyncs the active segment.
  Status Sync();
  // The active segment's file if it was appended to since the last call
  // (else null), kept alive for a group fsync outside the lock. The caller
  // then owes it an fsync. Segments closed by a roll were fsynced already.
  std::shared_ptr<StreamFile> TakeUnsynced();

  uint64_t next_seq() const { return next_seq_; }
  uint64_t first_seq() const { return segments_.front().base; }
  bool empty() const { return next_seq_ == segments_.front().base; }
  std::vector<StreamSegment> Segments() const;

  // The payload of the last record, if any (scans the newest non-empty segment).
  Result<std::optional<std::string>> ReadLastRecord() const;

  // Removes every record from the first one for which `beyond` is true (the
  // predicate must be monotone over the stream) to the end; empties whole
  // segments as needed. Used by recovery when events ran ahead of the log.
  Status TruncateFrom(const std::function<bool(std::string_view payload)>& beyond);

  // Deletes closed segments whose records all have sequence < `seq`.
  Result<std::vector<std::filesystem::path>> DeleteSegmentsBelow(uint64_t seq);
  // How many segments DeleteSegmentsBelow(seq) would delete.
  size_t CountSegmentsBelow(uint64_t seq) const;

 private:
  explicit SegmentedStream(Options options) : options_(std::move(options)) {}
  std::filesystem::path PathOf(uint64_t base) const;
  Status CreateSegment(uint64_t base);
  Status OpenActive(uint64_t size);
  // Syncs a file or the directory, raising Options::fsync_failed on failure.
  Status SyncNew(EnvFile& file);
  Status SyncDir();
  Status Recover(std::vector<std::string>* notes);

  Options options_;
  std::vector<StreamSegment> segments_;  // sorted by base; back() is active
  std::shared_ptr<StreamFile> active_;
  bool unsynced_ = false;  // appended to since the last TakeUnsynced
  uint64_t next_seq_ = 0;
};

}  // namespace hoststub
