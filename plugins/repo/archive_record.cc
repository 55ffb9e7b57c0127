// Archive record JSON encoding and strict decoding (see archive_record.h).
#include "repo/archive_record.h"

#include <new>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "repo/document_fields.h"
#include "repo/json_document.h"

namespace repo {
namespace {

using doc::CheckDocumentSize;
using doc::FileFrom;
using doc::FileJson;
using doc::FormatVersion;
using doc::Signed;
using nlohmann::json;

constexpr const char* kArchiveRecordFormat = "eventstore-archive-segment";
// 2 (document_fields.h's kArchiveRecordCodecVersion) when it lists a zstd
// chunk.
constexpr int kArchiveRecordVersion = 1;

}  // namespace

std::string EncodeArchiveRecord(const ArchivedSegment& a) {
  json doc = {{"format", kArchiveRecordFormat},
              {"format_version", doc::HasNonLz4Chunks(a.file) ? doc::kArchiveRecordCodecVersion
                                                              : kArchiveRecordVersion},
              {"observed_ms", a.observed_ms},
              {"first_ms", a.first_ms},
              {"file", FileJson(a.file, false)}};
  return doc.dump(2) + "\n";
}

ArchivedSegment DecodeArchiveRecord(const std::string& text, const std::string& what) {
  CheckDocumentSize(text, what);
  const JsonDocument document(text, what);
  const json& doc = document.root();
  try {
    if (doc.at("format").get<std::string>() != kArchiveRecordFormat) {
      throw bkp::Error(BKP_E_CORRUPT, what + ": not an archive record");
    }
    FormatVersion(doc, doc::kArchiveRecordCodecVersion, what, "archive record");
    ArchivedSegment a;
    a.observed_ms = Signed(doc, "observed_ms");
    a.first_ms = doc.contains("first_ms") ? Signed(doc, "first_ms") : 0;
    a.file = FileFrom(doc.at("file"), doc::kChunkedFileEntries, false, what);
    return a;
  } catch (const json::exception& e) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": malformed archive record (" + e.what() + ")");
  } catch (const std::bad_alloc&) {
    throw bkp::Error(BKP_E_INTERNAL, what + ": out of memory while decoding it");
  }
}

}  // namespace repo
