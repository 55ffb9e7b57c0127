// A file of the host as the repository stores it: its identity, the range
// of indexes or tokens it holds, and the chunks its bytes are stored as.
// Both of the repository's documents list files this way, the manifest
// (manifest.h) and the archive record (archive_record.h).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repo/codec.h"

namespace repo {

// One stored piece of a file: bytes [offset, offset + size) of the original,
// as one LZ4 or zstd frame. Appending to a segment only ever adds chunks, so a later
// backup reuses the ones it already has without reading them again.
struct Chunk {
  uint64_t offset = 0;
  uint64_t size = 0;   // original bytes
  uint64_t xxh3 = 0;   // XXH3-64 of the original bytes (`xxhsum -H3` of the decoded frame)
  std::string object;  // key of the stored frame
  uint64_t stored_size = 0;
  // XXH3-64 of the chunk's last min(4 KiB, size) bytes: a later backup reads
  // just those bytes of the live file to know it still begins with this
  // chunk. Absent in format-1 manifests for files that were not closed.
  std::optional<uint64_t> tail_xxh3;
  // Filled when a backup's state is resolved, never stored: the backup that
  // holds this chunk (an ancestor, for an inherited chunk). For messages.
  std::string stored_by;
  // The frame's codec: the manifest's `codec` (absent: lz4), always the one
  // the key's extension says (CodecOfObject). Last, so that brace
  // initialisers of the fields above still read as before.
  Codec codec = Codec::kLz4;

  uint64_t end() const { return offset + size; }
};

// Which file of the host: the identity a file keeps across backups.
struct FileKey {
  uint32_t role = 0;    // BKP_ROLE_*
  std::string context;  // empty for the control DB
  std::string name;     // the host's file name

  auto operator<=>(const FileKey&) const = default;
};

struct FileEntry {
  uint32_t role = 0;    // BKP_ROLE_*
  std::string context;  // empty for the control DB
  std::string name;     // the host's file name
  uint64_t base = 0;    // first index/token held
  uint64_t next = 0;    // one past the last
  bool closed = false;  // an immutable closed segment
  uint64_t size = 0;    // original bytes
  // Incremental manifests only: the file's first `inherit` bytes are those
  // of the same file in the parent's state; `chunks` hold the rest.
  uint64_t inherit = 0;
  std::vector<Chunk> chunks;  // in order, covering [inherit, size) without gaps

  FileKey key() const { return {role, context, name}; }
  uint64_t StoredBytes() const;
};

const char* RoleName(uint32_t role);  // "control_db", "log", "events", "snapshots"
// "<context>/<role>/<name>", or the control DB's name: a file in messages.
std::string FileLabel(const FileKey& key);
std::string FileLabel(const FileEntry& f);
uint32_t PhaseOfRole(uint32_t role);  // the BKP_PHASE_* in which a role is copied

}  // namespace repo
