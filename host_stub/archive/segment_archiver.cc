// Continuous archiving through one provider (see segment_archiver.h). mu_
// guards the cursors and counters; it is never held across a call into the
// plugin or a store call that reads files, so Snapshot() answers at once even
// while a slow archive call runs.
#include "archive/segment_archiver.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>
#include <set>
#include <utility>

#include <fmt/format.h>

#include "backup/backup_source.h"
#include "backup/timeline_history.h"
#include "plugin_host/abi_role.h"
#include "plugin_host/abi_status.h"
#include "plugin_host/provider_calls.h"
#include "storage/segment.h"
#include "util/human_format.h"
#include "util/log.h"
#include "util/utc_time.h"

namespace hoststub {
namespace {

using SteadyClock = std::chrono::steady_clock;

// The order a context's streams are shipped in when their tails are due:
// the log last, listed after the others, so its piece holds the entry of
// every event shipped before it (an entry is written before its events).
constexpr uint32_t kRoles[] = {BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS, BKP_ROLE_LOG};

// The archiver's roles are those of kRoles, always a stream.
StreamRole RoleOf(uint32_t role) { return FromBkpRole(role).value_or(StreamRole::kSnapshots); }

// One past the last index/token the store holds in a stream.
uint64_t StoreNext(const ContextState& state, uint32_t role) {
  if (role == BKP_ROLE_LOG) return state.last_log_index + 1;
  return role == BKP_ROLE_EVENTS ? state.next_event_token : state.next_snapshot_token;
}

// One past the last index/token the archive holds, never below the
// stream's first sequence (an empty stream holds nothing to archive).
uint64_t Reach(uint64_t archived_next, uint32_t role) {
  return std::max(archived_next, FirstSequence(RoleOf(role)));
}

const char* UnitOf(uint32_t role) { return role == BKP_ROLE_LOG ? "index" : "token"; }

// archive_status's answer, copied out of the callback.
struct Position {
  uint32_t timeline = 1;
  std::string context;
  uint32_t role = 0;
  std::optional<uint64_t> closed_base;
  std::string piece_name;
  uint64_t piece_size = 0;
  uint64_t next = 0;
  int64_t archived_ms = 0;
};

// A C callback: nothing may unwind through the plugin's frames.
bkp_status CollectPosition(void* user, const bkp_archive_position* given) {
  try {
    const bkp_archive_position p = CopyVersioned(given);
    if (p.context == nullptr) return BKP_E_INVALID_ARGUMENT;
    Position out;
    out.timeline = p.timeline == 0 ? 1 : p.timeline;
    out.context = p.context;
    out.role = p.role;
    if (p.has_closed != 0) out.closed_base = p.closed_base;
    if (p.partial_name != nullptr) out.piece_name = p.partial_name;
    out.piece_size = p.partial_size;
    out.next = p.next;
    out.archived_ms = p.archived_ms;
    static_cast<std::vector<Position>*>(user)->push_back(std::move(out));
    return BKP_OK;
  } catch (...) {
    return BKP_E_INTERNAL;
  }
}

// "1.5 s", "250 ms".
std::string FormatDelay(std::chrono::milliseconds delay) {
  return delay.count() >= 1000 ? fmt::format("{:.1f} s", static_cast<double>(delay.count()) / 1000)
                               : fmt::format("{} ms", delay.count());
}

// A 1.1 provider reads no timeline: it would file a later history's
// segments under the first one's names.
Status CheckTimelineSupported(const LoadedProvider& provider, uint32_t timeline) {
  if (timeline > 1 && BKP_VERSION_MINOR(provider.negotiated_version()) < 2) {
    return Status::Unsupported(fmt::format(
        "provider '{}' speaks ABI {}.{}, which has no timelines, and the data directory is on "
        "timeline {} (it was restored from an archive, or one of its contexts was restored): "
        "archiving it needs a provider built for ABI 1.2 or newer",
        provider.name(), BKP_VERSION_MAJOR(provider.negotiated_version()),
        BKP_VERSION_MINOR(provider.negotiated_version()), timeline));
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<SegmentArchiver>> SegmentArchiver::Start(
    EventStore& store, std::shared_ptr<LoadedProvider> provider, ArchiverOptions options,
    LogFn log) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider->name(), provider->table(), BKP_CAP_ARCHIVE, "archive segments"));
  if (!log) {
    log = [](int32_t level, std::string_view line) { hoststub::Log(LogLevelOfBkp(level), line); };
  }
  HOSTSTUB_ASSIGN_OR_RETURN(auto timeline, DataDirTimeline(store.options().data_dir));
  HOSTSTUB_RETURN_IF_ERROR(CheckTimelineSupported(*provider, timeline.timeline));
  std::unique_ptr<SegmentArchiver> archiver(new SegmentArchiver(
      store, std::move(provider), options, std::move(log), std::move(timeline)));
  archiver->thread_ = std::thread([raw = archiver.get()] { raw->Run(); });
  return archiver;
}

SegmentArchiver::SegmentArchiver(EventStore& store, std::shared_ptr<LoadedProvider> provider,
                                 ArchiverOptions options, LogFn log, TimelineInfo timeline)
    : store_(store),
      provider_(std::move(provider)),
      options_(options),
      log_(std::move(log)),
      timeline_(std::move(timeline)),
      queue_(options.queue_capacity),
      floor_(store.AddCompactionFloor()),
      subscription_(store.OnSegmentClosed(
          [this](const EventStore::ClosedSegment& closed) { queue_.TryPush(closed); })) {}

SegmentArchiver::~SegmentArchiver() { Stop(); }

void SegmentArchiver::Stop() {
  std::lock_guard stop(stop_mu_);
  op_.cancel_requested = true;
  queue_.Close();
  if (thread_.joinable()) thread_.join();
  std::lock_guard lock(mu_);
  stopped_ = true;
}

void SegmentArchiver::Log(int32_t level, const std::string& message) const {
  log_(level, fmt::format("archive via provider '{}': {}", provider_->name(), message));
}

std::chrono::milliseconds SegmentArchiver::Tick() const {
  using std::chrono::milliseconds;
  if (options_.archive_timeout.count() <= 0) return milliseconds(1000);
  return std::clamp(options_.archive_timeout / 10, milliseconds(20), milliseconds(1000));
}

void SegmentArchiver::Run() {
  // A thread must not end by exception; a pass that throws is a failed pass.
  auto guarded = [this](auto&& pass) -> Status {
    try {
      return pass();
    } catch (const std::exception& e) {
      return Status::IOError(fmt::format("archive via provider '{}' failed in the host: {}",
                                         provider_->name(), e.what()));
    }
  };
  while (true) {
    std::unique_lock pass(pass_mu_);
    const Status loaded = guarded([this] { return LoadPositions(); });
    pass.unlock();
    if (loaded.ok()) break;
    if (!Retry(loaded)) return;
  }
  Recovered();

  bool rescan = true;  // at start every stream is looked at
  std::set<StreamKey> announced;
  while (true) {
    ArchiveQueue::Batch batch = queue_.Wait(SteadyClock::now() + Tick());
    if (batch.closed) return;
    {
      std::lock_guard lock(mu_);
      for (const ArchiveQueue::Notice& n : batch.notices) {
        StreamKey key{n.context, ToBkpRole(n.role)};
        Cursor& c = cursors_[key];
        // A scan may have shipped it between the close and its announcement.
        if (c.closed_base && n.segment.base <= *c.closed_base) continue;
        c.waiting.try_emplace(n.segment.base, n.closed_ms);
        announced.insert(std::move(key));
      }
    }
    if (batch.overflowed) {
      Log(BKP_LOG_WARN, fmt::format("more than {} segments closed faster than they were archived: "
                                    "looking for them in every stream's segments instead (nothing "
                                    "is lost)",
                                    queue_.capacity()));
      rescan = true;
    }
    std::unique_lock passing(pass_mu_);  // Hold waits for it, or it for Resume
    if (switch_timeline_.exchange(false)) {
      const Status switched = guarded([this] { return SwitchTimeline(); });
      if (!switched.ok()) {
        switch_timeline_ = true;  // again after the back-off
        passing.unlock();
        if (!Retry(switched)) return;
        continue;
      }
      rescan = true;
    }
    const Status pass = guarded([&]() -> Status {
      if (rescan) {
        HOSTSTUB_RETURN_IF_ERROR(ShipClosedEverywhere());
      } else {
        for (const StreamKey& key : announced) {
          HOSTSTUB_ASSIGN_OR_RETURN(auto segments, List(key));
          HOSTSTUB_RETURN_IF_ERROR(ShipClosed(key, segments));
        }
      }
      WatchTails();
      return ShipDueTails();
    });
    passing.unlock();
    if (!pass.ok()) {
      if (queue_.closed()) return;  // a call cancelled because the host stops
      if (std::exchange(stopped_for_hold_, false)) {
        rescan = true;  // what the hold interrupted, after Resume
        continue;
      }
      if (!Retry(pass)) return;
      rescan = true;  // the failed segment and what follows it, in order
      continue;
    }
    Recovered();
    rescan = false;
    announced.clear();
  }
}

bool SegmentArchiver::Retry(const Status& failure) {
  std::chrono::milliseconds delay = options_.retry_min;
  uint64_t attempt = 0;
  {
    std::lock_guard lock(mu_);
    attempt = ++consecutive_failures_;
    for (uint64_t i = 1; i < attempt && delay < options_.retry_max; ++i) delay *= 2;
    delay = std::min(delay, options_.retry_max);
    last_error_ = failure.message();
    last_error_ms_ = NowMs();
    next_retry_ms_ = last_error_ms_ + delay.count();
  }
  Log(BKP_LOG_ERROR,
      fmt::format("{} (attempt {}); retrying in {}. Nothing is skipped: what follows waits, and "
                  "the log it needs stays on disk",
                  failure.message(), attempt, FormatDelay(delay)));
  return !queue_.WaitClosed(SteadyClock::now() + delay);
}

void SegmentArchiver::Recovered() {
  uint64_t failures = 0;
  {
    std::lock_guard lock(mu_);
    failures = std::exchange(consecutive_failures_, 0);
    next_retry_ms_ = 0;
  }
  if (failures > 0) {
    Log(BKP_LOG_INFO, fmt::format("archiving again after {} failed attempt(s)", failures));
  }
}

Status SegmentArchiver::LoadPositions() {
  std::vector<Position> every;
  HOSTSTUB_RETURN_IF_ERROR(CallArchiveStatus(*provider_, CollectPosition, &every));
  // Other timelines' streams are other histories: this one resumes its own.
  std::vector<Position> positions;
  uint32_t newest = timeline_.timeline;
  for (Position& p : every) {
    newest = std::max(newest, p.timeline);
    if (p.timeline == timeline_.timeline) positions.push_back(std::move(p));
  }
  // An archive reaching beyond the store holds another history: continuing
  // it with this host's segments would mix the two.
  for (const Position& p : positions) {
    Result<ContextState> state = store_.State(p.context);
    const uint64_t host_next =
        state.ok() ? StoreNext(*state, p.role) : FirstSequence(RoleOf(p.role));
    if (p.next > host_next) {
      return Status::Refused(fmt::format(
          "the archive of context '{}' {} reaches {} {}, but this host's {} end before it, at {}: "
          "the data directory is older than the archive's timeline {} (another host's, or restored "
          "by hand or by a provider that keeps no timelines). Archiving on would mix two "
          "histories: restore it with `hostd restore` from this archive (which starts a new "
          "timeline), or give the provider a new repository (and take a full backup into it), "
          "then restart hostd",
          p.context, BkpRoleName(p.role), UnitOf(p.role), p.next - 1, BkpRoleName(p.role),
          host_next == 0 ? std::string("nothing") : std::to_string(host_next - 1),
          timeline_.timeline));
    }
  }
  {
    std::lock_guard lock(mu_);
    for (const Position& p : positions) {
      Cursor& c = cursors_[StreamKey{p.context, p.role}];
      c.closed_base = p.closed_base;
      c.piece_name = p.piece_name;
      c.piece_size = p.piece_size;
      c.next = p.next;
      c.archived_ms = p.archived_ms;
    }
    positions_loaded_ = true;
    newest_timeline_ = std::max(newest_timeline_, newest);
  }
  // Log segments up to the newest one archived may go now; entries from
  // the segment after it on (whose base is past closed_base) may not.
  for (const Position& p : positions) {
    if (p.role == BKP_ROLE_LOG && p.closed_base) floor_.Raise(p.context, *p.closed_base + 1);
  }
  Log(BKP_LOG_INFO,
      positions.empty()
          ? fmt::format("the archive is empty: archiving every segment on disk, on timeline {}",
                        timeline_.timeline)
          : fmt::format("resuming where the archive ends, in {} stream(s), on timeline {}",
                        positions.size(), timeline_.timeline));
  return Status::OK();
}

SegmentArchiver::HoldInfo SegmentArchiver::Hold(const std::string& context) {
  hold_ = true;
  held_ = std::unique_lock(pass_mu_);
  HoldInfo info;
  std::lock_guard lock(mu_);
  info.newest_timeline = std::max(newest_timeline_, timeline_.timeline);
  info.knows_context = !positions_loaded_;
  for (uint32_t role : kRoles) {
    auto it = cursors_.find(StreamKey{context, role});
    if (it != cursors_.end() &&
        (it->second.closed_base || it->second.next > 0 || !it->second.piece_name.empty())) {
      info.knows_context = true;
    }
  }
  return info;
}

void SegmentArchiver::Resume(bool timeline_changed) {
  if (timeline_changed) switch_timeline_ = true;
  hold_ = false;
  if (held_.owns_lock()) held_.unlock();
}

Status SegmentArchiver::Held() {
  stopped_for_hold_ = true;
  return Status::Cancelled("held while a context is restored into the host");
}

Status SegmentArchiver::SwitchTimeline() {
  HOSTSTUB_ASSIGN_OR_RETURN(auto timeline, DataDirTimeline(store_.options().data_dir));
  if (timeline.timeline == timeline_.timeline) return Status::OK();
  HOSTSTUB_RETURN_IF_ERROR(CheckTimelineSupported(*provider_, timeline.timeline));
  // A fresh floor holds every context's whole log until this timeline's
  // archive has it; the old one goes only once the new one is in place.
  floor_ = store_.AddCompactionFloor();
  Log(BKP_LOG_INFO,
      fmt::format("a context was restored into the host: the data directory moved from timeline "
                  "{} to timeline {}; archiving every segment on disk again, on timeline {}",
                  timeline_.timeline, timeline.timeline, timeline.timeline));
  {
    std::lock_guard lock(mu_);
    timeline_ = std::move(timeline);
    cursors_.clear();
    positions_loaded_ = false;
  }
  return LoadPositions();
}

Result<std::vector<SegmentInfo>> SegmentArchiver::List(const StreamKey& key) const {
  Result<std::vector<SegmentInfo>> segments = store_.Segments(key.context, RoleOf(key.role));
  if (!segments.ok() && segments.status().code() == Status::Code::kNotFound) {
    return std::vector<SegmentInfo>();
  }
  return segments;
}

Status SegmentArchiver::ShipClosedEverywhere() {
  std::vector<std::pair<StreamKey, std::vector<SegmentInfo>>> streams;
  for (const std::string& context : store_.Contexts()) {
    for (uint32_t role : kRoles) {
      StreamKey key{context, role};
      HOSTSTUB_ASSIGN_OR_RETURN(auto segments, List(key));
      streams.emplace_back(std::move(key), std::move(segments));
    }
  }
  // Every waiting segment is noted before the first is shipped, so the lag
  // counts them all from the start.
  const int64_t now = NowMs();
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, segments] : streams) {
      Cursor& c = cursors_[key];
      for (const SegmentInfo& s : segments) {
        if (s.closed && (!c.closed_base || s.base > *c.closed_base))
          c.waiting.try_emplace(s.base, now);
      }
    }
  }
  for (const auto& [key, segments] : streams) HOSTSTUB_RETURN_IF_ERROR(ShipClosed(key, segments));
  return Status::OK();
}

Status SegmentArchiver::ShipClosed(const StreamKey& key, const std::vector<SegmentInfo>& segments) {
  for (const SegmentInfo& segment : segments) {
    if (!segment.closed) continue;
    int64_t observed_ms = 0;
    std::optional<uint64_t> gap_from;
    {
      if (hold_) return Held();
      std::lock_guard lock(mu_);
      Cursor& c = cursors_[key];
      if (c.closed_base && segment.base <= *c.closed_base) continue;
      observed_ms = c.waiting.try_emplace(segment.base, NowMs()).first->second;
      if (c.next > 0 && segment.base > c.next && !c.gap_reported) {
        c.gap_reported = true;
        gap_from = c.next;
      }
    }
    if (gap_from) {
      Log(BKP_LOG_WARN,
          fmt::format("the archive of context '{}' {} ends at {} {}, but the oldest segment on "
                      "this host still to archive, '{}', starts at {}: what lies between was "
                      "deleted before it was archived. A point-in-time restore cannot cross the "
                      "gap; take a full backup to start a chain after it",
                      key.context, BkpRoleName(key.role), UnitOf(key.role), *gap_from - 1,
                      segment.path.filename().string(), segment.base));
    }
    HOSTSTUB_RETURN_IF_ERROR(Ship(key, segment, BKP_ITEM_CLOSED, observed_ms));
  }
  return Status::OK();
}

void SegmentArchiver::WatchTails() {
  if (options_.archive_timeout.count() <= 0) return;
  for (const std::string& context : store_.Contexts()) {
    Result<ContextState> state = store_.State(context);
    if (!state.ok()) continue;
    const int64_t now = NowMs();
    std::lock_guard lock(mu_);
    for (uint32_t role : kRoles) {
      Cursor& c = cursors_[StreamKey{context, role}];
      if (StoreNext(*state, role) > Reach(c.next, role)) {
        if (c.unarchived_since_ms == 0) c.unarchived_since_ms = now;
      } else {
        c.unarchived_since_ms = 0;
      }
    }
  }
}

Status SegmentArchiver::ShipDueTails() {
  if (options_.archive_timeout.count() <= 0) return Status::OK();
  std::set<std::string> due;
  {
    const int64_t now = NowMs();
    std::lock_guard lock(mu_);
    for (const auto& [key, c] : cursors_) {
      if (c.unarchived_since_ms != 0 &&
          now - c.unarchived_since_ms >= options_.archive_timeout.count()) {
        due.insert(key.context);
      }
    }
  }
  if (due.empty()) return Status::OK();
  // Listed first (in kRoles order), then synced, then shipped: everything
  // shipped is then on the host's disk too.
  std::vector<std::pair<StreamKey, std::vector<SegmentInfo>>> listed;
  for (const std::string& context : due) {
    for (uint32_t role : kRoles) {
      StreamKey key{context, role};
      HOSTSTUB_ASSIGN_OR_RETURN(auto segments, List(key));
      if (!segments.empty()) listed.emplace_back(std::move(key), std::move(segments));
    }
  }
  if (store_.options().fsync != FsyncPolicy::kNever) HOSTSTUB_RETURN_IF_ERROR(store_.Sync());
  const int64_t observed_ms = NowMs();
  for (const auto& [key, segments] : listed) {
    HOSTSTUB_RETURN_IF_ERROR(ShipClosed(key, segments));
    const SegmentInfo& active = segments.back();
    uint64_t reach = 0;
    {
      std::lock_guard lock(mu_);
      reach = Reach(cursors_[key].next, key.role);
    }
    if (hold_) return Held();
    if (!active.closed && active.next > reach) {
      HOSTSTUB_RETURN_IF_ERROR(Ship(key, active, BKP_ITEM_PARTIAL, observed_ms));
    }
    // Data appended since the listing is found by the next WatchTails.
    std::lock_guard lock(mu_);
    cursors_[key].unarchived_since_ms = 0;
  }
  return Status::OK();
}

int64_t SegmentArchiver::FirstAppendMs(const StreamKey& key, const SegmentInfo& segment) const {
  if (key.role == BKP_ROLE_LOG || segment.next <= segment.base) return 0;
  auto first = store_.Read(key.context, segment.base, 1, RoleOf(key.role));
  // 0 is "unknown", which the ABI allows: a restore to a time then reads more.
  return first.ok() && !first->empty() ? first->front().timestamp_ms : 0;
}

Status SegmentArchiver::Ship(const StreamKey& key, const SegmentInfo& segment, uint32_t flags,
                             int64_t observed_ms) {
  const std::string name = segment.path.filename().string();
  const bool closed = flags == BKP_ITEM_CLOSED;
  const std::unique_ptr<BackupSource> source =
      BackupSource::ForArchive(store_, key.role, key.context, segment, flags);
  bkp_archive_args args;
  BKP_INIT(&args);
  args.item = &source->item(0);
  args.source = source.get();
  args.op = &op_;
  args.observed_ms = observed_ms;
  args.first_ms = FirstAppendMs(key, segment);
  args.timeline = timeline_.timeline;
  args.timeline_history = timeline_.timeline > 1 ? timeline_.history.c_str() : nullptr;
  HOSTSTUB_RETURN_IF_ERROR(CallArchive(
      *provider_, args,
      fmt::format("archive of context '{}' {} segment '{}' ({}{})", key.context,
                  BkpRoleName(key.role), name, closed ? "closed, " : "piece of its first ",
                  FormatBytes(segment.size))));
  {
    std::lock_guard lock(mu_);
    Cursor& c = cursors_[key];
    const uint64_t held = c.piece_name == name ? std::min(c.piece_size, segment.size) : 0;
    bytes_archived_ += segment.size - held;
    if (closed) {
      c.closed_base = segment.base;
      c.waiting.erase(segment.base);
      if (c.piece_name == name) {
        c.piece_name.clear();
        c.piece_size = 0;
      }
      ++c.closed_archived;
      ++segments_archived_;
    } else {
      c.piece_name = name;
      c.piece_size = segment.size;
      ++c.pieces_archived;
      ++pieces_archived_;
    }
    c.next = std::max(c.next, segment.next);
    c.archived_ms = std::max(c.archived_ms, observed_ms);
  }
  // The log up to this segment's end is in the archive: compaction may
  // have it (once retention allows).
  if (closed && key.role == BKP_ROLE_LOG) floor_.Raise(key.context, segment.next);
  return Status::OK();
}

ArchiverStatus SegmentArchiver::Snapshot() const {
  ArchiverStatus s;
  s.provider = provider_->name();
  s.archive_timeout = options_.archive_timeout;
  s.queue_depth = queue_.depth();
  s.queue_capacity = queue_.capacity();
  s.queue_overflows = queue_.overflows();
  std::map<StreamKey, Cursor> cursors;
  {
    std::lock_guard lock(mu_);
    cursors = cursors_;
    s.timeline = timeline_.timeline;
    s.state = stopped_                    ? ArchiverState::kStopped
              : !positions_loaded_        ? ArchiverState::kStarting
              : consecutive_failures_ > 0 ? ArchiverState::kRetrying
                                          : ArchiverState::kArchiving;
    s.segments_archived = segments_archived_;
    s.pieces_archived = pieces_archived_;
    s.bytes_archived = bytes_archived_;
    s.last_error = last_error_;
    s.last_error_ms = last_error_ms_;
    s.consecutive_failures = consecutive_failures_;
    s.next_retry_ms = next_retry_ms_;
  }
  for (const std::string& context : store_.Contexts()) {
    for (uint32_t role : kRoles) cursors.try_emplace(StreamKey{context, role});
  }
  const int64_t now = NowMs();
  int64_t oldest_ms = 0;
  for (const auto& [key, c] : cursors) {
    ArchiveStreamStatus stream;
    stream.context = key.context;
    stream.role = key.role;
    stream.closed_base = c.closed_base;
    if (c.closed_base) stream.closed_name = SegmentFileName(RoleOf(key.role), *c.closed_base);
    stream.piece_name = c.piece_name;
    stream.piece_size = c.piece_size;
    stream.next = c.next;
    stream.archived_ms = c.archived_ms;
    stream.closed_archived = c.closed_archived;
    stream.pieces_archived = c.pieces_archived;
    Result<std::vector<SegmentInfo>> segments = List(key);
    for (const SegmentInfo& seg : segments.ok() ? *segments : std::vector<SegmentInfo>()) {
      const bool waits = seg.closed ? !c.closed_base || seg.base > *c.closed_base
                                    : seg.next > Reach(c.next, key.role);
      if (!waits) continue;
      const uint64_t held =
          seg.path.filename() == c.piece_name ? std::min(c.piece_size, seg.size) : 0;
      stream.pending_bytes += seg.size - held;
      stream.pending_segments += seg.closed ? 1 : 0;
    }
    s.lag.segments += stream.pending_segments;
    s.lag.bytes += stream.pending_bytes;
    for (const auto& [base, since_ms] : c.waiting) {
      if (oldest_ms == 0 || since_ms < oldest_ms) oldest_ms = since_ms;
    }
    if (c.unarchived_since_ms != 0 && (oldest_ms == 0 || c.unarchived_since_ms < oldest_ms)) {
      oldest_ms = c.unarchived_since_ms;
    }
    s.streams.push_back(std::move(stream));
  }
  if (oldest_ms != 0)
    s.lag.seconds = static_cast<double>(std::max<int64_t>(0, now - oldest_ms)) / 1000;
  return s;
}

}  // namespace hoststub
