// The storage engine: contexts, the append path with group commit, recovery,
// log compaction with its pin, and the background flusher.
#include "storage/event_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "storage/control_db.h"
#include "storage/env.h"
#include "storage/record.h"
#include "storage/segmented_stream.h"

namespace fs = std::filesystem;

namespace hoststub {
namespace {

using Clock = std::chrono::steady_clock;

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SegmentKind KindOf(StreamKind stream) {
  return stream == StreamKind::kEvents ? SegmentKind::kEvents : SegmentKind::kSnapshots;
}

Result<int> LockDataDir(const fs::path& dir) {
  const fs::path path = dir / kDataDirLockFile;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot open lock file", path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy(fmt::format(
          "data directory '{}' is in use by another process (a running hostd?): '{}' is locked",
          dir.string(), path.string()));
    }
    return ErrnoStatus("cannot lock", path, err);
  }
  return fd;
}

}  // namespace

Status CheckDataDirNotInUse(const fs::path& data_dir) {
  const fs::path path = data_dir / kDataDirLockFile;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Status::OK() : ErrnoStatus("cannot open", path, errno);
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  if (held) {
    return Status::Busy(fmt::format(
        "data directory '{}' is in use by a running host ('{}' is locked): stop it first",
        data_dir.string(), path.string()));
  }
  return Status::OK();
}

Status ValidateContextName(std::string_view name) {
  bool ok = !name.empty() && name.size() <= 64 && name.front() != '.';
  for (char c : name) {
    ok = ok && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.');
  }
  if (!ok) {
    return Status::InvalidArgument(
        fmt::format("invalid context name '{}': use 1-64 characters from A-Z a-z 0-9 _ - . "
                    "not starting with '.'",
                    name));
  }
  return Status::OK();
}

// One context: its log and its two event streams, with the counters of the
// append path. `mu` guards the streams and last_index; `sync_mu` serialises
// group fsyncs so concurrent appenders share one.
struct Context {
  std::string name;
  fs::path dir;
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

  SegmentedStream& stream(StreamKind kind) {
    return kind == StreamKind::kEvents ? *events : *snapshots;
  }
};

struct EventStore::Impl {
  ~Impl() {
    if (lock_fd >= 0) ::close(lock_fd);
  }

  StorageOptions options;
  Env* env = Env::Default();  // options.env, or the posix one
  // Once any fsync has failed, no append is taken until the host restarts
  // (see SyncUpTo): the data written before it may be gone whatever a later
  // fsync says, and recovery on the next start is what sorts it out.
  mutable std::atomic<bool> fsync_failed{false};
  int lock_fd = -1;  // flock'ed DATA/LOCK, released when the store is gone
  fs::path control_db_path;
  std::unique_ptr<ControlDb> db;
  std::vector<std::string> recovery_notes;

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

  SegmentedStream::Options StreamOptions(const fs::path& dir, SegmentKind kind) const {
    SegmentedStream::Options o;
    o.dir = dir / SegmentKindName(kind);
    o.kind = kind;
    o.segment_bytes =
        kind == SegmentKind::kLog ? options.log_segment_bytes : options.event_segment_bytes;
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
  void AnnounceClosed(const std::string& context, SegmentRole role,
                      const std::vector<StreamSegment>& closed);
  void FlusherLoop();
};

Result<std::unique_ptr<Context>> EventStore::Impl::OpenContext(const std::string& name,
                                                               uint64_t stored_term,
                                                               uint64_t stored_commit) {
  auto ctx = std::make_unique<Context>();
  ctx->name = name;
  ctx->dir = options.data_dir / "contexts" / name;
  for (auto [kind, slot] :
       {std::pair{SegmentKind::kLog, &ctx->log}, std::pair{SegmentKind::kEvents, &ctx->events},
        std::pair{SegmentKind::kSnapshots, &ctx->snapshots}}) {
    auto stream = SegmentedStream::Open(StreamOptions(ctx->dir, kind), &recovery_notes);
    if (!stream.ok()) return stream.status();
    *slot = std::move(*stream);
  }
  ctx->last_index = ctx->log->next_seq() - 1;
  // A new term per start, as a restarted Raft node would get from an election.
  uint64_t last_term = 0;
  HOSTSTUB_RETURN_IF_ERROR(ReapplyLog(*ctx, stored_commit, &last_term));
  ctx->term = std::max(stored_term, last_term) + 1;

  uint64_t commit = stored_commit;
  if (commit > ctx->last_index) {
    recovery_notes.push_back(fmt::format(
        "context '{}': commit index {} was beyond the last log entry {} (writes lost with "
        "fsync={}); lowered to {}",
        name, commit, ctx->last_index, FsyncPolicyName(options.fsync), ctx->last_index));
    commit = ctx->last_index;
  }
  // Everything recovered is on disk now (recovery fsyncs what it changes).
  ctx->synced_index = ctx->last_index;
  ctx->commit_index = ctx->last_index;
  ctx->persisted_commit_index = commit;
  return ctx;
}

// Events are applied from the log, and the log entry is the truth. A crash
// can leave the two apart: the log ahead (an entry written, its events not
// yet, or only some of them: a power loss can keep the first records of a
// batch and lose the rest) is caught up here; events ahead of a log that
// lost its tail (possible only without fsync) are cut back.
//
// Which entries to look at, without reading the whole log on every start:
// within a stream every entry before the one its last event came from is
// whole (a stream only ever loses a suffix), and every entry at or below the
// persisted commit index was durable with all its events. So a stream is
// caught up from the entry of its last event or from past the commit index,
// whichever is later. The newest log segment, which is read anyway for the
// last term, is checked entry by entry: if it holds an entry of a stream
// that the stream has not wholly applied, the disk lost data it had
// acknowledged, the commit index is not trusted for that stream, and the
// stream is caught up from its last event's entry. After a clean stop
// nothing more is read. Sets `last_term` to the last entry's term (0 if none).
Status EventStore::Impl::ReapplyLog(Context& ctx, uint64_t stored_commit, uint64_t* last_term) {
  const uint64_t last_index = ctx.last_index;
  const uint64_t commit = std::min(stored_commit, last_index);
  *last_term = 0;
  std::array<uint64_t, 2> applied{0, 0};  // per StreamKind: log index of the last event
  for (StreamKind kind : {StreamKind::kEvents, StreamKind::kSnapshots}) {
    SegmentedStream& s = ctx.stream(kind);
    auto last = s.ReadLastRecord();
    if (!last.ok()) return last.status();
    uint64_t& a = applied[static_cast<size_t>(kind)];
    if (last->has_value()) {
      auto ev = DecodeEvent(**last);
      if (!ev.ok()) return ev.status();
      a = ev->log_index;
    }
    if (a > last_index) {
      HOSTSTUB_RETURN_IF_ERROR(s.TruncateFrom([&](std::string_view payload) {
        auto e = DecodeEvent(payload);
        return e.ok() && e->log_index > last_index;
      }));
      recovery_notes.push_back(
          fmt::format("context '{}': {} ran ahead of the log (last entry {}); cut back to token {}",
                      ctx.name, SegmentKindName(KindOf(kind)), last_index, s.next_seq()));
      a = last_index;
    }
  }
  if (ctx.log->empty()) return Status::OK();

  // The newest log segment that holds entries: the last term, and whether a
  // stream lacks events of an entry in it.
  std::array<bool, 2> behind{false, false};
  const std::vector<StreamSegment> log_segments = ctx.log->Segments();
  for (auto seg = log_segments.rbegin(); seg != log_segments.rend(); ++seg) {
    if (seg->size <= kSegmentHeaderSize) continue;
    Status failure;
    auto scan = ScanSegment(
        seg->path, SegmentKind::kLog, seg->base,
        [&](uint64_t, std::string_view payload) {
          auto entry = DecodeLogEntry(payload);
          if (!entry.ok() || entry->stream > 1) {
            failure = entry.ok() ? Status::Corruption(fmt::format(
                                       "context '{}': log entry {} names unknown stream {}",
                                       ctx.name, entry->index, entry->stream))
                                 : entry.status();
            return false;
          }
          *last_term = entry->term;
          const auto kind = static_cast<StreamKind>(entry->stream);
          if (ctx.stream(kind).next_seq() < entry->first_token + entry->events.size()) {
            behind[entry->stream] = true;
          }
          return true;
        },
        seg->size);
    if (!scan.ok()) return scan.status();
    HOSTSTUB_RETURN_IF_ERROR(failure);
    break;
  }
  uint64_t from = UINT64_MAX;
  for (size_t k = 0; k < 2; ++k) {
    from = std::min(from, behind[k] ? applied[k] : std::max(applied[k], commit + 1));
  }
  if (from > last_index) return Status::OK();
  from = std::max(from, ctx.log->first_seq());

  uint64_t reapplied = 0;
  uint64_t events_reapplied = 0;
  Status failure;
  for (const StreamSegment& seg : log_segments) {
    if (seg.next <= from) continue;
    auto scan = ScanSegment(
        seg.path, SegmentKind::kLog, seg.base,
        [&](uint64_t, std::string_view payload) {
          if (PayloadSequence(payload) < from) return true;
          auto entry = DecodeLogEntry(payload);
          if (!entry.ok()) {
            failure = entry.status();
            return false;
          }
          auto kind = static_cast<StreamKind>(entry->stream);
          SegmentedStream& target = ctx.stream(kind);
          std::string records;
          std::vector<uint32_t> sizes;
          uint64_t token = entry->first_token;
          uint64_t first_new = 0;
          std::string payload_buf;
          for (std::string_view ev : entry->events) {
            if (token >= target.next_seq()) {
              if (token != target.next_seq() + sizes.size()) {
                failure = Status::Corruption(fmt::format(
                    "context '{}': log entry {} applies token {} but the {} stream is at {}",
                    ctx.name, entry->index, token, SegmentKindName(KindOf(kind)),
                    target.next_seq()));
                return false;
              }
              if (sizes.empty()) first_new = token;
              payload_buf.clear();
              // The original timestamp is not in the log; the re-apply time
              // is the closest truthful value.
              EncodeEvent(token, entry->index, WallClockMs(), ev, &payload_buf);
              size_t before = records.size();
              AppendRecord(RecordType::kEvent, payload_buf, &records);
              sizes.push_back(static_cast<uint32_t>(records.size() - before));
            }
            ++token;
          }
          if (!sizes.empty()) {
            failure = target.Append(records, sizes, first_new);
            if (!failure.ok()) return false;
            ++reapplied;
            events_reapplied += sizes.size();
          }
          return true;
        },
        seg.size);
    if (!scan.ok()) return scan.status();
    HOSTSTUB_RETURN_IF_ERROR(failure);
  }
  if (reapplied > 0) {
    HOSTSTUB_RETURN_IF_ERROR(ctx.events->Sync());
    HOSTSTUB_RETURN_IF_ERROR(ctx.snapshots->Sync());
    recovery_notes.push_back(
        fmt::format("context '{}': applied {} events of {} log entries whose events were not yet "
                    "(or not all) written",
                    ctx.name, events_reapplied, reapplied));
  }
  return Status::OK();
}

Result<std::unique_ptr<EventStore>> EventStore::Open(const StorageOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.env != nullptr) impl->env = options.env;
  std::error_code ec;
  HOSTSTUB_RETURN_IF_ERROR(impl->env->CreateDirs(options.data_dir / "contexts"));
  auto lock = LockDataDir(options.data_dir);
  if (!lock.ok()) return lock.status();
  impl->lock_fd = *lock;
  impl->control_db_path = options.data_dir / "control.db";
  auto db = ControlDb::Open(impl->control_db_path);
  if (!db.ok()) return db.status();
  impl->db = std::move(*db);
  auto states = impl->db->LoadReplicationStates();
  if (!states.ok()) return states.status();

  // Contexts are known by their DB row and by their directory; recovery
  // opens the union so that neither side can hide data from the other.
  std::map<std::string, ReplicationState> known = *states;
  for (const auto& entry : fs::directory_iterator(options.data_dir / "contexts", ec)) {
    if (entry.is_directory() && ValidateContextName(entry.path().filename().string()).ok()) {
      known.try_emplace(entry.path().filename().string());
    }
  }
  for (const auto& [name, state] : known) {
    auto ctx = impl->OpenContext(name, state.term, state.commit_index);
    if (!ctx.ok()) return ctx.status();
    HOSTSTUB_RETURN_IF_ERROR(impl->db->EnsureContext(name));
    HOSTSTUB_RETURN_IF_ERROR(impl->db->SaveTerm(name, (*ctx)->term));
    impl->contexts.emplace(name, std::move(*ctx));
  }
  impl->PersistCommitIndexes();
  std::unique_ptr<EventStore> store(new EventStore(std::move(impl)));
  store->impl_->flusher = std::thread([s = store.get()] { s->impl_->FlusherLoop(); });
  return store;
}

EventStore::EventStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

EventStore::~EventStore() {
  {
    std::lock_guard lock(impl_->flusher_mu);
    impl_->stopping = true;
  }
  impl_->flusher_cv.notify_all();
  if (impl_->flusher.joinable()) impl_->flusher.join();
  // A destructor has no caller to tell. A failed fsync has raised
  // fsync_failed, and a caller that needs the data durable calls Sync first.
  (void)Sync();
}

Result<Context*> EventStore::Impl::GetOrCreate(std::string_view name) {
  if (Context* ctx = Find(name)) return ctx;
  HOSTSTUB_RETURN_IF_ERROR(ValidateContextName(name));
  std::lock_guard create(create_mu);
  if (Context* ctx = Find(name)) return ctx;
  if (fsync_failed.load(std::memory_order_acquire)) return FsyncFailed(name);
  std::string n(name);
  HOSTSTUB_RETURN_IF_ERROR(db->EnsureContext(n));
  auto ctx = OpenContext(n, 0, 0);
  if (!ctx.ok()) return ctx.status();
  HOSTSTUB_RETURN_IF_ERROR(db->SaveTerm(n, (*ctx)->term));
  if (options.fsync != FsyncPolicy::kNever) {
    if (Status st = env->SyncDir(options.data_dir / "contexts"); !st.ok()) {
      fsync_failed.store(true, std::memory_order_release);
      return st;
    }
  }
  Context* raw = ctx->get();
  std::unique_lock lock(contexts_mu);
  contexts.emplace(std::move(n), std::move(*ctx));
  return raw;
}

Result<AppendResult> EventStore::Append(std::string_view context,
                                        std::span<const std::string> events, StreamKind stream) {
  if (events.empty()) {
    return Status::InvalidArgument(fmt::format("empty batch for context '{}'", context));
  }
  for (const auto& e : events) {
    if (e.size() + kEventPrefixSize > kMaxRecordPayload) {
      return Status::InvalidArgument(fmt::format("event of {} bytes exceeds the limit of {} bytes",
                                                 e.size(), kMaxRecordPayload - kEventPrefixSize));
    }
  }
  if (impl_->fsync_failed.load(std::memory_order_acquire)) return impl_->FsyncFailed(context);
  auto found = impl_->GetOrCreate(context);
  if (!found.ok()) return found.status();
  Context& ctx = **found;

  // Encoding happens before taking the lock except for what needs the
  // sequence numbers, which only the lock can hand out.
  std::string log_payload;
  std::string log_record;
  std::string event_records;
  std::string event_payload;
  std::vector<uint32_t> event_sizes;
  event_sizes.reserve(events.size());
  // Segments this append closes, announced once the lock is released.
  std::vector<StreamSegment> closed_log;
  std::vector<StreamSegment> closed_events;
  AppendResult result;
  {
    std::lock_guard lock(ctx.mu);
    if (!ctx.failure.ok()) return ctx.failure;
    SegmentedStream& target = ctx.stream(stream);
    result.log_index = ctx.last_index + 1;
    result.first_token = target.next_seq();
    result.last_token = result.first_token + events.size() - 1;

    EncodeLogEntry(result.log_index, ctx.term, result.first_token, static_cast<uint32_t>(stream),
                   events, &log_payload);
    AppendRecord(RecordType::kLogEntry, log_payload, &log_record);
    const int64_t now = WallClockMs();
    uint64_t token = result.first_token;
    for (const auto& e : events) {
      event_payload.clear();
      EncodeEvent(token++, result.log_index, now, e, &event_payload);
      size_t before = event_records.size();
      AppendRecord(RecordType::kEvent, event_payload, &event_records);
      event_sizes.push_back(static_cast<uint32_t>(event_records.size() - before));
    }
    const uint32_t log_size = static_cast<uint32_t>(log_record.size());
    Status st = ctx.log->Append(log_record, {&log_size, 1}, result.log_index, &closed_log);
    if (st.ok()) st = target.Append(event_records, event_sizes, result.first_token, &closed_events);
    if (!st.ok()) {
      ctx.failure = Status::IOError(fmt::format(
          "context '{}' stopped taking writes after a failed write ({}); restart the host to "
          "recover",
          ctx.name, st.ToString()));
      return st;
    }
    ctx.last_index = result.log_index;
    if (impl_->options.fsync == FsyncPolicy::kNever) ctx.commit_index = result.log_index;
  }
  impl_->AnnounceClosed(ctx.name, SegmentRole::kLog, closed_log);
  impl_->AnnounceClosed(
      ctx.name, stream == StreamKind::kEvents ? SegmentRole::kEvents : SegmentRole::kSnapshots,
      closed_events);
  if (impl_->options.fsync == FsyncPolicy::kBatch) {
    HOSTSTUB_RETURN_IF_ERROR(impl_->SyncUpTo(ctx, result.log_index));
  }
  return result;
}

// Group commit: whoever gets sync_mu first fsyncs everything written so far,
// and every appender whose entry that covered returns without a syscall.
Status EventStore::Impl::SyncUpTo(Context& ctx, uint64_t index) {
  std::lock_guard sync(ctx.sync_mu);
  if (ctx.synced_index >= index) return Status::OK();
  uint64_t target;
  // Only streams written since their last sync: an fdatasync of an unchanged
  // file still costs a journal round trip on most filesystems.
  std::vector<std::shared_ptr<StreamFile>> files;
  {
    std::lock_guard lock(ctx.mu);
    // After a failed fsync nothing written before it may be called durable:
    // the files it failed on were taken (TakeUnsynced) and a retry would find
    // "nothing to sync" and acknowledge data the kernel may have dropped.
    if (!ctx.failure.ok()) return ctx.failure;
    // Store-wide too: a failed fsync elsewhere (a segment created for this
    // context by an append that raced the failure) makes no promise either.
    if (fsync_failed.load(std::memory_order_acquire)) return FsyncFailed(ctx.name);
    target = ctx.last_index;
    for (SegmentedStream* s : {ctx.log.get(), ctx.events.get(), ctx.snapshots.get()}) {
      if (auto file = s->TakeUnsynced()) files.push_back(std::move(file));
    }
  }
  // Log first: events on disk without their log entry would be unexplained.
  for (auto& f : files) {
    Status st = f->Sync();
    if (!st.ok()) {
      // After a failed fsync the kernel may have dropped the dirty pages:
      // retrying could report success for data that is gone. Stop writing.
      fsync_failed.store(true, std::memory_order_release);
      std::lock_guard lock(ctx.mu);
      ctx.failure = Status::IOError(fmt::format(
          "context '{}' stopped taking writes after a failed fsync ({}); restart the host to "
          "recover",
          ctx.name, st.ToString()));
      return st;
    }
  }
  ctx.synced_index = target;
  ctx.commit_index = target;
  return Status::OK();
}

Result<std::vector<StoredEvent>> EventStore::Read(std::string_view context, uint64_t from_token,
                                                  size_t limit, StreamKind stream) const {
  Context* ctx = impl_->Find(context);
  if (ctx == nullptr) return Status::NotFound(fmt::format("no context '{}'", context));
  std::vector<StreamSegment> segments;
  {
    std::lock_guard lock(ctx->mu);
    segments = ctx->stream(stream).Segments();
  }
  std::vector<StoredEvent> out;
  for (size_t i = 0; i < segments.size() && out.size() < limit; ++i) {
    if (i + 1 < segments.size() && segments[i + 1].base <= from_token) continue;
    Status failure;
    auto scan = ScanSegment(
        segments[i].path, KindOf(stream), segments[i].base,
        [&](uint64_t, std::string_view payload) {
          if (PayloadSequence(payload) < from_token) return true;
          auto ev = DecodeEvent(payload);
          if (!ev.ok()) {
            failure = ev.status();
            return false;
          }
          out.push_back({ev->token, ev->log_index, ev->timestamp_ms, std::string(ev->payload)});
          return out.size() < limit;
        },
        segments[i].size);
    if (!scan.ok()) return scan.status();
    HOSTSTUB_RETURN_IF_ERROR(failure);
    if (!scan->clean()) {
      return Status::Corruption(fmt::format("'{}' at offset {}: {}", segments[i].path.string(),
                                            scan->error_offset, scan->error));
    }
  }
  return out;
}

std::vector<std::string> EventStore::Contexts() const {
  std::shared_lock lock(impl_->contexts_mu);
  std::vector<std::string> out;
  for (const auto& [name, ctx] : impl_->contexts) out.push_back(name);
  return out;
}

Result<ContextState> EventStore::State(std::string_view context) const {
  Context* ctx = impl_->Find(context);
  if (ctx == nullptr) return Status::NotFound(fmt::format("no context '{}'", context));
  std::lock_guard lock(ctx->mu);
  ContextState s;
  s.name = ctx->name;
  s.term = ctx->term;
  s.first_log_index = ctx->log->first_seq();
  s.last_log_index = ctx->last_index;
  s.commit_index = ctx->commit_index;
  s.next_event_token = ctx->events->next_seq();
  s.next_snapshot_token = ctx->snapshots->next_seq();
  return s;
}

namespace {

std::vector<SegmentInfo> ToSegmentInfos(const std::vector<StreamSegment>& segments) {
  std::vector<SegmentInfo> out;
  out.reserve(segments.size());
  for (const auto& s : segments) {
    out.push_back(
        {.path = s.path, .base = s.base, .size = s.size, .next = s.next, .closed = s.closed});
  }
  return out;
}

}  // namespace

Result<std::vector<SegmentInfo>> EventStore::Segments(std::string_view context,
                                                      SegmentRole role) const {
  Context* ctx = impl_->Find(context);
  if (ctx == nullptr) return Status::NotFound(fmt::format("no context '{}'", context));
  std::vector<StreamSegment> segments;
  {
    std::lock_guard lock(ctx->mu);
    const SegmentedStream& s = role == SegmentRole::kLog      ? *ctx->log
                               : role == SegmentRole::kEvents ? *ctx->events
                                                              : *ctx->snapshots;
    segments = s.Segments();
  }
  return ToSegmentInfos(segments);
}

Result<std::array<std::vector<SegmentInfo>, 3>> EventStore::SegmentsAtOnce(
    std::string_view context) const {
  Context* ctx = impl_->Find(context);
  if (ctx == nullptr) return Status::NotFound(fmt::format("no context '{}'", context));
  std::array<std::vector<StreamSegment>, 3> streams;
  {
    std::lock_guard lock(ctx->mu);
    streams = {ctx->log->Segments(), ctx->events->Segments(), ctx->snapshots->Segments()};
  }
  return std::array<std::vector<SegmentInfo>, 3>{
      ToSegmentInfos(streams[0]), ToSegmentInfos(streams[1]), ToSegmentInfos(streams[2])};
}

void EventStore::Impl::AnnounceClosed(const std::string& context, SegmentRole role,
                                      const std::vector<StreamSegment>& closed) {
  if (closed.empty()) return;
  std::shared_lock lock(subscribers_mu);
  const int64_t now = WallClockMs();
  for (const StreamSegment& s : closed) {
    const ClosedSegment announced{
        context, role,
        SegmentInfo{.path = s.path, .base = s.base, .size = s.size, .next = s.next, .closed = true},
        now};
    for (auto& [id, fn] : subscribers) {
      // The write has succeeded whatever a subscriber does; the archiver
      // finds an unannounced segment by its own scan.
      try {
        fn(announced);
      } catch (...) {
      }
    }
  }
}

// The lowest log index any floor still needs in `context` (pin_mu held):
// every entry while fewer floors are registered than the host will hold.
uint64_t EventStore::Impl::CompactionFloorOf(const std::string& context) const {
  if (floors.size() < options.compaction_floors) return 0;
  uint64_t keep_from = UINT64_MAX;
  for (const auto& [id, by_context] : floors) {
    auto it = by_context.find(context);
    keep_from = std::min(keep_from, it == by_context.end() ? 0 : it->second);
  }
  return keep_from;
}

Result<CompactionReport> EventStore::Impl::Compact() {
  CompactionReport report;
  std::lock_guard pin(pin_mu);
  if (pins > 0) {
    report.pinned = true;
    return report;
  }
  std::vector<Context*> all;
  {
    std::shared_lock lock(contexts_mu);
    for (auto& [name, ctx] : contexts) all.push_back(ctx.get());
  }
  for (Context* ctx : all) {
    const uint64_t commit = ctx->commit_index;
    if (commit <= options.log_retention_entries) continue;
    const uint64_t retention_point = commit - options.log_retention_entries;
    const uint64_t keep_from = std::min(retention_point, CompactionFloorOf(ctx->name));
    std::lock_guard lock(ctx->mu);
    report.kept_for_archive +=
        ctx->log->CountSegmentsBelow(retention_point) - ctx->log->CountSegmentsBelow(keep_from);
    auto deleted = ctx->log->DeleteSegmentsBelow(keep_from);
    if (!deleted.ok()) return deleted.status();
    report.deleted.insert(report.deleted.end(), deleted->begin(), deleted->end());
  }
  return report;
}

Result<CompactionReport> EventStore::CompactLogs() { return impl_->Compact(); }

CompactionPin EventStore::PinCompaction() {
  std::lock_guard lock(impl_->pin_mu);
  ++impl_->pins;
  return CompactionPin(this);
}

void EventStore::ReleasePin() {
  std::lock_guard lock(impl_->pin_mu);
  --impl_->pins;
}

bool EventStore::CompactionPinned() const {
  std::lock_guard lock(impl_->pin_mu);
  return impl_->pins > 0;
}

CompactionFloor EventStore::AddCompactionFloor() {
  std::lock_guard lock(impl_->pin_mu);
  const uint64_t id = impl_->next_floor_id++;
  impl_->floors[id];
  return CompactionFloor(this, id);
}

void EventStore::RaiseFloor(uint64_t id, std::string_view context, uint64_t index) {
  std::lock_guard lock(impl_->pin_mu);
  auto& by_context = impl_->floors[id];
  auto it = by_context.find(context);
  if (it == by_context.end()) {
    by_context.emplace(std::string(context), index);
  } else {
    it->second = std::max(it->second, index);
  }
}

void EventStore::RemoveFloor(uint64_t id) {
  std::lock_guard lock(impl_->pin_mu);
  impl_->floors.erase(id);
}

SegmentSubscription EventStore::OnSegmentClosed(SegmentClosedFn fn) {
  std::unique_lock lock(impl_->subscribers_mu);
  const uint64_t id = impl_->next_subscriber_id++;
  impl_->subscribers.emplace(id, std::move(fn));
  return SegmentSubscription(this, id);
}

void EventStore::Unsubscribe(uint64_t id) {
  std::unique_lock lock(impl_->subscribers_mu);
  impl_->subscribers.erase(id);
}

CompactionFloor::CompactionFloor(CompactionFloor&& other) noexcept
    : store_(other.store_), id_(other.id_) {
  other.store_ = nullptr;
}

CompactionFloor& CompactionFloor::operator=(CompactionFloor&& other) noexcept {
  if (this != &other) {
    if (store_ != nullptr) store_->RemoveFloor(id_);
    store_ = other.store_;
    id_ = other.id_;
    other.store_ = nullptr;
  }
  return *this;
}

CompactionFloor::~CompactionFloor() {
  if (store_ != nullptr) store_->RemoveFloor(id_);
}

void CompactionFloor::Raise(std::string_view context, uint64_t index) {
  if (store_ != nullptr) store_->RaiseFloor(id_, context, index);
}

SegmentSubscription::SegmentSubscription(SegmentSubscription&& other) noexcept
    : store_(other.store_), id_(other.id_) {
  other.store_ = nullptr;
}

SegmentSubscription& SegmentSubscription::operator=(SegmentSubscription&& other) noexcept {
  if (this != &other) {
    if (store_ != nullptr) store_->Unsubscribe(id_);
    store_ = other.store_;
    id_ = other.id_;
    other.store_ = nullptr;
  }
  return *this;
}

SegmentSubscription::~SegmentSubscription() {
  if (store_ != nullptr) store_->Unsubscribe(id_);
}

CompactionPin::CompactionPin(CompactionPin&& other) noexcept : store_(other.store_) {
  other.store_ = nullptr;
}

CompactionPin& CompactionPin::operator=(CompactionPin&& other) noexcept {
  if (this != &other) {
    if (store_ != nullptr) store_->ReleasePin();
    store_ = other.store_;
    other.store_ = nullptr;
  }
  return *this;
}

CompactionPin::~CompactionPin() {
  if (store_ != nullptr) store_->ReleasePin();
}

void EventStore::Impl::PersistCommitIndexes() {
  std::lock_guard persisting(persist_mu);
  std::map<std::string, uint64_t> changed;
  std::vector<std::pair<Context*, uint64_t>> updates;
  {
    std::shared_lock lock(contexts_mu);
    for (auto& [name, ctx] : contexts) {
      uint64_t c = ctx->commit_index;
      if (c != ctx->persisted_commit_index) {
        changed[name] = c;
        updates.emplace_back(ctx.get(), c);
      }
    }
  }
  if (!db->SaveCommitIndexes(changed).ok()) return;  // retried on the next tick
  for (auto [ctx, c] : updates) ctx->persisted_commit_index = c;
}

Status EventStore::Impl::SyncAll() {
  std::vector<Context*> all;
  {
    std::shared_lock lock(contexts_mu);
    for (auto& [name, ctx] : contexts) all.push_back(ctx.get());
  }
  Status first_error;
  for (Context* ctx : all) {
    uint64_t last;
    {
      std::lock_guard lock(ctx->mu);
      last = ctx->last_index;
    }
    Status st = SyncUpTo(*ctx, last);
    if (!st.ok() && first_error.ok()) first_error = st;
  }
  return first_error;
}

Status EventStore::Sync() {
  Status st = impl_->SyncAll();
  impl_->PersistCommitIndexes();
  return st;
}

void EventStore::Impl::FlusherLoop() {
  auto next_fsync = Clock::now() + options.fsync_interval;
  auto next_commit = Clock::now() + options.commit_index_interval;
  auto next_compaction = Clock::now() + options.compaction_interval;
  const bool interval_fsync = options.fsync == FsyncPolicy::kInterval;
  const bool compaction_on = options.compaction_interval.count() > 0;
  std::unique_lock lock(flusher_mu);
  while (!stopping) {
    auto wake = next_commit;
    if (interval_fsync) wake = std::min(wake, next_fsync);
    if (compaction_on) wake = std::min(wake, next_compaction);
    flusher_cv.wait_until(lock, wake, [&] { return stopping; });
    if (stopping) break;
    lock.unlock();
    auto now = Clock::now();
    if (interval_fsync && now >= next_fsync) {
      (void)SyncAll();  // a failure is retried next tick; appends report their own
      next_fsync = now + options.fsync_interval;
    }
    if (now >= next_commit) {
      PersistCommitIndexes();
      next_commit = now + options.commit_index_interval;
    }
    if (compaction_on && now >= next_compaction) {
      // Background work: a failure leaves the segments for the next tick
      // (CompactLogs reports the same failure to a caller that asks).
      (void)Compact();
      next_compaction = now + options.compaction_interval;
    }
    lock.lock();
  }
}

const std::vector<std::string>& EventStore::RecoveryNotes() const { return impl_->recovery_notes; }
Status EventStore::SnapshotControlDb(const fs::path& dest) {
  // The flusher persists commit indexes every commit_index_interval; a
  // backup's copy should carry them as of now, not as of the last tick.
  impl_->PersistCommitIndexes();
  return impl_->db->SnapshotTo(dest);
}

const StorageOptions& EventStore::options() const { return impl_->options; }
const fs::path& EventStore::control_db_path() const { return impl_->control_db_path; }

}  // namespace hoststub
