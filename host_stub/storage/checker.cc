// The consistency checker (see checker.h for the invariants).
#include "storage/checker.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "storage/control_db.h"
#include "storage/record.h"
#include "storage/segment.h"
#include "util/xxhash_dispatch.h"

namespace fs = std::filesystem;

namespace hoststub {
namespace {

// One log entry as the event streams must reflect it.
struct EntryInfo {
  uint64_t first_token = 0;
  uint64_t hash = 0;  // of its events' bytes, chained (EventsHash)
  uint32_t count = 0;
  uint32_t stream = 0;
};

// A run of consecutive events applied from one log entry.
struct EventRun {
  uint64_t log_index = 0;
  uint64_t first_token = 0;
  uint64_t hash = 0;
  uint64_t offset = 0;  // of its first record in `segment`
  uint32_t count = 0;
  uint32_t segment = 0;  // index into StreamSummary::segments
};

// Chains the hash of one more event's bytes: the log side and the event side
// hash the same bytes in the same order, so equal hashes mean equal events.
uint64_t ChainHash(uint64_t hash, std::string_view event) {
  return XXH3_64bits_withSeed(event.data(), event.size(), hash);
}

struct StreamSummary {
  uint64_t records = 0;
  uint64_t first = 0;
  uint64_t last = 0;
  uint64_t last_term = 0;      // log only
  uint64_t max_log_index = 0;  // event streams: highest log index applied
  // The log: every entry, by index from `first`; the event streams: their
  // runs. Kept to cross-check the two (about 32 bytes per log entry).
  std::vector<EntryInfo> entries;
  std::vector<EventRun> runs;
  std::vector<fs::path> segments;
};

std::vector<std::pair<uint64_t, fs::path>> ListSegments(const fs::path& dir, StreamRole kind) {
  std::vector<std::pair<uint64_t, fs::path>> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (auto base = ParseSegmentFileName(kind, entry.path().filename().string())) {
      out.emplace_back(*base, entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Walks one stream's segments, reporting every broken invariant, and decodes
// each record so that a well-framed but malformed payload is caught too.
std::optional<StreamSummary> CheckStream(const fs::path& dir, StreamRole kind,
                                         CheckReport* report) {
  auto segments = ListSegments(dir, kind);
  if (segments.empty()) {
    report->violations.push_back(fmt::format("{}: no segment files", dir.string()));
    return std::nullopt;
  }
  StreamSummary sum;
  bool have_prev = false;
  uint64_t prev_last = 0;
  // Log only: per stream, one past the last token of the previous entry
  // (unknown before the first entry when the log was compacted).
  std::array<std::optional<uint64_t>, 2> token_end;
  if (kind == StreamRole::kLog && !segments.empty() && segments.front().first == 1) {
    token_end = {0, 0};
  }
  for (size_t i = 0; i < segments.size(); ++i) {
    // Not a structured binding: the lambdas below use `path`, which clang
    // before 16 cannot capture from one (the fuzz build uses clang).
    const auto& base = segments[i].first;
    const auto& path = segments[i].second;
    const bool active = i + 1 == segments.size();
    sum.segments.push_back(path);
    if (have_prev && base != prev_last + 1) {
      report->violations.push_back(fmt::format(
          "{}: starts at {} but the previous segment ends at {}", path.string(), base, prev_last));
      // The entries in between are gone: their tokens cannot be followed.
      token_end = {};
    }
    auto scan = ScanSegment(path, kind, base, [&](uint64_t offset, std::string_view payload) {
      if (kind == StreamRole::kLog) {
        auto entry = DecodeLogEntry(payload);
        if (!entry.ok()) {
          report->violations.push_back(
              fmt::format("{}: offset {}: {}", path.string(), offset, entry.status().message()));
          return true;
        }
        if (entry->term < sum.last_term) {
          report->violations.push_back(
              fmt::format("{}: offset {}: entry {} has term {} after term {}", path.string(),
                          offset, entry->index, entry->term, sum.last_term));
        }
        sum.last_term = entry->term;
        const uint64_t entry_end = entry->first_token + entry->events.size();
        if (!LogEntryStream(entry->stream)) {
          report->violations.push_back(
              fmt::format("{}: offset {}: entry {} names unknown stream {}", path.string(), offset,
                          entry->index, entry->stream));
          return true;
        }
        // Each entry's tokens follow its stream's previous entry's: an
        // overlap means two entries claim a token, a gap a token no entry has.
        auto& end = token_end[entry->stream];
        if (end && entry->first_token != *end) {
          report->violations.push_back(fmt::format(
              "{}: offset {}: entry {} claims {} tokens {}..{} but the previous {} entry ended "
              "at token {} ({})",
              path.string(), offset, entry->index, StreamRoleName(*LogEntryStream(entry->stream)),
              entry->first_token, entry_end - 1, StreamRoleName(*LogEntryStream(entry->stream)),
              *end - 1, entry->first_token < *end ? "an overlap" : "a gap"));
        }
        end = entry_end;
        EntryInfo info{.first_token = entry->first_token,
                       .hash = 0,
                       .count = static_cast<uint32_t>(entry->events.size()),
                       .stream = entry->stream};
        for (std::string_view e : entry->events) info.hash = ChainHash(info.hash, e);
        sum.entries.push_back(info);
      } else {
        auto ev = DecodeEvent(payload);
        if (!ev.ok()) {
          report->violations.push_back(
              fmt::format("{}: offset {}: {}", path.string(), offset, ev.status().message()));
          return true;
        }
        if (ev->log_index < sum.max_log_index) {
          report->violations.push_back(
              fmt::format("{}: offset {}: token {} applied from log entry {} after entry {}",
                          path.string(), offset, ev->token, ev->log_index, sum.max_log_index));
        }
        sum.max_log_index = std::max(sum.max_log_index, ev->log_index);
        if (sum.runs.empty() || sum.runs.back().log_index != ev->log_index ||
            sum.runs.back().first_token + sum.runs.back().count != ev->token) {
          sum.runs.push_back({.log_index = ev->log_index,
                              .first_token = ev->token,
                              .hash = 0,
                              .offset = offset,
                              .count = 0,
                              .segment = static_cast<uint32_t>(sum.segments.size() - 1)});
        }
        sum.runs.back().hash = ChainHash(sum.runs.back().hash, ev->payload);
        ++sum.runs.back().count;
      }
      return true;
    });
    if (!scan.ok()) {
      report->violations.push_back(scan.status().message());
      return std::nullopt;
    }
    if (!scan->clean()) {
      const bool torn_creation =
          active && !scan->header_ok && scan->file_size <= kSegmentHeaderSize;
      if (active && (scan->header_ok || torn_creation)) {
        report->notes.push_back(
            fmt::format("{}: torn tail at offset {} ({}); recovery truncates it", path.string(),
                        scan->error_offset, scan->error));
      } else {
        report->violations.push_back(fmt::format("{}: {} segment damaged at offset {}: {}",
                                                 path.string(), active ? "active" : "closed",
                                                 scan->error_offset, scan->error));
      }
    }
    if (!active && scan->clean() && scan->records == 0) {
      report->violations.push_back(
          fmt::format("{}: closed segment holds no records", path.string()));
    }
    if (scan->records > 0) {
      if (sum.records == 0) sum.first = scan->first_seq;
      sum.last = scan->last_seq;
      sum.records += scan->records;
      prev_last = scan->last_seq;
    } else {
      prev_last = base - 1;
    }
    have_prev = true;
  }
  return sum;
}

// Events and log agree: each run of events is the whole of the log entry it
// names (same stream, same tokens, same bytes), except that the newest run
// may be the start of an entry recovery has yet to finish; and no entry of
// the stream is left out before it. Entries below the log's first (compacted)
// are not checked.
void CrossCheck(uint32_t stream, const StreamSummary& log, const StreamSummary& events,
                CheckReport* report) {
  const std::string_view what = StreamRoleName(*LogEntryStream(stream));
  // A log with a gap in its indexes (already a violation) cannot be looked
  // up by index; there is nothing more to learn from it.
  if (log.records == 0 || log.entries.size() != log.last - log.first + 1) return;
  const uint64_t first_index = log.records > 0 ? log.first : UINT64_MAX;
  std::optional<uint64_t> prev_index;  // the log entry of the previous run
  for (size_t r = 0; r < events.runs.size(); ++r) {
    const EventRun& run = events.runs[r];
    const bool newest = r + 1 == events.runs.size();
    const std::string where =
        fmt::format("{}: offset {}", events.segments[run.segment].string(), run.offset);
    if (run.log_index < first_index || run.log_index > log.last) {
      prev_index = run.log_index;
      continue;  // compacted, or ahead of the log (noted above)
    }
    const EntryInfo& entry = log.entries[run.log_index - first_index];
    if (entry.stream != stream) {
      report->violations.push_back(
          fmt::format("{}: token {} says log entry {}, which is a {} entry", where, run.first_token,
                      run.log_index, StreamRoleName(*LogEntryStream(entry.stream))));
    } else if (run.first_token != entry.first_token) {
      report->violations.push_back(
          fmt::format("{}: token {} says log entry {}, whose tokens start at {}", where,
                      run.first_token, run.log_index, entry.first_token));
    } else if (run.count > entry.count || (run.count < entry.count && !newest)) {
      report->violations.push_back(fmt::format(
          "{}: log entry {} holds {} events but {} tokens {}..{} were applied from it", where,
          run.log_index, entry.count, what, run.first_token, run.first_token + run.count - 1));
    } else if (run.count == entry.count && run.hash != entry.hash) {
      report->violations.push_back(
          fmt::format("{}: {} tokens {}..{} differ from the bytes of log entry {}", where, what,
                      run.first_token, run.first_token + run.count - 1, run.log_index));
    }
    // An entry of this stream between the previous run's and this one's
    // that the stream does not hold: its tokens were never applied.
    if (prev_index) {
      for (uint64_t i = std::max(*prev_index + 1, first_index); i < run.log_index; ++i) {
        if (log.entries[i - first_index].stream == stream) {
          report->violations.push_back(
              fmt::format("{}: log entry {} of the {} stream is missing before token {} (entry {})",
                          where, i, what, run.first_token, run.log_index));
          break;
        }
      }
    }
    prev_index = run.log_index;
  }
}

std::string Range(const StreamSummary& s) {
  if (s.records == 0) return "empty";
  return fmt::format("{}..{} ({} records)", s.first, s.last, s.records);
}

}  // namespace

CheckReport CheckDataDir(const fs::path& data_dir) {
  CheckReport report;
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) {
    report.violations.push_back(fmt::format("{}: not a directory", data_dir.string()));
    return report;
  }
  std::map<std::string, ReplicationState> states;
  const fs::path db_path = data_dir / "control.db";
  if (!fs::exists(db_path, ec)) {
    report.violations.push_back(fmt::format("{}: control DB missing", db_path.string()));
  } else if (auto db = ControlDb::Open(db_path, /*read_only=*/true); !db.ok()) {
    report.violations.push_back(db.status().message());
  } else if (auto loaded = (*db)->LoadReplicationStates(); !loaded.ok()) {
    report.violations.push_back(loaded.status().message());
  } else {
    states = *loaded;
  }

  std::set<std::string> names;
  for (const auto& [name, state] : states) names.insert(name);
  for (const auto& entry : fs::directory_iterator(data_dir / "contexts", ec)) {
    if (entry.is_directory()) names.insert(entry.path().filename().string());
  }

  // Each stream is read on its own, several at once: the reading is all of
  // the check's cost. The reports are merged in context and stream order.
  struct StreamCheck {
    fs::path dir;
    StreamRole kind;
    CheckReport report;
    std::optional<StreamSummary> summary;
  };
  std::vector<std::string> present;
  std::vector<StreamCheck> streams;
  for (const std::string& name : names) {
    const fs::path dir = data_dir / "contexts" / name;
    if (states.find(name) == states.end()) {
      report.violations.push_back(fmt::format(
          "context '{}': has segments in {} but no row in the control DB", name, dir.string()));
    }
    if (!fs::is_directory(dir, ec)) {
      report.violations.push_back(
          fmt::format("context '{}': in the control DB but {} is missing", name, dir.string()));
      continue;
    }
    present.push_back(name);
    for (StreamRole kind : kStreamRoles) {
      streams.push_back({dir / StreamRoleName(kind), kind, {}, std::nullopt});
    }
  }
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < streams.size();) {
      streams[i].summary = CheckStream(streams[i].dir, streams[i].kind, &streams[i].report);
    }
  };
  std::vector<std::thread> threads;
  const size_t parallel = std::max(2u, std::thread::hardware_concurrency());
  for (size_t t = 1; t < std::min(parallel, streams.size()); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();

  for (size_t c = 0; c < present.size(); ++c) {
    const std::string& name = present[c];
    auto state = states.find(name);
    for (size_t k = 0; k < 3; ++k) {
      const CheckReport& part = streams[3 * c + k].report;
      report.violations.insert(report.violations.end(), part.violations.begin(),
                               part.violations.end());
      report.notes.insert(report.notes.end(), part.notes.begin(), part.notes.end());
    }
    const auto& log = streams[3 * c].summary;
    const auto& events = streams[3 * c + 1].summary;
    const auto& snapshots = streams[3 * c + 2].summary;
    if (!log) continue;
    const uint64_t last_index = log->records ? log->last : 0;
    if (state != states.end() && state->second.commit_index > last_index) {
      report.violations.push_back(
          fmt::format("context '{}': commit index {} is beyond the last log entry {}", name,
                      state->second.commit_index, last_index));
    }
    for (const auto& [role, sum] :
         {std::pair{StreamRole::kEvents, events}, {StreamRole::kSnapshots, snapshots}}) {
      if (!sum) continue;
      if (sum->max_log_index > last_index) {
        report.notes.push_back(fmt::format(
            "context '{}': {} applied up to log entry {} but the log ends at {}; recovery "
            "cuts them back to the log",
            name, StreamRoleName(role), sum->max_log_index, last_index));
      }
    }
    // Per stream, the log's last entry of it against what the stream holds.
    for (uint32_t k = 0; k < 2; ++k) {
      const auto& sum = k == 0 ? events : snapshots;
      if (!sum) continue;
      auto it = std::find_if(log->entries.rbegin(), log->entries.rend(),
                             [&](const EntryInfo& e) { return e.stream == k; });
      if (it == log->entries.rend()) continue;
      const uint64_t end = it->first_token + it->count;
      const uint64_t applied_end = sum->records > 0 ? sum->last + 1 : 0;
      if (applied_end < end) {
        report.notes.push_back(fmt::format(
            "context '{}': the log holds {} up to token {} not yet applied; recovery applies them",
            name, StreamRoleName(*LogEntryStream(k)), end - 1));
      }
    }
    for (size_t k = 0; k < 2; ++k) {
      const auto& sum = k == 0 ? events : snapshots;
      if (sum) CrossCheck(static_cast<uint32_t>(k), *log, *sum, &report);
    }
    // Two terms, named apart: every start (and so every restore) gives the
    // context a new term in the control DB before any entry is logged in it.
    report.summary.push_back(fmt::format(
        "context '{}': log {} last entry's term {}; control DB term {} commit {}; events {}; "
        "snapshots {}",
        name, Range(*log), log->last_term, state != states.end() ? state->second.term : 0,
        state != states.end() ? state->second.commit_index : 0,
        events ? Range(*events) : "unreadable", snapshots ? Range(*snapshots) : "unreadable"));
  }
  return report;
}

void PrintCheckReport(const CheckReport& report, std::ostream& out) {
  for (const auto& line : report.summary) out << line << "\n";
  for (const auto& line : report.notes) out << "note: " << line << "\n";
  for (const auto& line : report.violations) out << "VIOLATION: " << line << "\n";
  if (report.ok()) {
    out << "check passed: all invariants hold\n";
  } else {
    out << fmt::format("check FAILED: {} violation(s)\n", report.violations.size());
  }
}

}  // namespace hoststub
