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

inline constexpr int kManifestFormatVersion = 1;

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

struct FileEntry {
  uint32_t role = 0;    // BKP_ROLE_*
  std::string context;  // empty for the control DB
  std::string name;     // the host's file name
  uint64_t base = 0;    // first index/token held
  uint64_t next = 0;    // one past the last
  bool closed = false;  // an immutable closed segment
  uint64_t size = 0;    // original bytes
  uint64_t xxh3 = 0;    // XXH3-64 of the original bytes
  std::string object;   // key of the stored LZ4 frame
  uint64_t stored_size = 0;
  // For closed segments: XXH3-64 of the segment's last (up to) 4 KiB, part
  // of the identity that lets a later backup reuse the object unread.
  std::optional<uint64_t> tail_xxh3;
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
  std::vector<ContextEntry> contexts;
  std::vector<FileEntry> files;  // in restore order
  uint64_t bytes_new = 0;        // stored bytes this backup added to the repository

  uint64_t TotalBytes() const;
  uint64_t TotalStoredBytes() const;
};

const char* RoleName(uint32_t role);  // "control_db", "log", "events", "snapshots"
uint32_t PhaseOfRole(uint32_t role);  // the BKP_PHASE_* in which a role is copied

std::string EncodeManifest(const Manifest& manifest);
// Throws bkp::Error(BKP_E_CORRUPT) naming `what` when the document is not a
// manifest this version understands (BKP_E_UNSUPPORTED for a newer format).
Manifest DecodeManifest(const std::string& json, const std::string& what);

// The key a backup's manifest is stored under, and the id back from a key.
std::string ManifestKey(const std::string& id);
std::optional<std::string> IdFromManifestKey(const std::string& key);

}  // namespace repo
