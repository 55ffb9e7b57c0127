// Manifest JSON encoding and strict decoding (nlohmann-json).
#include "manifest.h"

#include <cstdint>
#include <new>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "json_document.h"
#include "object_codec.h"

namespace repo {
namespace {

using nlohmann::json;

constexpr const char* kManifestFormat = "eventstore-backup-manifest";

uint32_t RoleFromName(const std::string& name, const std::string& what) {
  for (uint32_t role : {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS}) {
    if (name == RoleName(role)) return role;
  }
  throw bkp::Error(BKP_E_CORRUPT, what + ": unknown file role '" + name + "'");
}

json Range(const StreamRange& r) { return {{"first", r.first}, {"next", r.next}}; }

// nlohmann converts -1 to 2^64-1 without a word: sizes, indexes and tokens
// must be written as unsigned integers.
uint64_t Unsigned(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_number_unsigned()) {
    throw json::type_error::create(302, std::string("'") + key + "' must be an unsigned integer",
                                   &v);
  }
  return v.get<uint64_t>();
}

// Times: a signed integer, never a fraction or one beyond int64.
int64_t Signed(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))) {
    throw json::type_error::create(302, std::string("'") + key + "' must be a 64-bit integer", &v);
  }
  return v.get<int64_t>();
}

// A format version: an integer from 1 up. One newer than `newest` is
// BKP_E_UNSUPPORTED (an upgrade reads it); anything else out of range —
// 0, -5, 2.9, 4294967298 (which int conversion would wrap to 2) — is
// damage.
int FormatVersion(const json& doc, int newest, const std::string& what, const char* kind) {
  const json& v = doc.at("format_version");
  if (!v.is_number_unsigned() || v.get<uint64_t>() < 1 || v.get<uint64_t>() > uint64_t(INT32_MAX)) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": format_version " + v.dump() +
                                        " is not a version number (an integer from 1)");
  }
  const int version = static_cast<int>(v.get<uint64_t>());
  if (version > newest) {
    throw bkp::Error(BKP_E_UNSUPPORTED, what + ": " + kind + " format " + std::to_string(version) +
                                            " is newer than this provider reads (" +
                                            std::to_string(newest) + "): upgrade the provider");
  }
  return version;
}

// Decoding a document of n bytes takes ~25n of memory: a bound keeps a
// damaged or planted giant from exhausting the host (see manifest.h).
void CheckDocumentSize(const std::string& text, const std::string& what) {
  if (text.size() > kMaxDocumentBytes) {
    throw bkp::Error(BKP_E_CORRUPT, what + " is " + std::to_string(text.size()) +
                                        " bytes, more than the " +
                                        std::to_string(kMaxDocumentBytes >> 20) +
                                        " MiB a manifest or archive record may be: not read");
  }
}

StreamRange RangeFrom(const json& j) { return {Unsigned(j, "first"), Unsigned(j, "next")}; }

// A chunk as format 2 stores it; format 1's file entries carry the same keys
// for their single object (offset 0, size of the file).
Chunk ChunkFrom(const json& j, const std::string& what) {
  Chunk c;
  c.offset = j.contains("offset") ? Unsigned(j, "offset") : 0;
  c.size = Unsigned(j, "size");
  c.xxh3 = ParseHex64(j.at("xxh3").get<std::string>(), what);
  c.object = j.at("object").get<std::string>();
  c.stored_size = Unsigned(j, "stored_size");
  if (j.contains("tail_xxh3")) c.tail_xxh3 = ParseHex64(j.at("tail_xxh3").get<std::string>(), what);
  return c;
}

// A restore writes the chunks back to back: a gap or an overlap would
// silently shift every later byte of the file.
void CheckCoverage(const FileEntry& e, const std::string& what) {
  uint64_t at = e.inherit;
  for (const auto& c : e.chunks) {
    if (c.size > UINT64_MAX - c.offset) {
      throw bkp::Error(BKP_E_CORRUPT, what + ": a chunk of '" + e.name + "' ends beyond 2^64");
    }
    if (c.offset != at || c.size == 0) {
      throw bkp::Error(BKP_E_CORRUPT, what + ": the chunks of '" + e.name +
                                          "' do not cover it: one starts at byte " +
                                          std::to_string(c.offset) + " where " +
                                          std::to_string(at) + " was expected");
    }
    at = c.end();
  }
  if (at != e.size) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": the chunks of '" + e.name + "' end at byte " +
                                        std::to_string(at) + " of its " + std::to_string(e.size));
  }
}

}  // namespace

const char* RoleName(uint32_t role) {
  switch (role) {
    case BKP_ROLE_CONTROL_DB:
      return "control_db";
    case BKP_ROLE_LOG:
      return "log";
    case BKP_ROLE_EVENTS:
      return "events";
    case BKP_ROLE_SNAPSHOTS:
      return "snapshots";
  }
  return "unknown";
}

std::string FileLabel(const FileEntry& f) {
  if (f.role == BKP_ROLE_CONTROL_DB) return f.name;
  return f.context + "/" + RoleName(f.role) + "/" + f.name;
}

uint32_t PhaseOfRole(uint32_t role) {
  switch (role) {
    case BKP_ROLE_CONTROL_DB:
      return BKP_PHASE_CONTROL_DB;
    case BKP_ROLE_LOG:
      return BKP_PHASE_LOG;
    case BKP_ROLE_EVENTS:
      return BKP_PHASE_EVENTS;
    default:
      return BKP_PHASE_SNAPSHOTS;
  }
}

uint64_t Manifest::TotalBytes() const {
  uint64_t total = 0;
  for (const auto& f : files) total += f.size - f.inherit;
  return total;
}

uint64_t FileEntry::StoredBytes() const {
  uint64_t total = 0;
  for (const auto& c : chunks) total += c.stored_size;
  return total;
}

uint64_t Manifest::TotalStoredBytes() const {
  uint64_t total = 0;
  for (const auto& f : files) total += f.StoredBytes();
  return total;
}

std::string ManifestKey(const std::string& id) { return "backups/" + id + ".json"; }

std::optional<std::string> IdFromManifestKey(const std::string& key) {
  const std::string prefix = "backups/";
  const std::string suffix = ".json";
  if (key.size() <= prefix.size() + suffix.size() || key.rfind(prefix, 0) != 0 ||
      key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  std::string id = key.substr(prefix.size(), key.size() - prefix.size() - suffix.size());
  if (id.find('/') != std::string::npos) return std::nullopt;
  return id;
}

namespace {

// One file entry; `inherit` is written only where it can be non-zero.
json FileJson(const FileEntry& f, bool with_inherit) {
  json chunks = json::array();
  for (const auto& c : f.chunks) {
    json chunk = {{"offset", c.offset},
                  {"size", c.size},
                  {"xxh3", Hex64(c.xxh3)},
                  {"object", c.object},
                  {"stored_size", c.stored_size}};
    if (c.tail_xxh3) chunk["tail_xxh3"] = Hex64(*c.tail_xxh3);
    chunks.push_back(std::move(chunk));
  }
  json entry = {{"role", RoleName(f.role)},
                {"context", f.context.empty() ? json(nullptr) : json(f.context)},
                {"name", f.name},
                {"base", f.base},
                {"next", f.next},
                {"closed", f.closed},
                {"size", f.size}};
  if (with_inherit) entry["inherit"] = f.inherit;
  entry["chunks"] = std::move(chunks);
  return entry;
}

// Reads what FileJson writes (format 1: one object per file); `what` names
// the document for errors.
FileEntry FileFrom(const json& f, int version, bool with_inherit, const std::string& what) {
  FileEntry e;
  e.role = RoleFromName(f.at("role").get<std::string>(), what);
  if (!f.at("context").is_null()) e.context = f.at("context").get<std::string>();
  e.name = f.at("name").get<std::string>();
  e.base = Unsigned(f, "base");
  e.next = Unsigned(f, "next");
  e.closed = f.at("closed").get<bool>();
  e.size = Unsigned(f, "size");
  if (version == 1) {
    if (e.size > 0) e.chunks.push_back(ChunkFrom(f, what));  // one object per file
  } else {
    if (with_inherit) e.inherit = Unsigned(f, "inherit");
    for (const auto& c : f.at("chunks")) e.chunks.push_back(ChunkFrom(c, what));
  }
  CheckCoverage(e, what);
  return e;
}

constexpr const char* kArchiveRecordFormat = "eventstore-archive-segment";
constexpr int kArchiveRecordVersion = 1;

}  // namespace

std::string EncodeArchiveRecord(const ArchivedSegment& a) {
  json doc = {{"format", kArchiveRecordFormat},
              {"format_version", kArchiveRecordVersion},
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
    FormatVersion(doc, kArchiveRecordVersion, what, "archive record");
    ArchivedSegment a;
    a.observed_ms = Signed(doc, "observed_ms");
    a.first_ms = doc.contains("first_ms") ? Signed(doc, "first_ms") : 0;
    a.file = FileFrom(doc.at("file"), kManifestFormatVersion, false, what);
    return a;
  } catch (const json::exception& e) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": malformed archive record (" + e.what() + ")");
  } catch (const std::bad_alloc&) {
    throw bkp::Error(BKP_E_INTERNAL, what + ": out of memory while decoding it");
  }
}

std::string EncodeManifest(const Manifest& m) {
  json files = json::array();
  for (const auto& f : m.files) files.push_back(FileJson(f, m.incremental()));
  json dropped = json::array();
  for (const auto& d : m.dropped) {
    dropped.push_back({{"role", RoleName(d.role)}, {"context", d.context}, {"name", d.name}});
  }
  json contexts = json::array();
  for (const auto& c : m.contexts) {
    contexts.push_back({{"name", c.name},
                        {"term", c.term},
                        {"commit_index", c.commit_index},
                        {"log", Range(c.log)},
                        {"events", Range(c.events)},
                        {"snapshots", Range(c.snapshots)}});
  }
  json doc = {{"format", kManifestFormat},
              {"format_version", kManifestFormatVersion},
              {"id", m.id},
              {"type", m.type},
              {"parent", m.parent ? json(*m.parent) : json(nullptr)},
              {"created_ms", m.created_ms},
              {"completed_ms", m.completed_ms},
              {"provider", {{"name", m.provider}, {"version", m.provider_version}}},
              {"abi_version", m.abi_version},
              {"timeline", m.timeline},
              {"contexts", std::move(contexts)},
              {"files", std::move(files)},
              {"dropped", std::move(dropped)},
              {"totals",
               {{"files", m.files.size()},
                {"bytes", m.TotalBytes()},
                {"stored_bytes", m.TotalStoredBytes()},
                {"bytes_new", m.bytes_new}}}};
  return doc.dump(2) + "\n";
}

Manifest DecodeManifest(const std::string& text, const std::string& what) {
  CheckDocumentSize(text, what);
  const JsonDocument document(text, what);
  const json& doc = document.root();
  try {
    if (doc.at("format").get<std::string>() != kManifestFormat) {
      throw bkp::Error(BKP_E_CORRUPT, what + ": not a backup manifest");
    }
    const int version = FormatVersion(doc, kManifestFormatVersion, what, "manifest");
    Manifest m;
    m.id = doc.at("id").get<std::string>();
    m.type = doc.at("type").get<std::string>();
    if (!doc.at("parent").is_null()) m.parent = doc.at("parent").get<std::string>();
    m.created_ms = Signed(doc, "created_ms");
    m.completed_ms = Signed(doc, "completed_ms");
    m.provider = doc.at("provider").at("name").get<std::string>();
    m.provider_version = doc.at("provider").at("version").get<std::string>();
    m.abi_version = doc.at("abi_version").get<std::string>();
    m.timeline = doc.value("timeline", 1u);  // written before timelines: the first
    m.bytes_new = Unsigned(doc.at("totals"), "bytes_new");
    for (const auto& c : doc.at("contexts")) {
      m.contexts.push_back({c.at("name").get<std::string>(), Unsigned(c, "term"),
                            Unsigned(c, "commit_index"), RangeFrom(c.at("log")),
                            RangeFrom(c.at("events")), RangeFrom(c.at("snapshots"))});
    }
    for (const auto& f : doc.at("files")) {
      m.files.push_back(FileFrom(f, version, m.incremental(), what));
    }
    if (version >= 2) {
      for (const auto& d : doc.at("dropped")) {
        m.dropped.push_back({RoleFromName(d.at("role").get<std::string>(), what),
                             d.at("context").get<std::string>(), d.at("name").get<std::string>()});
      }
    }
    return m;
  } catch (const json::exception& e) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": malformed manifest (" + e.what() + ")");
  } catch (const std::bad_alloc&) {
    throw bkp::Error(BKP_E_INTERNAL, what + ": out of memory while decoding it");
  }
}

}  // namespace repo
