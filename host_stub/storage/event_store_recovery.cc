// Recovery of a context on open: its streams are opened (each active
// segment cut back to its last whole record) and the log and the event
// streams are brought back into agreement, the log being the truth.
#include <algorithm>
#include <array>
#include <optional>

#include "storage/event_store_impl.h"
#include "storage/record.h"

namespace fs = std::filesystem;

namespace hoststub {

Result<std::unique_ptr<Context>> EventStore::Impl::OpenContext(const std::string& name,
                                                               uint64_t stored_term,
                                                               uint64_t stored_commit) {
  auto ctx = std::make_unique<Context>();
  ctx->name = name;
  ctx->dir = options.data_dir / "contexts" / name;
  for (auto [kind, slot] :
       {std::pair{StreamRole::kLog, &ctx->log}, std::pair{StreamRole::kEvents, &ctx->events},
        std::pair{StreamRole::kSnapshots, &ctx->snapshots}}) {
    HOSTSTUB_ASSIGN_OR_RETURN(
        *slot, SegmentedStream::Open(StreamOptions(ctx->dir, kind), &recovery_notes));
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
  // Per event stream, by LogEntryStreamCode: the log index of its last event.
  std::array<uint64_t, 2> applied{0, 0};
  for (StreamRole role : {StreamRole::kEvents, StreamRole::kSnapshots}) {
    SegmentedStream& s = ctx.stream(role);
    HOSTSTUB_ASSIGN_OR_RETURN(const auto last, s.ReadLastRecord());
    uint64_t& a = applied[LogEntryStreamCode(role)];
    if (last.has_value()) {
      HOSTSTUB_ASSIGN_OR_RETURN(const auto ev, DecodeEvent(*last));
      a = ev.log_index;
    }
    if (a > last_index) {
      HOSTSTUB_RETURN_IF_ERROR(s.TruncateFrom([&](std::string_view payload) {
        auto e = DecodeEvent(payload);
        return e.ok() && e->log_index > last_index;
      }));
      recovery_notes.push_back(
          fmt::format("context '{}': {} ran ahead of the log (last entry {}); cut back to token {}",
                      ctx.name, StreamRoleName(role), last_index, s.next_seq()));
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
        seg->path, StreamRole::kLog, seg->base,
        [&](uint64_t, std::string_view payload) {
          auto entry = DecodeLogEntry(payload);
          if (!entry.ok() || !LogEntryStream(entry->stream)) {
            failure = entry.ok() ? Status::Corruption(fmt::format(
                                       "context '{}': log entry {} names unknown stream {}",
                                       ctx.name, entry->index, entry->stream))
                                 : entry.status();
            return false;
          }
          *last_term = entry->term;
          if (ctx.stream(*LogEntryStream(entry->stream)).next_seq() <
              entry->first_token + entry->events.size()) {
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
        seg.path, StreamRole::kLog, seg.base,
        [&](uint64_t, std::string_view payload) {
          if (PayloadSequence(payload) < from) return true;
          auto entry = DecodeLogEntry(payload);
          if (!entry.ok()) {
            failure = entry.status();
            return false;
          }
          const std::optional<StreamRole> role = LogEntryStream(entry->stream);
          if (!role) {
            failure =
                Status::Corruption(fmt::format("context '{}': log entry {} names unknown stream {}",
                                               ctx.name, entry->index, entry->stream));
            return false;
          }
          SegmentedStream& target = ctx.stream(*role);
          EventRecordBatch batch;
          uint64_t token = entry->first_token;
          uint64_t first_new = 0;
          for (std::string_view ev : entry->events) {
            if (token >= target.next_seq()) {
              if (token != target.next_seq() + batch.count()) {
                failure = Status::Corruption(fmt::format(
                    "context '{}': log entry {} applies token {} but the {} stream is at {}",
                    ctx.name, entry->index, token, StreamRoleName(*role), target.next_seq()));
                return false;
              }
              if (batch.empty()) first_new = token;
              // The original timestamp is not in the log; the re-apply time
              // is the closest truthful value.
              batch.Add(token, entry->index, WallClockMs(), ev);
            }
            ++token;
          }
          if (!batch.empty()) {
            failure = target.Append(batch.records(), batch.sizes(), first_new);
            if (!failure.ok()) return false;
            ++reapplied;
            events_reapplied += batch.count();
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

}  // namespace hoststub
