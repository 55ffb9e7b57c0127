// Segment files: naming, the file header, and the scanner that walks a
// segment's records, stopping at the first one that is not whole.
//
// A segment is   header(32 bytes) | record | record | ...
// header = magic "EVSTSEG1" | u32 kind (StreamRole) | u32 format version | u64 base |
//          u64 XXH3-64 of the preceding 24 bytes
// and is named by its base (the first index/token it holds), zero-padded to
// 20 digits so names sort: 00000000000000000042.events.
//
// Thread-safety: pure functions; ScanSegment only reads the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "storage/stream_role.h"
#include "util/status.h"

namespace hoststub {

inline constexpr size_t kSegmentHeaderSize = 32;
inline constexpr uint32_t kSegmentFormatVersion = 1;

// The record type a segment of this kind holds.
uint32_t SegmentRecordType(StreamRole kind);
// The sequence number of the very first record of a stream: log indexes start
// at 1 (as in Raft), tokens at 0 (as in Axon Server).
uint64_t FirstSequence(StreamRole kind);

std::string SegmentFileName(StreamRole kind, uint64_t base);
// The base encoded in a file name, or nullopt if it is not a segment of `kind`.
std::optional<uint64_t> ParseSegmentFileName(StreamRole kind, std::string_view name);

std::string EncodeSegmentHeader(StreamRole kind, uint64_t base);

// The outcome of scanning one segment file.
struct SegmentScan {
  uint64_t file_size = 0;
  bool header_ok = false;
  // Offset just past the last whole record (kSegmentHeaderSize if none).
  uint64_t valid_end = 0;
  uint64_t records = 0;
  uint64_t first_seq = 0;  // valid when records > 0
  uint64_t last_seq = 0;   // valid when records > 0
  // Why the scan stopped before the end of the scanned range; empty if it
  // reached the end cleanly. `error_offset` is where the bad bytes start.
  std::string error;
  uint64_t error_offset = 0;

  bool clean() const { return error.empty(); }
};

// Called for each whole record in order; return false to stop early.
using RecordVisitor = std::function<bool(uint64_t offset, std::string_view payload)>;

// Scans a segment: checks the header (kind and base), then every record's
// framing, checksum, type and sequence (the first must equal the base, each
// next one the previous plus one). Stops at the first bad record and reports
// it in `error`. Only the first `limit` bytes are considered (for active
// segments that are being appended to). Fails only if the file can't be read.
Result<SegmentScan> ScanSegment(const std::filesystem::path& path, StreamRole kind,
                                uint64_t expected_base, const RecordVisitor& visitor = {},
                                uint64_t limit = std::numeric_limits<uint64_t>::max());

}  // namespace hoststub
