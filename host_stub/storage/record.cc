// Record framing and payload codecs (see record.h for the layout).
#include "storage/record.h"

#include <cstring>

#include "util/xxhash_dispatch.h"

namespace hoststub {

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}

void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}

uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

uint64_t RecordChecksum(uint32_t type, std::string_view payload) {
  uint64_t seed = (static_cast<uint64_t>(type) << 32) | static_cast<uint64_t>(payload.size());
  return XXH3_64bits_withSeed(payload.data(), payload.size(), seed);
}

RecordHeader DecodeRecordHeader(const char* bytes) {
  return RecordHeader{GetU32(bytes), GetU32(bytes + 4), GetU64(bytes + 8)};
}

void AppendRecord(RecordType type, std::string_view payload, std::string* out) {
  auto t = static_cast<uint32_t>(type);
  PutU32(out, static_cast<uint32_t>(payload.size()));
  PutU32(out, t);
  PutU64(out, RecordChecksum(t, payload));
  out->append(payload);
}

bool RecordMatches(const RecordHeader& header, std::string_view payload) {
  return header.length == payload.size() && RecordChecksum(header.type, payload) == header.checksum;
}

uint64_t PayloadSequence(std::string_view payload) {
  return payload.size() < 8 ? 0 : GetU64(payload.data());
}

void EncodeLogEntry(uint64_t index, uint64_t term, uint64_t first_token, StreamRole stream,
                    std::span<const std::string> events, std::string* payload) {
  PutU64(payload, index);
  PutU64(payload, term);
  PutU64(payload, first_token);
  PutU32(payload, LogEntryStreamCode(stream));
  PutU32(payload, static_cast<uint32_t>(events.size()));
  for (const auto& e : events) {
    PutU32(payload, static_cast<uint32_t>(e.size()));
    payload->append(e);
  }
}

Result<LogEntryView> DecodeLogEntry(std::string_view payload) {
  constexpr size_t kFixed = 32;
  if (payload.size() < kFixed) return Status::Corruption("log entry shorter than its header");
  LogEntryView v;
  const char* p = payload.data();
  v.index = GetU64(p);
  v.term = GetU64(p + 8);
  v.first_token = GetU64(p + 16);
  v.stream = GetU32(p + 24);
  uint32_t count = GetU32(p + 28);
  size_t pos = kFixed;
  v.events.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    if (payload.size() - pos < 4) return Status::Corruption("log entry event table truncated");
    uint32_t size = GetU32(p + pos);
    pos += 4;
    if (payload.size() - pos < size) return Status::Corruption("log entry event truncated");
    v.events.emplace_back(p + pos, size);
    pos += size;
  }
  if (pos != payload.size()) return Status::Corruption("log entry has trailing bytes");
  return v;
}

void EncodeEvent(uint64_t token, uint64_t log_index, int64_t timestamp_ms, std::string_view event,
                 std::string* payload) {
  PutU64(payload, token);
  PutU64(payload, log_index);
  PutU64(payload, static_cast<uint64_t>(timestamp_ms));
  payload->append(event);
}

Result<EventView> DecodeEvent(std::string_view payload) {
  if (payload.size() < kEventPrefixSize) return Status::Corruption("event shorter than its header");
  EventView v;
  v.token = GetU64(payload.data());
  v.log_index = GetU64(payload.data() + 8);
  v.timestamp_ms = static_cast<int64_t>(GetU64(payload.data() + 16));
  v.payload = payload.substr(kEventPrefixSize);
  return v;
}

void EventRecordBatch::Add(uint64_t token, uint64_t log_index, int64_t timestamp_ms,
                           std::string_view event) {
  payload_.clear();
  EncodeEvent(token, log_index, timestamp_ms, event, &payload_);
  const size_t before = records_.size();
  AppendRecord(RecordType::kEvent, payload_, &records_);
  sizes_.push_back(static_cast<uint32_t>(records_.size() - before));
}

}  // namespace hoststub
