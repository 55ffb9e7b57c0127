// The EventStore's insides, shared by the files that implement it (the
// store itself, recovery, the append path, compaction): a context and the
// store's state. Not for use outside storage/.
//
// Thread-safety: as documented per member; the locks are taken as
// event_store.h describes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "storage/control_db.h"
#include "storage/env.h"
#include "storage/event_store.h"
#include "storage/segmented_stream.h"

namespace hoststub {

// Host wall clock, ms since the epoch: the timestamp events carry.
int64_t WallClockMs();

// One context: its log and its two event streams, with the counters of the
// append path. `mu` guards the streams and last_index; `sync_mu` serialises
// group fsyncs so concurrent appenders share one.
struct Context {
  std::string name;
  std::filesystem::path dir;
  // Held shared by every read and append of the context for its whole
  // length, exclusively while a per-context restore swaps it: a reader sees
  // the old context or the restored one, never a mix. Taken before mu.
  std::shared_mutex swap_mu;
  std::mutex mu;
  std::unique_ptr<SegmentedStream> log;
  std::unique_ptr<SegmentedStream> events;
  std::unique_ptr<SegmentedStream> snapshots;
  uint64_t term = 0;
  uint64_t last_index = 0;
  // A failed write leaves the files in a state only recovery may judge; the
  // context then refuses appends until the host restarts.
  Status failure;

  std::mutex sync_mu;
  uint64_t synced_index = 0;  // guarded by sync_mu
  std::atomic<uint64_t> commit_index{0};
  uint64_t persisted_commit_index = 0;  // guarded by Impl::persist_mu

  SegmentedStream& stream(StreamRole role) {
    return role == StreamRole::kLog ? *log : role == StreamRole::kEvents ? *events : *snapshots;
  }
};

struct EventStore::Impl {
  ~Impl();

  StorageOptions options;
  Env* env = Env::Default();  // options.env, or the posix one
  // Once any fsync has failed, no append is taken until the host restarts
  // (see SyncUpTo): the data written before it may be gone whatever a later
  // fsync says, and recovery on the next start is what sorts it out.
  mutable std::atomic<bool> fsync_failed{false};
  int lock_fd = -1;  // flock'ed DATA/LOCK, released when the store is gone
  std::filesystem::path control_db_path;
  std::unique_ptr<ControlDb> db;
  std::vector<std::string> recovery_notes;

  // Contexts a per-context restore is replacing (guarded by restoring_mu):
  // appends to them are refused.
  mutable std::mutex restoring_mu;
  std::set<std::string, std::less<>> restoring;
  Status Restoring(std::string_view context) const;

  mutable std::shared_mutex contexts_mu;  // guards the map, not the contexts
  std::map<std::string, std::unique_ptr<Context>, std::less<>> contexts;
  std::mutex create_mu;  // serialises context creation

  // Compaction holds pin_mu while it deletes, so a pin taken after it starts
  // waits for it and no deletion happens once PinCompaction has returned.
  mutable std::mutex pin_mu;
  int pins = 0;
  // Compaction floors by id (guarded by pin_mu): per context, the lowest log
  // index its holder still needs.
  std::map<uint64_t, std::map<std::string, uint64_t, std::less<>>> floors;
  uint64_t next_floor_id = 1;
  // A restored context's log is another history than the one the floors
  // were raised along: every floor holds all of it again until raised anew
  // (pin_mu taken here).
  void ForgetFloors(std::string_view context);

  // Segment-close subscribers. Announcing holds the shared lock and
  // unsubscribing the exclusive one, so no subscriber is called once its
  // subscription is gone.
  std::shared_mutex subscribers_mu;
  std::map<uint64_t, SegmentClosedFn> subscribers;
  uint64_t next_subscriber_id = 1;

  std::mutex persist_mu;  // PersistCommitIndexes runs on the flusher and callers' threads
  std::mutex flusher_mu;
  std::condition_variable flusher_cv;
  bool stopping = false;
  std::thread flusher;

  SegmentedStream::Options StreamOptions(const std::filesystem::path& dir, StreamRole kind) const {
    SegmentedStream::Options o;
    o.dir = dir / StreamRoleName(kind);
    o.kind = kind;
    o.segment_bytes =
        kind == StreamRole::kLog ? options.log_segment_bytes : options.event_segment_bytes;
    o.durable = options.fsync != FsyncPolicy::kNever;
    o.verify_closed = options.recovery_verify_closed_segments;
    o.closed_headers_only = options.recovery_headers_only;
    o.env = env;
    o.fsync_failed = &fsync_failed;
    return o;
  }

  Context* Find(std::string_view name) const {
    std::shared_lock lock(contexts_mu);
    auto it = contexts.find(name);
    return it == contexts.end() ? nullptr : it->second.get();
  }

  Result<std::unique_ptr<Context>> OpenContext(const std::string& name, uint64_t stored_term,
                                               uint64_t stored_commit);
  Status ReapplyLog(Context& ctx, uint64_t stored_commit, uint64_t* last_term);
  Result<Context*> GetOrCreate(std::string_view name);
  Status FsyncFailed(std::string_view context) const {
    return Status::IOError(fmt::format(
        "the store takes no writes after a failed fsync; restart the host to recover (context "
        "'{}')",
        context));
  }
  Status SyncUpTo(Context& ctx, uint64_t index);
  Status SyncAll();
  void PersistCommitIndexes();
  Result<CompactionReport> Compact();
  uint64_t CompactionFloorOf(const std::string& context) const;
  void AnnounceClosed(const std::string& context, StreamRole role,
                      const std::vector<StreamSegment>& closed);
  void FlusherLoop();
};

}  // namespace hoststub
