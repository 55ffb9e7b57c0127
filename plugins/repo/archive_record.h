// The archive record: one segment of the continuous archive (archive.h),
// as the JSON document stored at archive/<context>/<role>/<base>[.partial].json
// (docs/repository-format.md specifies every field). Its codec shares the
// file entry with the manifest's (document_fields.h).
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "repo/file_entry.h"

namespace repo {

// The file entry (chunks from offset 0) and the host's clock when it was
// shipped.
struct ArchivedSegment {
  FileEntry file;
  int64_t observed_ms = 0;  // every event in it was appended at or before this
  int64_t first_ms = 0;     // its first event was appended at this (0: unknown)
};

std::string EncodeArchiveRecord(const ArchivedSegment& segment);
// Throws bkp::Error(BKP_E_CORRUPT) naming `what` for anything but an archive
// record this version reads (BKP_E_UNSUPPORTED for a newer format); larger
// than kMaxDocumentBytes (document_fields.h) included.
ArchivedSegment DecodeArchiveRecord(const std::string& json, const std::string& what);

}  // namespace repo
