// Manifest JSON encoding and strict decoding (nlohmann-json); the file
// entries it shares with archive records are document_fields.h's.
#include "repo/manifest.h"

#include <cstdint>
#include <functional>
#include <new>
#include <string_view>

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
using doc::RoleFromName;
using doc::Signed;
using doc::Unsigned;
using nlohmann::json;

constexpr const char* kManifestFormat = "eventstore-backup-manifest";
// The pieces EncodeManifest hands over: large enough that a storage
// driver's writes stay few, small beside a manifest of many files.
constexpr size_t kEncodePieceBytes = 256 << 10;

json Range(const StreamRange& r) { return {{"first", r.first}, {"next", r.next}}; }

StreamRange RangeFrom(const json& j) { return {Unsigned(j, "first"), Unsigned(j, "next")}; }

}  // namespace

std::string AbiVersionText(uint32_t version) {
  return std::to_string(version >> 16) + "." + std::to_string(version & 0xffffu);
}

uint64_t Manifest::TotalBytes() const {
  uint64_t total = 0;
  for (const auto& f : files) total += f.size - f.inherit;
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

void EncodeManifest(const Manifest& m, const std::function<void(std::string_view)>& out) {
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
  bool codecs = false;
  for (const auto& f : m.files) codecs = codecs || doc::HasNonLz4Chunks(f);
  // Everything but the files, which can be tens of thousands: they are
  // written one at a time into the place their empty list takes here.
  const json doc = {
      {"format", kManifestFormat},
      {"format_version", codecs ? doc::kManifestCodecVersion : kManifestFormatVersion},
      {"id", m.id},
      {"type", m.type},
      {"parent", m.parent ? json(*m.parent) : json(nullptr)},
      {"created_ms", m.created_ms},
      {"completed_ms", m.completed_ms},
      {"provider", {{"name", m.provider}, {"version", m.provider_version}}},
      {"abi_version", m.abi_version},
      {"timeline", m.timeline},
      {"since_full_check", m.since_full_check},
      {"contexts", std::move(contexts)},
      {"files", json::array()},
      {"dropped", std::move(dropped)},
      {"totals",
       {{"files", m.files.size()},
        {"bytes", m.TotalBytes()},
        {"stored_bytes", m.TotalStoredBytes()},
        {"bytes_new", m.bytes_new}}}};
  const std::string frame = doc.dump(2) + "\n";
  // The root's own key at indent 2: JSON strings hold no raw newline, so
  // this matches nowhere else.
  const std::string empty_files = "\n  \"files\": []";
  if (m.files.empty()) {
    out(frame);
    return;
  }
  const size_t at = frame.find(empty_files);
  if (at == std::string::npos) {
    throw bkp::Error(BKP_E_INTERNAL, "manifest of backup '" + m.id + "': no place for its files");
  }
  const size_t open = at + empty_files.size() - 1;  // after the '['
  std::string buf = frame.substr(0, open);
  // What json::dump(2) writes for the list: each element on its own lines
  // two levels in.
  for (size_t i = 0; i < m.files.size(); ++i) {
    buf += "\n    ";
    for (const char c : FileJson(m.files[i], m.incremental()).dump(2)) {
      buf += c;
      if (c == '\n') buf += "    ";
    }
    if (i + 1 < m.files.size()) buf += ',';
    if (buf.size() >= kEncodePieceBytes) {
      out(buf);
      buf.clear();
    }
  }
  buf += "\n  ";
  buf.append(frame, open, std::string::npos);
  out(buf);
}

std::string EncodeManifest(const Manifest& m) {
  std::string text;
  EncodeManifest(m, [&text](std::string_view piece) { text.append(piece); });
  return text;
}

Manifest DecodeManifest(const std::string& text, const std::string& what) {
  CheckDocumentSize(text, what);
  const JsonDocument document(text, what, "files");
  const json& doc = document.root();
  try {
    if (doc.at("format").get<std::string>() != kManifestFormat) {
      throw bkp::Error(BKP_E_CORRUPT, what + ": not a backup manifest");
    }
    const int version = FormatVersion(doc, kNewestManifestFormatVersion, what, "manifest");
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
    // Written before trust: every tail was read.
    m.since_full_check = doc.value("since_full_check", 0u);
    for (const auto& c : doc.at("contexts")) {
      m.contexts.push_back({c.at("name").get<std::string>(), Unsigned(c, "term"),
                            Unsigned(c, "commit_index"), RangeFrom(c.at("log")),
                            RangeFrom(c.at("events")), RangeFrom(c.at("snapshots"))});
    }
    // The files one at a time (json_document.h): a whole tree of them would
    // cost ~25 bytes per byte of a manifest that lists tens of thousands.
    const json& files = doc.at("files");
    const auto add = [&](const json& f) {
      m.files.push_back(FileFrom(f, version, m.incremental(), what));
    };
    if (files.is_array()) {
      document.ForEachStreamed(add);
    } else {
      for (const auto& f : files) add(f);  // whatever a tree of it iterates, as before
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
