// The JSON pieces manifests and archive records share (see
// document_fields.h).
#include "repo/document_fields.h"

#include "bkp/bkp_plugin.hpp"
#include "repo/object_codec.h"

namespace repo::doc {
namespace {

using nlohmann::json;

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
  if (j.contains("codec")) {
    const std::string name = j.at("codec").get<std::string>();
    const auto codec = CodecFromName(name);
    if (!codec) {
      throw bkp::Error(BKP_E_CORRUPT, what + ": chunk '" + c.object + "' has codec '" + name +
                                          "', not one this provider reads (lz4, zstd)");
    }
    c.codec = *codec;
  }
  // The key's extension is what a hand restore and garbage collection go
  // by: a field that disagrees would decode the object with the wrong codec.
  if (CodecOfObject(c.object) != c.codec) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": chunk '" + c.object + "' says codec '" +
                                        CodecName(c.codec) + "', but its key ends otherwise");
  }
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

uint64_t Unsigned(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_number_unsigned()) {
    throw json::type_error::create(302, std::string("'") + key + "' must be an unsigned integer",
                                   &v);
  }
  return v.get<uint64_t>();
}

int64_t Signed(const json& j, const char* key) {
  const json& v = j.at(key);
  if (!v.is_number_integer() ||
      (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX))) {
    throw json::type_error::create(302, std::string("'") + key + "' must be a 64-bit integer", &v);
  }
  return v.get<int64_t>();
}

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

uint32_t RoleFromName(const std::string& name, const std::string& what) {
  for (uint32_t role : {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS}) {
    if (name == RoleName(role)) return role;
  }
  throw bkp::Error(BKP_E_CORRUPT, what + ": unknown file role '" + name + "'");
}

bool HasNonLz4Chunks(const FileEntry& f) {
  for (const auto& c : f.chunks) {
    if (c.codec != Codec::kLz4) return true;
  }
  return false;
}

json FileJson(const FileEntry& f, bool with_inherit) {
  json chunks = json::array();
  for (const auto& c : f.chunks) {
    json chunk = {{"offset", c.offset},
                  {"size", c.size},
                  {"xxh3", Hex64(c.xxh3)},
                  {"object", c.object},
                  {"stored_size", c.stored_size}};
    if (c.tail_xxh3) chunk["tail_xxh3"] = Hex64(*c.tail_xxh3);
    // LZ4 is implied: a manifest of LZ4 chunks stays as it was.
    if (c.codec != Codec::kLz4) chunk["codec"] = CodecName(c.codec);
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

}  // namespace repo::doc
