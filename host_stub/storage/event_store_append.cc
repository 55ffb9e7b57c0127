// The append path: a batch becomes one log entry and then its events, under
// the context's lock; group commit shares fsyncs among concurrent appenders;
// commit indexes reach the control DB; and closed segments are announced to
// subscribers once the lock is released.
#include <map>
#include <shared_mutex>
#include <utility>

#include "storage/event_store_impl.h"
#include "storage/record.h"

namespace fs = std::filesystem;

namespace hoststub {

Result<Context*> EventStore::Impl::GetOrCreate(std::string_view name) {
  if (Context* ctx = Find(name)) return ctx;
  HOSTSTUB_RETURN_IF_ERROR(ValidateContextName(name));
  std::lock_guard create(create_mu);
  if (Context* ctx = Find(name)) return ctx;
  if (fsync_failed.load(std::memory_order_acquire)) return FsyncFailed(name);
  std::string n(name);
  HOSTSTUB_RETURN_IF_ERROR(db->EnsureContext(n));
  HOSTSTUB_ASSIGN_OR_RETURN(auto ctx, OpenContext(n, 0, 0));
  HOSTSTUB_RETURN_IF_ERROR(db->SaveTerm(n, ctx->term));
  if (options.fsync != FsyncPolicy::kNever) {
    if (Status st = env->SyncDir(options.data_dir / "contexts"); !st.ok()) {
      fsync_failed.store(true, std::memory_order_release);
      return st;
    }
  }
  Context* raw = ctx.get();
  std::unique_lock lock(contexts_mu);
  contexts.emplace(std::move(n), std::move(ctx));
  return raw;
}

Result<AppendResult> EventStore::Append(std::string_view context,
                                        std::span<const std::string> events, StreamRole stream) {
  if (!IsEventStream(stream)) {
    return Status::InvalidArgument(fmt::format(
        "append to context '{}': events go to the events or the snapshots stream, not the {}",
        context, StreamRoleName(stream)));
  }
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
  HOSTSTUB_RETURN_IF_ERROR(impl_->Restoring(context));
  HOSTSTUB_ASSIGN_OR_RETURN(Context* const found, impl_->GetOrCreate(context));
  Context& ctx = *found;
  // Held to the end: a restore's swap waits for this append, and one that
  // was marked before the lock was taken refuses it here.
  std::shared_lock swapping(ctx.swap_mu);
  HOSTSTUB_RETURN_IF_ERROR(impl_->Restoring(context));

  // Encoding happens before taking the lock except for what needs the
  // sequence numbers, which only the lock can hand out.
  std::string log_payload;
  std::string log_record;
  EventRecordBatch event_batch;
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

    EncodeLogEntry(result.log_index, ctx.term, result.first_token, stream, events, &log_payload);
    AppendRecord(RecordType::kLogEntry, log_payload, &log_record);
    const int64_t now = WallClockMs();
    uint64_t token = result.first_token;
    for (const auto& e : events) event_batch.Add(token++, result.log_index, now, e);
    const uint32_t log_size = static_cast<uint32_t>(log_record.size());
    Status st = ctx.log->Append(log_record, {&log_size, 1}, result.log_index, &closed_log);
    if (st.ok()) {
      st = target.Append(event_batch.records(), event_batch.sizes(), result.first_token,
                         &closed_events);
    }
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
  impl_->AnnounceClosed(ctx.name, StreamRole::kLog, closed_log);
  impl_->AnnounceClosed(ctx.name, stream, closed_events);
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

void EventStore::Impl::AnnounceClosed(const std::string& context, StreamRole role,
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

SegmentSubscription EventStore::OnSegmentClosed(SegmentClosedFn fn) {
  std::unique_lock lock(impl_->subscribers_mu);
  const uint64_t id = impl_->next_subscriber_id++;
  impl_->subscribers.emplace(id, std::move(fn));
  return SegmentSubscription(this, id);
}

void EventStore::ReleaseHandle(SegmentSubscriptionTag*, uint64_t id) {
  std::unique_lock lock(impl_->subscribers_mu);
  impl_->subscribers.erase(id);
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

}  // namespace hoststub
