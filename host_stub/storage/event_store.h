// EventStore: the host's storage engine. One data directory holds the control
// DB (SQLite, WAL) and, per context, a replication log and event/snapshot
// streams in append-only segment files (see docs/storage-format.md).
//
// Append path: a batch becomes one log entry (index, term, payload), is then
// applied as events with consecutive tokens, and is acknowledged once durable
// under the configured FsyncPolicy.
//
// Segment closes are announced to subscribers (OnSegmentClosed) on the
// appending thread, outside the context's lock, so the continuous archiver
// learns of them without touching the write path beyond a queue push; and
// log compaction honours CompactionFloors, so it never deletes a log segment
// the archiver has not yet taken.
//
// Thread-safety: every public method may be called from any thread. Appends to
// different contexts run in parallel; appends to one context are serialised,
// and concurrent batches to a context share fsyncs (group commit).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/context_swap.h"
#include "storage/data_dir_lock.h"  // kDataDirLockFile, CheckDataDirNotInUse
#include "storage/options.h"
#include "storage/store_handle.h"
#include "storage/stream_role.h"
#include "util/status.h"

namespace hoststub {

struct AppendResult {
  uint64_t log_index = 0;    // index of the log entry that carried the batch
  uint64_t first_token = 0;  // token of the batch's first event
  uint64_t last_token = 0;   // token of its last event (first + count - 1)
};

struct StoredEvent {
  uint64_t token = 0;
  uint64_t log_index = 0;    // the log entry the event was applied from
  int64_t timestamp_ms = 0;  // host wall clock at append, ms since the epoch
  std::string payload;
};

struct ContextState {
  std::string name;
  uint64_t term = 0;
  uint64_t first_log_index = 0;  // oldest entry still on disk (after compaction)
  uint64_t last_log_index = 0;   // 0 when the log is empty
  uint64_t commit_index = 0;     // last entry known durable
  uint64_t next_event_token = 0;
  uint64_t next_snapshot_token = 0;
};

// One segment file as the engine sees it right now. For the active segment
// `size` is the length of its whole records at the time of the call: bytes
// past it may be a write in progress.
struct SegmentInfo {
  std::filesystem::path path;
  uint64_t base = 0;  // first index/token the segment holds (its file name)
  uint64_t size = 0;
  uint64_t next = 0;  // one past the last index/token within `size`
  bool closed = false;
};

struct CompactionReport {
  bool pinned = false;  // true: a pin was held, nothing was deleted
  std::vector<std::filesystem::path> deleted;
  // Log segments past the retention point that were kept because a
  // CompactionFloor (an archiver that has not yet archived them) holds them.
  uint64_t kept_for_archive = 0;
};

class EventStore;

// What each StoreHandle holds (see store_handle.h); never defined.
struct CompactionPinTag;
struct CompactionFloorTag;
struct SegmentSubscriptionTag;

// Holds log compaction off while alive. Obtained from EventStore::PinCompaction;
// must not outlive the store. Movable, not copyable.
using CompactionPin = StoreHandle<CompactionPinTag>;

// Keeps a subscriber of EventStore::OnSegmentClosed registered while alive.
// Destroying it unsubscribes, waiting for a call in progress. Must not
// outlive the store. Movable, not copyable.
using SegmentSubscription = StoreHandle<SegmentSubscriptionTag>;

// Keeps log compaction from deleting the log a consumer has not yet taken:
// the continuous archiver holds one per archiving provider and raises it per
// context as log segments reach the archive. Obtained from
// EventStore::AddCompactionFloor; must not outlive the store. Movable, not
// copyable; Raise may be called from any thread.
class CompactionFloor : public StoreHandle<CompactionFloorTag> {
 public:
  CompactionFloor() = default;

  // From now on compaction keeps every log entry of `context` at an index >=
  // `index`. Until a context's floor is first raised, compaction keeps all of
  // that context's log. A floor never goes down: a lower index is ignored.
  void Raise(std::string_view context, uint64_t index);

 private:
  friend class EventStore;
  CompactionFloor(EventStore* store, uint64_t id) : StoreHandle(store, id) {}
};

class EventStore {
 public:
  // Opens (creating if absent) the data directory and recovers it: each active
  // segment is truncated at its last whole record, log entries not yet applied
  // (wholly or in part) are applied, and the term is advanced. Fails with Corruption naming file
  // and offset when a closed segment is damaged: nothing is modified then.
  // Holds an exclusive lock on DATA/LOCK while open: a second store on the
  // same directory (another hostd, a restore) fails with Busy.
  static Result<std::unique_ptr<EventStore>> Open(const StorageOptions& options);

  // Flushes, persists commit indexes and stops background work.
  ~EventStore();
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  // Appends a non-empty batch; the context is created on first use. Returns
  // once the batch is durable per the FsyncPolicy. Context names are
  // [A-Za-z0-9_.-]{1,64}, not starting with '.'. A failed write stops the
  // context, a failed fsync the whole store: every later append fails with
  // IOError until the store is reopened (an fsync is never retried, see
  // docs/storage-format.md), and a batch is never acknowledged unless its
  // own fsync succeeded. `stream` is kEvents or kSnapshots: the log is
  // written by the append itself (InvalidArgument for kLog).
  Result<AppendResult> Append(std::string_view context, std::span<const std::string> events,
                              StreamRole stream = StreamRole::kEvents);

  // Up to `limit` events with token >= from_token, in token order, from the
  // kEvents or kSnapshots stream (InvalidArgument for kLog).
  Result<std::vector<StoredEvent>> Read(std::string_view context, uint64_t from_token, size_t limit,
                                        StreamRole stream = StreamRole::kEvents) const;

  std::vector<std::string> Contexts() const;
  Result<ContextState> State(std::string_view context) const;

  // Segment files of one stream of a context, oldest first; the last one is
  // active.
  Result<std::vector<SegmentInfo>> Segments(std::string_view context, StreamRole role) const;
  // The segments of all three streams of a context at one instant, indexed
  // by StreamRoleIndex. An append writes its log entry and its events under one
  // lock, so these events are exactly those of these log entries: a backup
  // that lists the log and the events apart can hold events whose entry it
  // lacks (recovery drops them), and then says it holds more than restores.
  Result<std::array<std::vector<SegmentInfo>, 3>> SegmentsAtOnce(std::string_view context) const;

  // A segment an append just closed: immutable from now on.
  struct ClosedSegment {
    std::string context;
    StreamRole role = StreamRole::kLog;
    SegmentInfo segment;    // closed is true; next is one past its last index/token
    int64_t closed_ms = 0;  // host wall clock when it closed, ms since the epoch
  };
  // Called once per segment an append closed, on the appending thread after
  // the context's lock is released and before the append returns. It runs on
  // the write path: it must be quick, wait for nothing but a short lock, and
  // not call back into Append. It may read the store (Segments, State, ...).
  // Segments closed while the store recovers on open are not announced.
  using SegmentClosedFn = std::function<void(const ClosedSegment&)>;
  SegmentSubscription OnSegmentClosed(SegmentClosedFn fn);

  // Deletes log segments wholly below (commit index - log_retention_entries)
  // in every context, never the active one, and never one a CompactionFloor
  // holds (see StorageOptions::compaction_floors). Deletes nothing while
  // pinned.
  Result<CompactionReport> CompactLogs();
  CompactionPin PinCompaction();
  bool CompactionPinned() const;
  // A floor under compaction for a consumer of the log (see CompactionFloor).
  CompactionFloor AddCompactionFloor();

  // Per-context restore on the running store (storage/context_swap.h).
  // BeginContextRestore marks `context` (which need not exist yet) as being
  // restored: from then on appends to it fail with Busy ("context C is being
  // restored"), while reads and other contexts go on. Busy if a restore of
  // it already runs. EndContextRestore lifts the mark (call it however the
  // restore ended).
  Status BeginContextRestore(std::string_view context);
  void EndContextRestore(std::string_view context);
  // Makes the staged, checked context of `plan` live in place of
  // plan.context (marked as being restored): waits for its reads and
  // appends in progress, swaps it on disk (SwapInContext) and opens the
  // restored one in place of the old, so that readers see the old context
  // or the restored one. Returns where the old one was set aside (empty:
  // there was none). Refused, changing nothing, when the context exists and
  // the plan does not keep it aside. A failure after the swap was decided
  // leaves the context refusing writes until the host restarts, whose
  // recovery finishes the swap.
  Result<std::filesystem::path> InstallRestoredContext(const ContextSwapPlan& plan);

  // Forces all written data to disk and persists every commit index now.
  Status Sync();

  // A consistent copy of the control DB at this moment (see
  // ControlDb::SnapshotTo). `dest` must not exist.
  Status SnapshotControlDb(const std::filesystem::path& dest);

  // What recovery did on open (truncated tails, re-applied entries, ...), one
  // line each, for the operator's log.
  const std::vector<std::string>& RecoveryNotes() const;

  const StorageOptions& options() const;
  const std::filesystem::path& control_db_path() const;

 private:
  template <typename, typename>
  friend class StoreHandle;
  friend class CompactionFloor;
  struct Impl;
  explicit EventStore(std::unique_ptr<Impl> impl);
  // What a StoreHandle gives back when it dies, by what it holds.
  void ReleaseHandle(CompactionPinTag*, uint64_t id);
  void ReleaseHandle(CompactionFloorTag*, uint64_t id);
  void ReleaseHandle(SegmentSubscriptionTag*, uint64_t id);
  void RaiseFloor(uint64_t id, std::string_view context, uint64_t index);
  std::unique_ptr<Impl> impl_;
};

// Context names end up as directory names: this keeps them to a safe set.
Status ValidateContextName(std::string_view name);

}  // namespace hoststub
