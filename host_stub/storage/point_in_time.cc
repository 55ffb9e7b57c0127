// Cutting a data directory back to a point in time (see point_in_time.h).
#include "storage/point_in_time.h"

#include <algorithm>
#include <ctime>
#include <functional>
#include <map>
#include <system_error>

#include <fmt/format.h>

#include "storage/control_db.h"
#include "storage/record.h"
#include "storage/segment.h"
#include "util/file.h"
#include "util/utc_time.h"

namespace fs = std::filesystem;

namespace hoststub {
namespace {

// One stream's segment files, ascending base.
struct Stream {
  StreamRole kind;
  std::vector<std::pair<uint64_t, fs::path>> segments;
};

// A record: which segment, and where in it the record starts.
struct RecordPosition {
  size_t segment = 0;
  uint64_t offset = 0;
  std::string payload;
};

// The segments of one stream of the context whose directory is `dir`.
Stream ListStream(const fs::path& dir, StreamRole kind) {
  Stream s{kind, {}};
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir / StreamRoleName(kind), ec)) {
    if (auto base = ParseSegmentFileName(kind, entry.path().filename().string())) {
      s.segments.emplace_back(*base, entry.path());
    }
  }
  std::sort(s.segments.begin(), s.segments.end());
  return s;
}

using Predicate = std::function<bool(std::string_view payload)>;

// The first whole record in segment i that satisfies `hit` (all of them
// with `first_only` false; just the first record with it true).
Result<std::optional<RecordPosition>> FindIn(const Stream& s, size_t i, const Predicate& hit,
                                             bool first_only) {
  std::optional<RecordPosition> found;
  HOSTSTUB_RETURN_IF_ERROR(ScanSegment(s.segments[i].second, s.kind, s.segments[i].first,
                                       [&](uint64_t offset, std::string_view payload) {
                                         if (hit(payload)) {
                                           found = RecordPosition{i, offset, std::string(payload)};
                                         }
                                         return !found && !first_only;
                                       })
                               .status());
  return found;
}

// The first record of the stream for which `hit` holds, given that it
// holds for every record after it too (tokens, indexes and log indexes only
// grow), so only the segment it falls in is read in full.
Result<std::optional<RecordPosition>> FirstWhere(const Stream& s, const Predicate& hit) {
  // The last segment whose first record does not hit holds the answer,
  // unless it is the first record of the segment after it.
  size_t from = 0;
  for (size_t i = 0; i < s.segments.size(); ++i) {
    HOSTSTUB_ASSIGN_OR_RETURN(const auto first, FindIn(s, i, hit, /*first_only=*/true));
    if (first) break;
    from = i;
  }
  for (size_t i = from; i < s.segments.size(); ++i) {
    HOSTSTUB_ASSIGN_OR_RETURN(auto found, FindIn(s, i, hit, /*first_only=*/false));
    if (found) return found;
  }
  return std::optional<RecordPosition>();
}

// Everything from `at` on goes: the segment is truncated there, the later
// ones removed. The segment left last becomes the active one.
Status CutAt(const Stream& s, const RecordPosition& at) {
  for (size_t i = s.segments.size(); i-- > at.segment + 1;) {
    std::error_code ec;
    fs::remove(s.segments[i].second, ec);
    if (ec) {
      return Status::IOError(
          fmt::format("cannot remove '{}': {}", s.segments[i].second.string(), ec.message()));
    }
  }
  const fs::path& path = s.segments[at.segment].second;
  HOSTSTUB_ASSIGN_OR_RETURN(auto file, File::Open(path, File::Mode::kReadWrite));
  HOSTSTUB_RETURN_IF_ERROR(file->Truncate(at.offset));
  HOSTSTUB_RETURN_IF_ERROR(file->Sync());
  return SyncDir(path.parent_path());
}

// The last record of the stream, if any (after a cut: the last one kept).
Result<std::optional<std::string>> LastPayload(const Stream& s) {
  for (size_t i = s.segments.size(); i-- > 0;) {
    std::optional<std::string> last;
    HOSTSTUB_RETURN_IF_ERROR(ScanSegment(s.segments[i].second, s.kind, s.segments[i].first,
                                         [&](uint64_t, std::string_view payload) {
                                           last = std::string(payload);
                                           return true;
                                         })
                                 .status());
    if (last) return last;
  }
  return std::optional<std::string>();
}

uint64_t LogIndexOf(std::string_view event_payload) {
  auto ev = DecodeEvent(event_payload);
  return ev.ok() ? ev->log_index : 0;
}

// The first log entry whose events the directory does not hold: the
// provider fed the events only as far as the target, so such an entry lies
// past it, and recovery must not apply it again. Reads the log from the
// last entry whose events are all present.
Result<std::optional<uint64_t>> FirstUnappliedEntry(const fs::path& dir) {
  // Where each stream ends, and the log entry its last record came from.
  uint64_t next[2] = {0, 0};
  uint64_t from_entry[2] = {0, 0};
  const StreamRole kinds[2] = {StreamRole::kEvents, StreamRole::kSnapshots};
  for (int k = 0; k < 2; ++k) {
    HOSTSTUB_ASSIGN_OR_RETURN(const auto last, LastPayload(ListStream(dir, kinds[k])));
    if (last) {
      HOSTSTUB_ASSIGN_OR_RETURN(const auto ev, DecodeEvent(*last));
      next[k] = ev.token + 1;
      from_entry[k] = ev.log_index;
    }
  }
  const uint64_t start = std::min(from_entry[0], from_entry[1]);
  const Stream log = ListStream(dir, StreamRole::kLog);
  std::optional<uint64_t> found;
  Status failure;
  for (size_t i = 0; i < log.segments.size() && !found && failure.ok(); ++i) {
    if (i + 1 < log.segments.size() && log.segments[i + 1].first <= start) continue;
    HOSTSTUB_RETURN_IF_ERROR(
        ScanSegment(log.segments[i].second, StreamRole::kLog, log.segments[i].first,
                    [&](uint64_t, std::string_view payload) {
                      if (PayloadSequence(payload) <= start) return true;
                      auto entry = DecodeLogEntry(payload);
                      if (!entry.ok()) {
                        failure = entry.status();
                        return false;
                      }
                      const int k = entry->stream == 0 ? 0 : 1;
                      if (!entry->events.empty() &&
                          entry->first_token + entry->events.size() > next[k]) {
                        found = entry->index;
                        return false;
                      }
                      return true;
                    })
            .status());
  }
  HOSTSTUB_RETURN_IF_ERROR(failure);
  return found;
}

// The index of the first log entry that must go, or nullopt when nothing
// in this context lies past the target.
Result<std::optional<uint64_t>> FirstEntryToDrop(const fs::path& dir, const RestoreTarget& t) {
  std::optional<uint64_t> drop;
  auto earliest = [&](std::optional<uint64_t> index) {
    if (index && (!drop || *index < *drop)) drop = index;
  };
  auto consider = [&](const Result<std::optional<RecordPosition>>& first) -> Status {
    if (!first.ok()) return first.status();
    if (*first) earliest(LogIndexOf((*first)->payload));
    return Status::OK();
  };
  const Stream events = ListStream(dir, StreamRole::kEvents);
  if (t.kind == RestoreTarget::Kind::kToken) {
    // The first event past the token: its whole append goes with it.
    HOSTSTUB_RETURN_IF_ERROR(consider(
        FirstWhere(events, [&](std::string_view p) { return PayloadSequence(p) > t.token; })));
  } else {
    auto later = [&](std::string_view p) {
      auto ev = DecodeEvent(p);
      return ev.ok() && ev->timestamp_ms > t.time_ms;
    };
    HOSTSTUB_RETURN_IF_ERROR(consider(FirstWhere(events, later)));
    HOSTSTUB_RETURN_IF_ERROR(consider(FirstWhere(ListStream(dir, StreamRole::kSnapshots), later)));
  }
  HOSTSTUB_ASSIGN_OR_RETURN(const auto unapplied, FirstUnappliedEntry(dir));
  earliest(unapplied);
  return drop;
}

std::string FormatTime(int64_t ms) { return FormatUtc(ms, UtcFormat::kIso8601Millis); }

}  // namespace

std::string RestoreTarget::Describe() const {
  switch (kind) {
    case Kind::kNone:
      return "the backup as it is";
    case Kind::kToken:
      return context.empty() ? fmt::format("token {} in every context", token)
                             : fmt::format("token {} in context '{}'", token, context);
    case Kind::kTime:
      return fmt::format("{} ({} ms)", FormatTime(time_ms), time_ms);
  }
  return "?";
}

std::string NothingLeftAfterCut(const std::vector<CutReport>& reports,
                                const RestoreTarget& target) {
  if (!target.set()) return "";
  const CutReport* first = nullptr;
  for (const CutReport& r : reports) {
    if (r.last_token) return "";
    if (r.first_time_ms && (first == nullptr || *r.first_time_ms < *first->first_time_ms)) {
      first = &r;
    }
  }
  if (first == nullptr) {
    return fmt::format("the backup and the archive hold no event to restore to {}",
                       target.Describe());
  }
  return fmt::format(
      "{} is before the first event the backup and the archive hold (context '{}' token {}, "
      "appended {}): nothing would be restored. Choose a later point",
      target.Describe(), first->context, *first->first_token,
      RestoreTarget{RestoreTarget::Kind::kTime, 0, *first->first_time_ms, "", 0}.Describe());
}

Result<std::vector<CutReport>> CutToTarget(const fs::path& data_dir, const RestoreTarget& target) {
  std::vector<CutReport> reports;
  if (!target.set()) return reports;
  std::vector<std::string> contexts;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(data_dir / "contexts", ec)) {
    if (entry.is_directory()) contexts.push_back(entry.path().filename().string());
  }
  std::sort(contexts.begin(), contexts.end());

  std::map<std::string, uint64_t> lowered;  // commit indexes to write
  HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(data_dir / "control.db"));
  HOSTSTUB_ASSIGN_OR_RETURN(const auto states, db->LoadReplicationStates());

  for (const std::string& name : contexts) {
    if (target.kind == RestoreTarget::Kind::kToken && !target.context.empty() &&
        target.context != name) {
      continue;
    }
    const fs::path dir = data_dir / "contexts" / name;
    CutReport report;
    report.context = name;
    {
      const Stream events = ListStream(dir, StreamRole::kEvents);
      for (size_t i = 0; i < events.segments.size() && !report.first_token; ++i) {
        const auto any = [](std::string_view) { return true; };
        HOSTSTUB_ASSIGN_OR_RETURN(const auto first, FindIn(events, i, any, /*first_only=*/true));
        if (!first) continue;
        if (auto ev = DecodeEvent(first->payload); ev.ok()) {
          report.first_token = ev->token;
          report.first_time_ms = ev->timestamp_ms;
        }
      }
    }
    HOSTSTUB_ASSIGN_OR_RETURN(const auto drop, FirstEntryToDrop(dir, target));
    if (drop) {
      const uint64_t keep_up_to = *drop - 1;  // the last log entry kept
      report.cut = true;
      const Stream log = ListStream(dir, StreamRole::kLog);
      HOSTSTUB_ASSIGN_OR_RETURN(const auto log_cut, FirstWhere(log, [&](std::string_view p) {
                                  return PayloadSequence(p) > keep_up_to;
                                }));
      if (log_cut) HOSTSTUB_RETURN_IF_ERROR(CutAt(log, *log_cut));
      for (StreamRole kind : {StreamRole::kEvents, StreamRole::kSnapshots}) {
        const Stream s = ListStream(dir, kind);
        HOSTSTUB_ASSIGN_OR_RETURN(const auto cut, FirstWhere(s, [&](std::string_view p) {
                                    return LogIndexOf(p) > keep_up_to;
                                  }));
        if (cut) HOSTSTUB_RETURN_IF_ERROR(CutAt(s, *cut));
      }
      auto state = states.find(name);
      if (state != states.end() && state->second.commit_index > keep_up_to) {
        lowered[name] = keep_up_to;
      }
    }
    HOSTSTUB_ASSIGN_OR_RETURN(const auto last_entry,
                              LastPayload(ListStream(dir, StreamRole::kLog)));
    if (last_entry) report.last_log_index = PayloadSequence(*last_entry);
    // A context created after the target (only the archive knew it) did
    // not exist then: restoring it empty would invent it.
    if (report.cut && report.last_log_index == 0 && states.count(name) == 0) {
      std::error_code removed;
      fs::remove_all(dir, removed);
      if (removed) {
        return Status::IOError(
            fmt::format("cannot remove '{}': {}", dir.string(), removed.message()));
      }
      HOSTSTUB_RETURN_IF_ERROR(SyncDir(dir.parent_path()));
      report.left_out = true;
      reports.push_back(std::move(report));
      continue;
    }
    HOSTSTUB_ASSIGN_OR_RETURN(const auto last_event,
                              LastPayload(ListStream(dir, StreamRole::kEvents)));
    if (last_event) {
      if (auto ev = DecodeEvent(*last_event); ev.ok()) {
        report.last_token = ev->token;
        report.last_time_ms = ev->timestamp_ms;
      }
    }
    reports.push_back(std::move(report));
  }
  if (!lowered.empty()) HOSTSTUB_RETURN_IF_ERROR(db->SaveCommitIndexes(lowered));
  return reports;
}

}  // namespace hoststub
