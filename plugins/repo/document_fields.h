// The JSON pieces the repository's two documents share, the manifest
// (manifest.h) and the archive record (archive_record.h): a file entry with
// its chunks, and strict readers for the numbers, versions and roles in
// them. Each document's own codec is in its own file.
//
// Errors: the readers throw nlohmann::json::exception for a wrong type or a
// missing key (each codec turns that into BKP_E_CORRUPT naming the
// document), or bkp::Error(BKP_E_CORRUPT / BKP_E_UNSUPPORTED) naming `what`.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "repo/file_entry.h"

namespace repo {

// The largest manifest or archive record read. A larger one is refused as
// BKP_E_CORRUPT before it is parsed (or even read whole): parsing costs ~25
// bytes of memory per byte of JSON, so an unbounded one could exhaust the
// host. 64 MiB holds about 300 000 chunks, far beyond any real backup.
inline constexpr uint64_t kMaxDocumentBytes = 64ull << 20;

}  // namespace repo

namespace repo::doc {

// What FileFrom's `version` is from manifest format 2 on (and in every
// archive record): a file entry lists its chunks.
inline constexpr int kChunkedFileEntries = 2;

// `key` of `j` as an unsigned integer: nlohmann converts -1 to 2^64-1
// without a word, so sizes, indexes and tokens must be stored unsigned.
uint64_t Unsigned(const nlohmann::json& j, const char* key);
// `key` of `j` as a time: a signed integer, never a fraction or one beyond
// int64.
int64_t Signed(const nlohmann::json& j, const char* key);
// The document's format_version: an integer from 1 up. One newer than
// `newest` is BKP_E_UNSUPPORTED (an upgrade reads it; `kind` names the
// document type); anything else out of range is BKP_E_CORRUPT.
int FormatVersion(const nlohmann::json& doc, int newest, const std::string& what, const char* kind);
// BKP_E_CORRUPT for a document larger than kMaxDocumentBytes, before it is
// parsed.
void CheckDocumentSize(const std::string& text, const std::string& what);
// The BKP_ROLE_* RoleName gives `name`; BKP_E_CORRUPT for any other.
uint32_t RoleFromName(const std::string& name, const std::string& what);

// The first manifest format and archive record format that may list zstd
// chunks (a chunk's `codec`): a document holding one is written in that
// format, so that a reader from before zstd refuses it as too new rather
// than taking every zstd object for a damaged LZ4 frame (and quarantining
// it). A document of LZ4 chunks only keeps the older format, byte for byte.
inline constexpr int kManifestCodecVersion = 3;
inline constexpr int kArchiveRecordCodecVersion = 2;
// Whether any chunk of `f` is stored with another codec than LZ4.
bool HasNonLz4Chunks(const FileEntry& f);

// One file entry; `inherit` is written only where it can be non-zero.
nlohmann::json FileJson(const FileEntry& f, bool with_inherit);
// Reads what FileJson writes (manifest format 1: one object per file, no
// chunks list), checking the chunks cover the file exactly; `what` names the
// document for errors.
FileEntry FileFrom(const nlohmann::json& f, int version, bool with_inherit,
                   const std::string& what);

}  // namespace repo::doc
