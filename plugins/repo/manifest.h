// Manifest: what one backup holds, as the JSON document stored at
// backups/<id>.json (docs/repository-format.md specifies every field). A
// backup exists exactly when its manifest does: the engine writes it last,
// in one atomic put.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "repo/file_entry.h"

namespace repo {

// 2: files are lists of chunks, and incremental manifests hold only what
// changed since their parent. Format 1 (one object per file) is still read.
// 3: a chunk may say its `codec` (zstd); written only by a manifest that
// lists a zstd chunk (document_fields.h, kManifestCodecVersion), so one of
// LZ4 chunks only is still format 2.
inline constexpr int kManifestFormatVersion = 2;
inline constexpr int kNewestManifestFormatVersion = 3;

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

struct Manifest {
  std::string id;
  std::string type = "full";  // "full" or "incremental"
  std::optional<std::string> parent;
  int64_t created_ms = 0;
  int64_t completed_ms = 0;
  std::string provider;  // the plugin's name, e.g. "local_disk"
  std::string provider_version;
  // The ABI version in force between host and plugin when the backup was
  // taken, "major.minor" (AbiVersionText): which fields of the host's
  // structs it could use. Informational; no reader acts on it.
  std::string abi_version;
  uint32_t timeline = 1;  // the host's timeline when it was taken (timeline.h)
  std::vector<ContextEntry> contexts;
  // A full backup: every file of the host. An incremental: the files that
  // are new or grew since the parent (and always the control DB).
  std::vector<FileEntry> files;  // in restore order
  // Incremental only: files of the parent's state the host no longer has
  // (compacted log segments).
  std::vector<FileKey> dropped;
  uint64_t bytes_new = 0;  // stored bytes this backup added to the repository
  // How many backups in a row, ending with this one, took the host's word
  // that a closed segment it had listed before with the same name, size and
  // range was unchanged, without reading its tail (backup_job.h). 0: this
  // backup read the tail of every file it reused. Absent in manifests
  // written before trust existed, which read every tail: 0.
  uint32_t since_full_check = 0;

  bool incremental() const { return type == "incremental"; }
  uint64_t TotalBytes() const;        // original bytes of the files listed, less inherited ones
  uint64_t TotalStoredBytes() const;  // stored bytes of the chunks listed
};

// "1.2" for BKP_MAKE_VERSION(1, 2).
std::string AbiVersionText(uint32_t version);

// The manifest's JSON, handed to `out` in pieces of a few hundred KiB (the
// last one smaller) whose concatenation is the document: a manifest of tens
// of thousands of files is never held whole, nor as a JSON tree. Throws
// what `out` throws, and nlohmann::json::type_error for a name that is not
// UTF-8.
void EncodeManifest(const Manifest& manifest, const std::function<void(std::string_view)>& out);
// The same document, whole.
std::string EncodeManifest(const Manifest& manifest);
// Throws bkp::Error(BKP_E_CORRUPT) naming `what` when the document is not a
// manifest this version understands (BKP_E_UNSUPPORTED for a newer format):
// larger than kMaxDocumentBytes (document_fields.h), a format_version that is not an integer
// from 1, any size, index or time out of its type's range, or chunks that
// do not cover their file exactly.
Manifest DecodeManifest(const std::string& json, const std::string& what);

// The key a backup's manifest is stored under, and the id back from a key.
std::string ManifestKey(const std::string& id);
std::optional<std::string> IdFromManifestKey(const std::string& key);

}  // namespace repo
