// The storage engine: opening a data directory (lock, control DB, each
// context's recovery), reading, and the background flusher. The append
// path, recovery and compaction live in event_store_append.cc,
// event_store_recovery.cc and event_store_compaction.cc; the data
// directory's lock in data_dir_lock.cc.
#include "storage/event_store.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <shared_mutex>
#include <system_error>

#include "storage/context_swap.h"
#include "storage/data_dir_lock.h"
#include "storage/event_store_impl.h"
#include "storage/record.h"

namespace fs = std::filesystem;

namespace hoststub {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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

EventStore::Impl::~Impl() {
  if (lock_fd >= 0) ::close(lock_fd);
}

Result<std::unique_ptr<EventStore>> EventStore::Open(const StorageOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  if (options.env != nullptr) impl->env = options.env;
  std::error_code ec;
  HOSTSTUB_RETURN_IF_ERROR(impl->env->CreateDirs(options.data_dir / "contexts"));
  HOSTSTUB_ASSIGN_OR_RETURN(impl->lock_fd, LockDataDir(options.data_dir));
  impl->control_db_path = options.data_dir / "control.db";
  HOSTSTUB_ASSIGN_OR_RETURN(impl->db, ControlDb::Open(impl->control_db_path));
  // A per-context restore a crash interrupted: finished if it was decided,
  // its staging removed if not, before any context is opened.
  HOSTSTUB_RETURN_IF_ERROR(RecoverContextSwap(options.data_dir, *impl->db, &impl->recovery_notes));
  // A std::map<context, ReplicationState>; more contexts are added below.
  HOSTSTUB_ASSIGN_OR_RETURN(auto known, impl->db->LoadReplicationStates());

  // Contexts are known by their DB row and by their directory; recovery
  // opens the union so that neither side can hide data from the other.
  for (const auto& entry : fs::directory_iterator(options.data_dir / "contexts", ec)) {
    if (entry.is_directory() && ValidateContextName(entry.path().filename().string()).ok()) {
      known.try_emplace(entry.path().filename().string());
    }
  }
  for (const auto& [name, state] : known) {
    HOSTSTUB_ASSIGN_OR_RETURN(auto ctx, impl->OpenContext(name, state.term, state.commit_index));
    HOSTSTUB_RETURN_IF_ERROR(impl->db->EnsureContext(name));
    HOSTSTUB_RETURN_IF_ERROR(impl->db->SaveTerm(name, ctx->term));
    impl->contexts.emplace(name, std::move(ctx));
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

Result<std::vector<StoredEvent>> EventStore::Read(std::string_view context, uint64_t from_token,
                                                  size_t limit, StreamRole stream) const {
  if (!IsEventStream(stream)) {
    return Status::InvalidArgument(fmt::format(
        "read from context '{}': events are read from the events or the snapshots stream, not "
        "the {}",
        context, StreamRoleName(stream)));
  }
  Context* ctx = impl_->Find(context);
  if (ctx == nullptr) return Status::NotFound(fmt::format("no context '{}'", context));
  // The whole read sees one context: a restore's swap waits for it.
  std::shared_lock swapping(ctx->swap_mu);
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
        segments[i].path, stream, segments[i].base,
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
                                                      StreamRole role) const {
  Context* ctx = impl_->Find(context);
  if (ctx == nullptr) return Status::NotFound(fmt::format("no context '{}'", context));
  std::vector<StreamSegment> segments;
  {
    std::lock_guard lock(ctx->mu);
    segments = ctx->stream(role).Segments();
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

Status EventStore::Impl::Restoring(std::string_view context) const {
  std::lock_guard lock(restoring_mu);
  if (restoring.find(context) == restoring.end()) return Status::OK();
  return Status::Busy(
      fmt::format("context {} is being restored; appends to it are refused until the restore ends "
                  "(hostctl status shows it)",
                  context));
}

void EventStore::Impl::ForgetFloors(std::string_view context) {
  std::lock_guard lock(pin_mu);
  for (auto& [id, by_context] : floors) {
    if (auto it = by_context.find(context); it != by_context.end()) by_context.erase(it);
  }
}

Status EventStore::BeginContextRestore(std::string_view context) {
  HOSTSTUB_RETURN_IF_ERROR(ValidateContextName(context));
  std::lock_guard lock(impl_->restoring_mu);
  if (!impl_->restoring.emplace(context).second) {
    return Status::Busy(fmt::format("context {} is being restored already", context));
  }
  return Status::OK();
}

void EventStore::EndContextRestore(std::string_view context) {
  std::lock_guard lock(impl_->restoring_mu);
  auto it = impl_->restoring.find(context);
  if (it != impl_->restoring.end()) impl_->restoring.erase(it);
}

Result<fs::path> EventStore::InstallRestoredContext(const ContextSwapPlan& plan) {
  if (impl_->Restoring(plan.context).ok()) {
    return Status::InvalidArgument(fmt::format(
        "context '{}' is not marked as being restored: BeginContextRestore first", plan.context));
  }
  // Creation waits: no append may create the context under the swap.
  std::lock_guard create(impl_->create_mu);
  // Before the context's locks (compaction takes pin_mu before them). Were
  // the swap to fail, the floors only hold more than they need until their
  // holders raise them again.
  impl_->ForgetFloors(plan.context);
  Context* ctx = impl_->Find(plan.context);
  if (ctx == nullptr) {
    HOSTSTUB_ASSIGN_OR_RETURN(fs::path aside,
                              SwapInContext(impl_->options.data_dir, *impl_->db, plan));
    HOSTSTUB_ASSIGN_OR_RETURN(auto opened, impl_->OpenContext(plan.context, plan.rows.state.term,
                                                              plan.rows.state.commit_index));
    HOSTSTUB_RETURN_IF_ERROR(impl_->db->SaveTerm(plan.context, opened->term));
    std::unique_lock lock(impl_->contexts_mu);
    impl_->contexts.emplace(plan.context, std::move(opened));
    return aside;
  }
  // Every read and append of it in progress ends first; then nothing else
  // touches its files (commit indexes, fsyncs, appends, compaction) until
  // the restored one is in place.
  std::unique_lock swapping(ctx->swap_mu);
  std::lock_guard persisting(impl_->persist_mu);
  std::lock_guard sync(ctx->sync_mu);
  std::lock_guard lock(ctx->mu);
  // The old files are whole before they are set aside (fsync=never aside).
  for (SegmentedStream* s : {ctx->log.get(), ctx->events.get(), ctx->snapshots.get()}) {
    if (auto file = s->TakeUnsynced()) (void)file->Sync();
  }
  auto aside = SwapInContext(impl_->options.data_dir, *impl_->db, plan);
  if (!aside.ok()) {
    if (aside.status().code() != Status::Code::kRefused) {
      ctx->failure = Status::IOError(fmt::format(
          "context '{}' stopped taking writes: its restore failed midway ({}); restart the host "
          "to finish it",
          ctx->name, aside.status().ToString()));
    }
    return aside.status();
  }
  auto opened =
      impl_->OpenContext(plan.context, plan.rows.state.term, plan.rows.state.commit_index);
  if (!opened.ok()) {
    ctx->failure = Status::IOError(
        fmt::format("context '{}' stopped taking writes: the restored context does not open "
                    "({}); restart the host",
                    ctx->name, opened.status().ToString()));
    return opened.status();
  }
  Context& fresh = **opened;
  // The Context object stays (others hold pointers to it); what it holds is
  // the restored context's. The old streams close here.
  ctx->dir = fresh.dir;
  ctx->log = std::move(fresh.log);
  ctx->events = std::move(fresh.events);
  ctx->snapshots = std::move(fresh.snapshots);
  ctx->term = fresh.term;
  ctx->last_index = fresh.last_index;
  ctx->failure = Status::OK();
  ctx->synced_index = fresh.synced_index;
  ctx->commit_index = fresh.commit_index.load();
  ctx->persisted_commit_index = fresh.persisted_commit_index;
  HOSTSTUB_RETURN_IF_ERROR(impl_->db->SaveTerm(plan.context, ctx->term));
  return aside;
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
