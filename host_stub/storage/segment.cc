// Segment naming, header codec and the record scanner.
#include "storage/segment.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "storage/record.h"
#include "util/file.h"
#include "util/xxhash_dispatch.h"

namespace hoststub {
namespace {

constexpr char kMagic[8] = {'E', 'V', 'S', 'T', 'S', 'E', 'G', '1'};
constexpr size_t kScanChunk = 1 << 20;

}  // namespace

uint32_t SegmentRecordType(StreamRole kind) {
  return static_cast<uint32_t>(kind == StreamRole::kLog ? RecordType::kLogEntry
                                                        : RecordType::kEvent);
}

uint64_t FirstSequence(StreamRole kind) { return kind == StreamRole::kLog ? 1 : 0; }

std::string SegmentFileName(StreamRole kind, uint64_t base) {
  return fmt::format("{:020}.{}", base, StreamRoleName(kind));
}

std::optional<uint64_t> ParseSegmentFileName(StreamRole kind, std::string_view name) {
  std::string suffix = fmt::format(".{}", StreamRoleName(kind));
  if (name.size() != 20 + suffix.size() || name.substr(20) != suffix) return std::nullopt;
  uint64_t base = 0;
  auto [ptr, ec] = std::from_chars(name.data(), name.data() + 20, base);
  if (ec != std::errc() || ptr != name.data() + 20) return std::nullopt;
  return base;
}

std::string EncodeSegmentHeader(StreamRole kind, uint64_t base) {
  std::string h(kMagic, sizeof kMagic);
  PutU32(&h, static_cast<uint32_t>(kind));
  PutU32(&h, kSegmentFormatVersion);
  PutU64(&h, base);
  PutU64(&h, XXH3_64bits(h.data(), h.size()));
  return h;
}

namespace {

// Returns "" if the header is valid, else why not.
std::string CheckHeader(const char* h, StreamRole kind, uint64_t expected_base) {
  if (std::memcmp(h, kMagic, sizeof kMagic) != 0) return "not a segment file (bad magic)";
  if (GetU64(h + 24) != XXH3_64bits(h, 24)) return "segment header checksum mismatch";
  if (GetU32(h + 8) != static_cast<uint32_t>(kind)) {
    return fmt::format("segment holds kind {} but is stored as {}", GetU32(h + 8),
                       StreamRoleName(kind));
  }
  if (GetU32(h + 12) != kSegmentFormatVersion) {
    return fmt::format("unsupported segment format version {}", GetU32(h + 12));
  }
  if (GetU64(h + 16) != expected_base) {
    return fmt::format("header says base {} but the file name says {}", GetU64(h + 16),
                       expected_base);
  }
  return "";
}

}  // namespace

Result<SegmentScan> ScanSegment(const std::filesystem::path& path, StreamRole kind,
                                uint64_t expected_base, const RecordVisitor& visitor,
                                uint64_t limit) {
  HOSTSTUB_ASSIGN_OR_RETURN(auto file, File::Open(path, File::Mode::kRead));
  HOSTSTUB_ASSIGN_OR_RETURN(auto size, file->Size());

  SegmentScan scan;
  scan.file_size = size;
  const uint64_t end = std::min(size, limit);
  auto stop = [&](uint64_t offset, std::string why) {
    scan.error = std::move(why);
    scan.error_offset = offset;
    return scan;
  };

  char header[kSegmentHeaderSize];
  if (end < kSegmentHeaderSize) {
    return stop(0, fmt::format("file is {} bytes, shorter than the segment header", end));
  }
  HOSTSTUB_ASSIGN_OR_RETURN(const size_t got, file->PRead(header, sizeof header, 0));
  // Fewer bytes than the size promised: the file shrank since Size(), or
  // reports a size it does not hold (as /sys files do). Checking a header
  // only partly read would judge bytes the file never gave.
  if (got < sizeof header) {
    return stop(0, fmt::format("file is {} bytes, shorter than the segment header", got));
  }
  if (std::string why = CheckHeader(header, kind, expected_base); !why.empty()) {
    return stop(0, why);
  }
  scan.header_ok = true;
  scan.valid_end = kSegmentHeaderSize;

  // A window over the file; records are parsed in place and the window slides
  // (or grows, for a record larger than it) when one runs past its end.
  std::vector<char> buf(kScanChunk);
  uint64_t buf_offset = kSegmentHeaderSize;
  size_t buf_len = 0;
  const uint32_t want_type = SegmentRecordType(kind);
  uint64_t next_seq = expected_base;
  uint64_t offset = kSegmentHeaderSize;

  auto ensure = [&](uint64_t at, size_t n) -> Status {
    if (at >= buf_offset && at + n <= buf_offset + buf_len) return Status::OK();
    if (n > buf.size()) buf.resize(n);
    size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - at));
    HOSTSTUB_ASSIGN_OR_RETURN(auto r, file->PRead(buf.data(), want, at));
    buf_offset = at;
    buf_len = r;
    return Status::OK();
  };

  while (offset < end) {
    if (end - offset < kRecordHeaderSize) {
      return stop(offset, fmt::format("torn record header ({} of {} bytes)", end - offset,
                                      kRecordHeaderSize));
    }
    HOSTSTUB_RETURN_IF_ERROR(ensure(offset, kRecordHeaderSize));
    RecordHeader rh = DecodeRecordHeader(buf.data() + (offset - buf_offset));
    if (rh.length > kMaxRecordPayload) {
      return stop(offset, fmt::format("record length {} is implausible", rh.length));
    }
    if (end - offset - kRecordHeaderSize < rh.length) {
      return stop(offset, fmt::format("torn record: {} payload bytes announced, {} present",
                                      rh.length, end - offset - kRecordHeaderSize));
    }
    HOSTSTUB_RETURN_IF_ERROR(ensure(offset, kRecordHeaderSize + rh.length));
    std::string_view payload(buf.data() + (offset - buf_offset) + kRecordHeaderSize, rh.length);
    if (!RecordMatches(rh, payload)) return stop(offset, "record checksum mismatch");
    if (rh.type != want_type) {
      return stop(offset, fmt::format("record type {} does not belong in a {} segment", rh.type,
                                      StreamRoleName(kind)));
    }
    if (payload.size() < 8 || PayloadSequence(payload) != next_seq) {
      return stop(offset, fmt::format("expected sequence {} but the record holds {}", next_seq,
                                      PayloadSequence(payload)));
    }
    if (scan.records == 0) scan.first_seq = next_seq;
    scan.last_seq = next_seq;
    ++scan.records;
    ++next_seq;
    const uint64_t record_offset = offset;
    offset += kRecordHeaderSize + rh.length;
    scan.valid_end = offset;
    if (visitor && !visitor(record_offset, payload)) break;
  }
  return scan;
}

}  // namespace hoststub
