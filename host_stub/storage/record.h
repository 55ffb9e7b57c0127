// On-disk record framing and the payloads of log entries and events.
//
// Every record in a segment file is
//   u32 length | u32 type | u64 checksum | payload[length]
// little-endian, where checksum = XXH3-64(payload, seed = type << 32 | length).
// Seeding with the header means a torn or zeroed header, a length pointing
// into the next record, or a record of the wrong kind never passes as data.
// Every payload starts with its u64 sequence number (log index or token), so
// a reader can check contiguity without decoding the rest.
//
// Thread-safety: pure functions; an EventRecordBatch is used by one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/stream_role.h"
#include "util/status.h"

namespace hoststub {

inline constexpr size_t kRecordHeaderSize = 16;
// Guards against a corrupt length sending a reader off to allocate gigabytes.
inline constexpr uint32_t kMaxRecordPayload = 256u << 20;

enum class RecordType : uint32_t { kLogEntry = 1, kEvent = 2 };

struct RecordHeader {
  uint32_t length = 0;
  uint32_t type = 0;
  uint64_t checksum = 0;
};

uint64_t RecordChecksum(uint32_t type, std::string_view payload);
RecordHeader DecodeRecordHeader(const char* bytes);
// Appends header + payload to `out`.
void AppendRecord(RecordType type, std::string_view payload, std::string* out);
// Whether a payload matches the header's length, type and checksum.
bool RecordMatches(const RecordHeader& header, std::string_view payload);

// Little-endian fixed-width helpers.
void PutU32(std::string* out, uint32_t v);
void PutU64(std::string* out, uint64_t v);
uint32_t GetU32(const char* p);
uint64_t GetU64(const char* p);

// The sequence number (index or token) every payload starts with; 0 when the
// payload is too short to hold one (the scanner rejects such records).
uint64_t PayloadSequence(std::string_view payload);

// A log entry: one appended batch, before it is applied as events.
//   u64 index | u64 term | u64 first_token | u32 stream | u32 count |
//   count x (u32 size | bytes)
struct LogEntryView {
  uint64_t index = 0;
  uint64_t term = 0;
  uint64_t first_token = 0;
  uint32_t stream = 0;                   // as written: LogEntryStream gives the StreamRole
  std::vector<std::string_view> events;  // point into the decoded payload
};

// The `stream` field of a log entry: 0 for the events, 1 for the snapshots
// (on disk, so not StreamRole's numbering). `stream` must be an event stream.
constexpr uint32_t LogEntryStreamCode(StreamRole stream) {
  return stream == StreamRole::kSnapshots ? 1 : 0;
}
// The stream a log entry's `stream` field names; nullopt for any other value
// (a damaged entry).
constexpr std::optional<StreamRole> LogEntryStream(uint32_t code) {
  if (code == 0) return StreamRole::kEvents;
  if (code == 1) return StreamRole::kSnapshots;
  return std::nullopt;
}

// `stream` must be kEvents or kSnapshots.
void EncodeLogEntry(uint64_t index, uint64_t term, uint64_t first_token, StreamRole stream,
                    std::span<const std::string> events, std::string* payload);
// Fails with Corruption when the payload is malformed; the views borrow it.
Result<LogEntryView> DecodeLogEntry(std::string_view payload);

// An applied event:  u64 token | u64 log_index | i64 timestamp_ms | bytes
inline constexpr size_t kEventPrefixSize = 24;
struct EventView {
  uint64_t token = 0;
  uint64_t log_index = 0;
  int64_t timestamp_ms = 0;
  std::string_view payload;
};

void EncodeEvent(uint64_t token, uint64_t log_index, int64_t timestamp_ms, std::string_view event,
                 std::string* payload);
Result<EventView> DecodeEvent(std::string_view payload);

// Events encoded as whole kEvent records, back to back, with each record's
// size: what SegmentedStream::Append takes. The append path and recovery's
// re-apply both build their writes with it, so an event is framed one way.
class EventRecordBatch {
 public:
  void Add(uint64_t token, uint64_t log_index, int64_t timestamp_ms, std::string_view event);
  bool empty() const { return sizes_.empty(); }
  size_t count() const { return sizes_.size(); }
  const std::string& records() const { return records_; }
  const std::vector<uint32_t>& sizes() const { return sizes_; }

 private:
  std::string records_;
  std::vector<uint32_t> sizes_;
  std::string payload_;  // reused between events
};

}  // namespace hoststub
