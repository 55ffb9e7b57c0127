// Manifest: what one backup holds, as the JSON document stored at
// backups/<id>.json (docs/repository-format.md specifies every field). A
// backup exists exactly when its manifest does: the engine writes it last,
// in one atomic put.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace repo {

// 2: files are lists of chunks, and incremental manifests hold only what
// changed since their parent. Format 1 (one object per file) is still read.
inline constexpr int kManifestFormatVersion = 2;

struct StreamRange {
  uint64_t first = 0;  // first index/token held
  uint64_t next = 0;   // one past the last (== first when empty)
};

struct ContextEntry {
  std::string name;
  uint64_t term = 0;
  uint64_t commit_index = 0;
  StreamRange log;
  StreamRange events;
  StreamRange snapshots;
};

// One stored piece of a file: bytes [offset, offset + size) of the original,
// as one LZ4 frame. Appending to a segment only ever adds chunks, so a later
// backup reuses the ones it already has without reading them again.
struct Chunk {
  uint64_t offset = 0;
  uint64_t size = 0;   // original bytes
  uint64_t xxh3 = 0;   // XXH3-64 of the original bytes (`xxhsum -H3` of the decoded frame)
  std::string object;  // key of the stored LZ4 frame
  uint64_t stored_size = 0;
  // XXH3-64 of the chunk's last min(4 KiB, size) bytes: a later backup reads
  // just those bytes of the live file to know it still begins with this
  // chunk. Absent in format-1 manifests for files that were not closed.
  std::optional<uint64_t> tail_xxh3;
  // Filled when a backup's state is resolved, never stored: the backup that
  // holds this chunk (an ancestor, for an inherited chunk). For messages.
  std::string stored_by;

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

struct Manifest {
  std::string id;
  std::string type = "full";  // "full" or "incremental"
  std::optional<std::string> parent;
  int64_t created_ms = 0;
  int64_t completed_ms = 0;
  std::string provider;  // the plugin's name, e.g. "local_disk"
  std::string provider_version;
  std::string abi_version;  // "1.0"
  uint32_t timeline = 1;    // the host's timeline when it was taken (timeline.h)
  std::vector<ContextEntry> contexts;
  // A full backup: every file of the host. An incremental: the files that
  // are new or grew since the parent (and always the control DB).
  std::vector<FileEntry> files;  // in restore order
  // Incremental only: files of the parent's state the host no longer has
  // (compacted log segments).
  std::vector<FileKey> dropped;
  uint64_t bytes_new = 0;  // stored bytes this backup added to the repository

  bool incremental() const { return type == "incremental"; }
  uint64_t TotalBytes() const;        // original bytes of the files listed, less inherited ones
  uint64_t TotalStoredBytes() const;  // stored bytes of the chunks listed
};

const char* RoleName(uint32_t role);  // "control_db", "log", "events", "snapshots"
// "<context>/<role>/<name>", or the control DB's name: a file in messages.
std::string FileLabel(const FileEntry& f);
uint32_t PhaseOfRole(uint32_t role);  // the BKP_PHASE_* in which a role is copied

// The largest manifest or archive record read. A larger one is refused as
// BKP_E_CORRUPT before it is parsed (or even read whole): parsing costs ~25
// bytes of memory per byte of JSON, so an unbounded one could exhaust the
// host. 64 MiB holds about 300 000 chunks, far beyond any real backup.
inline constexpr uint64_t kMaxDocumentBytes = 64ull << 20;

std::string EncodeManifest(const Manifest& manifest);
// Throws bkp::Error(BKP_E_CORRUPT) naming `what` when the document is not a
// manifest this version understands (BKP_E_UNSUPPORTED for a newer format):
// larger than kMaxDocumentBytes, a format_version that is not an integer
// from 1, any size, index or time out of its type's range, or chunks that
// do not cover their file exactly.
Manifest DecodeManifest(const std::string& json, const std::string& what);

// One segment of the continuous archive (archive.h), as stored at
// archive/<context>/<role>/<base>[.partial].json: the file entry (chunks
// from offset 0) and the host's clock when it was shipped.
struct ArchivedSegment {
  FileEntry file;
  int64_t observed_ms = 0;  // every event in it was appended at or before this
  int64_t first_ms = 0;     // its first event was appended at this (0: unknown)
};

std::string EncodeArchiveRecord(const ArchivedSegment& segment);
// Throws bkp::Error(BKP_E_CORRUPT) naming `what` for anything else.
ArchivedSegment DecodeArchiveRecord(const std::string& json, const std::string& what);

// The key a backup's manifest is stored under, and the id back from a key.
std::string ManifestKey(const std::string& id);
std::optional<std::string> IdFromManifestKey(const std::string& key);

}  // namespace repo
