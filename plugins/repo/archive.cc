// The continuous archive (see archive.h).
#include "repo/archive.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <tuple>

#include "bkp/bkp_plugin.hpp"
#include "repo/object_codec.h"
#include "repo/quarantine.h"

namespace repo {
namespace {

constexpr const char* kPartialSuffix = ".partial.json";
constexpr const char* kClosedSuffix = ".json";

std::string StreamPrefix(const std::string& context, uint32_t role) {
  return std::string(kArchivePrefix) + context + "/" + RoleName(role) + "/";
}

// Timeline 1 keeps the names from before timelines, so old repositories
// read as wholly on it; a later timeline's number follows the base.
std::string RecordKey(const std::string& context, uint32_t role, uint64_t base, bool closed,
                      uint32_t timeline) {
  char digits[40];
  if (timeline <= 1) {
    std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(base));
  } else {
    std::snprintf(digits, sizeof digits, "%020llu.%08u", static_cast<unsigned long long>(base),
                  timeline);
  }
  return StreamPrefix(context, role) + digits + (closed ? kClosedSuffix : kPartialSuffix);
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// archive/<context>/<role>/<base>(.partial).json, taken apart; nullopt for
// any other key (never guessed at).
struct RecordName {
  uint32_t timeline = 1;
  std::string context;
  uint32_t role = 0;
  uint64_t base = 0;
  bool closed = false;
  std::string key;
};

std::optional<RecordName> ParseKey(const std::string& key) {
  const std::string prefix = kArchivePrefix;
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string rest = key.substr(prefix.size());
  const size_t a = rest.find('/');
  const size_t b = a == std::string::npos ? a : rest.find('/', a + 1);
  if (a == std::string::npos || b == std::string::npos || a == 0) return std::nullopt;
  RecordName r;
  r.key = key;
  r.context = rest.substr(0, a);
  const std::string role = rest.substr(a + 1, b - a - 1);
  for (uint32_t candidate : {BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS}) {
    if (role == RoleName(candidate)) r.role = candidate;
  }
  if (r.role == 0) return std::nullopt;
  std::string file = rest.substr(b + 1);
  if (EndsWith(file, kPartialSuffix)) {
    file.resize(file.size() - std::string(kPartialSuffix).size());
  } else if (EndsWith(file, kClosedSuffix)) {
    r.closed = true;
    file.resize(file.size() - std::string(kClosedSuffix).size());
  } else {
    return std::nullopt;
  }
  if (file.size() == 29 && file[20] == '.') {
    const std::string timeline = file.substr(21);
    if (timeline.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
    r.timeline = static_cast<uint32_t>(std::stoul(timeline));
    if (r.timeline < 2) return std::nullopt;  // timeline 1 is written without a number
    file.resize(20);
  }
  if (file.size() != 20 || file.find_first_not_of("0123456789") != std::string::npos) {
    return std::nullopt;
  }
  r.base = std::stoull(file);
  return r;
}

std::vector<RecordName> ListRecords(StorageDriver& driver, const std::string& prefix) {
  std::vector<RecordName> out;
  for (const auto& object : driver.List(prefix)) {
    if (auto r = ParseKey(object.key)) out.push_back(std::move(*r));
  }
  return out;
}

ArchivedSegment Load(StorageDriver& driver, const std::string& key) {
  return DecodeArchiveRecord(driver.GetSmall(key, kMaxDocumentBytes),
                             "archive record '" + key + "'");
}

}  // namespace

uint64_t Archive::Put(const FileEntry& file, int64_t observed_ms, int64_t first_ms,
                      const ReadAt& read, ChunkSink& sink, const BackupState* reuse,
                      uint32_t timeline) {
  StorageDriver& driver = repo_.driver();
  const std::string closed_key = RecordKey(file.context, file.role, file.base, true, timeline);
  const std::string partial_key = RecordKey(file.context, file.role, file.base, false, timeline);
  // What is archived of this segment already: the closed record settles
  // it; a piece may be extended.
  std::optional<ArchivedSegment> closed;
  if (driver.Stat(closed_key)) closed = Load(driver, closed_key);
  if (closed && (closed->file.size == file.size || !file.closed)) return 0;
  std::optional<ArchivedSegment> piece;
  if (!closed && driver.Stat(partial_key)) piece = Load(driver, partial_key);
  if (!file.closed && piece && piece->file.size >= file.size) return 0;

  // Objects and record under the publish lock: garbage collection must
  // not run between them, nor verify set aside an object this decides to
  // reuse.
  auto publishing = repo_.PublishLock();
  // Never built on an object verify set aside as damaged (and not stored
  // anew since): the whole segment is then stored again from the host.
  // Nor on one damaged in place (a pending record): its bytes are stored
  // over it instead, and the record dropped.
  const std::set<std::string> quarantined = QuarantinedObjects(driver);
  const std::set<std::string> damaged = PendingObjects(driver, quarantined);
  auto sound = [&](const FileEntry& f) {
    for (const auto& c : f.chunks) {
      if (damaged.count(c.object) > 0) return false;
      if (quarantined.count(c.object) > 0 && !driver.Stat(c.object)) return false;
    }
    return true;
  };
  const FileEntry* prefix = nullptr;
  if (piece && sound(piece->file) && StillBeginsWith(read, file.size, piece->file)) {
    prefix = &piece->file;
  }
  if (prefix == nullptr && reuse != nullptr) {
    auto found = reuse->files.find(file.key());
    if (found != reuse->files.end() && sound(found->second) &&
        StillBeginsWith(read, file.size, found->second)) {
      prefix = &found->second;
    }
  }

  const uint64_t added_before = sink.bytes_new;
  ArchivedSegment record;
  record.file = file;
  record.file.inherit = 0;
  record.file.chunks.clear();
  record.observed_ms = observed_ms;
  record.first_ms = first_ms;
  uint64_t at = 0;
  if (prefix != nullptr) {
    record.file.chunks = prefix->chunks;
    at = prefix->size;
  }
  const auto buf = NewReadBuffer();
  ChunkSink store = sink;
  store.damaged = &damaged;
  std::set<std::string> replaced;
  for (; at < file.size; at += std::min(kMaxChunkBytes, file.size - at)) {
    record.file.chunks.push_back(StoreChunk(
        store, read, at, std::min(kMaxChunkBytes, file.size - at), {buf.get(), kBlockBytes}));
    if (damaged.count(record.file.chunks.back().object) > 0) {
      replaced.insert(record.file.chunks.back().object);
    }
  }
  for (const auto& object : replaced) ClearPending(driver, object);
  driver.PutSmall(file.closed ? closed_key : partial_key, EncodeArchiveRecord(record));
  if (file.closed && piece) driver.Remove({partial_key});
  return sink.bytes_new - added_before;
}

std::vector<std::pair<std::string, uint32_t>> Archive::Streams(
    const std::set<uint32_t>& timelines) {
  std::vector<std::pair<std::string, uint32_t>> out;
  for (const auto& r : ListRecords(repo_.driver(), kArchivePrefix)) {
    if (timelines.count(r.timeline) > 0) out.emplace_back(r.context, r.role);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<ArchivedSegment> Archive::Segments(const std::string& context, uint32_t role,
                                               uint32_t timeline) {
  auto records = ListRecords(repo_.driver(), StreamPrefix(context, role));
  std::erase_if(records, [&](const RecordName& r) { return r.timeline != timeline; });
  std::sort(records.begin(), records.end(), [](const RecordName& a, const RecordName& b) {
    return std::tie(a.base, b.closed) < std::tie(b.base, a.closed);  // closed first per base
  });
  std::vector<ArchivedSegment> out;
  for (size_t i = 0; i < records.size(); ++i) {
    if (i > 0 && records[i].base == records[i - 1].base) continue;  // a piece the close superseded
    out.push_back(Load(repo_.driver(), records[i].key));
  }
  return out;
}

std::vector<ArchivedSegment> Archive::SegmentsAlong(const std::string& context, uint32_t role,
                                                    const std::vector<TimelineHistory>& lineage) {
  std::map<uint64_t, ArchivedSegment> by_base;
  for (const TimelineHistory& t : lineage) {
    if (t.timeline > 1) {
      // The parent's records serve only before this timeline's branch: a
      // segment reaching past it holds the history the restore left.
      auto branch = t.contexts.find(context);
      const uint64_t at = branch == t.contexts.end() ? 0 : branch->second.Of(role);
      std::erase_if(by_base, [&](const auto& entry) {
        return entry.second.file.base >= at || entry.second.file.next > at;
      });
    }
    for (ArchivedSegment& seg : Segments(context, role, t.timeline)) {
      const uint64_t base = seg.file.base;
      by_base.insert_or_assign(base, std::move(seg));
    }
  }
  std::vector<ArchivedSegment> out;
  for (auto& [base, seg] : by_base) out.push_back(std::move(seg));
  return out;
}

std::set<uint32_t> Archive::Timelines() {
  std::set<uint32_t> out;
  for (const auto& r : ListRecords(repo_.driver(), kArchivePrefix)) out.insert(r.timeline);
  return out;
}

std::vector<ArchivePosition> Archive::Positions() {
  std::map<std::tuple<uint32_t, std::string, uint32_t>, std::vector<RecordName>> streams;
  for (auto& r : ListRecords(repo_.driver(), kArchivePrefix)) {
    streams[{r.timeline, r.context, r.role}].push_back(std::move(r));
  }
  std::vector<ArchivePosition> out;
  for (auto& [stream, records] : streams) {
    ArchivePosition p;
    p.timeline = std::get<0>(stream);
    p.context = std::get<1>(stream);
    p.role = std::get<2>(stream);
    const RecordName* newest_closed = nullptr;
    const RecordName* newest_piece = nullptr;
    for (const auto& r : records) {
      const RecordName*& slot = r.closed ? newest_closed : newest_piece;
      if (slot == nullptr || r.base > slot->base) slot = &r;
    }
    if (newest_closed != nullptr) p.closed_base = newest_closed->base;
    // Only the newest record says how far the stream reaches; a piece older
    // than the newest closed segment is one its close superseded.
    const bool piece_is_newest =
        newest_piece != nullptr &&
        (newest_closed == nullptr || newest_piece->base > newest_closed->base);
    const RecordName* newest = piece_is_newest ? newest_piece : newest_closed;
    const ArchivedSegment last = Load(repo_.driver(), newest->key);
    if (piece_is_newest) {
      p.partial_name = last.file.name;
      p.partial_size = last.file.size;
    }
    p.next = last.file.next;
    p.archived_ms = last.observed_ms;
    out.push_back(std::move(p));
  }
  return out;
}

uint64_t Archive::ExpireBefore(int64_t before_ms) {
  std::vector<std::string> keys;
  for (const auto& r : ListRecords(repo_.driver(), kArchivePrefix)) {
    if (Load(repo_.driver(), r.key).observed_ms < before_ms) keys.push_back(r.key);
  }
  repo_.driver().Remove(keys);
  return keys.size();
}

std::vector<std::string> ArchiveObjects(StorageDriver& driver) {
  std::vector<std::string> out;
  for (const auto& r : ListRecords(driver, kArchivePrefix)) {
    for (const auto& c : Load(driver, r.key).file.chunks) out.push_back(c.object);
  }
  return out;
}

std::vector<std::string> ArchiveRecordKeys(StorageDriver& driver) {
  std::vector<std::string> out;
  for (const auto& r : ListRecords(driver, kArchivePrefix)) out.push_back(r.key);
  return out;
}

ArchivedSegment LoadArchiveRecord(StorageDriver& driver, const std::string& key) {
  return Load(driver, key);
}

}  // namespace repo
