// The manifest codec at scale (issue 23): a manifest's files are encoded
// and decoded one at a time, never as one JSON tree (json_document.h), and
// that must change neither a byte of what is written nor a word of what a
// damaged manifest is refused with.
#include <doctest/doctest.h>

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "repo/manifest.h"
#include "test_support.h"

using testing_support::Contains;

namespace {

repo::Chunk StreamChunk(uint64_t offset, uint64_t size, uint64_t xxh3, std::string object,
                        uint64_t stored_size, uint64_t tail) {
  repo::Chunk c;
  c.offset = offset;
  c.size = size;
  c.xxh3 = xxh3;
  c.object = std::move(object);
  c.stored_size = stored_size;
  c.tail_xxh3 = tail;
  return c;
}

// A backup of `contexts` contexts with `per_context` closed log and event
// segments each, one chunk per segment, as the engine lists them.
repo::Manifest StreamedManyFiles(int contexts, int per_context, bool incremental) {
  repo::Manifest m;
  m.id = "20261208T010000000Z-0001";
  m.type = incremental ? "incremental" : "full";
  if (incremental) m.parent = "20261208T000000000Z-0001";
  m.created_ms = 1796691600000;
  m.completed_ms = 1796691601234;
  m.provider = "wal_archive";
  m.provider_version = "0.1.0";
  m.abi_version = "1.1";
  repo::FileEntry db;
  db.role = BKP_ROLE_CONTROL_DB;
  db.name = "control.db";
  db.size = 4096;
  db.chunks.push_back(StreamChunk(0, 4096, 0x1234, "objects/aa/aa000000000001.lz4", 310, 0));
  m.files.push_back(db);
  uint64_t n = 0;
  for (int c = 0; c < contexts; ++c) {
    const std::string context = "ctx-" + std::to_string(c);
    m.contexts.push_back({context, 1, 100, {1, 100}, {0, 99}, {0, 0}});
    for (uint32_t role : {BKP_ROLE_LOG, BKP_ROLE_EVENTS}) {
      for (int s = 0; s < per_context; ++s, ++n) {
        repo::FileEntry f;
        f.role = role;
        f.context = context;
        f.name = std::to_string(100000000 + s) + (role == BKP_ROLE_LOG ? ".log" : ".evt");
        f.base = uint64_t(s) * 3;
        f.next = f.base + 3;
        f.closed = true;
        f.size = 8192;
        f.inherit = incremental && s % 2 == 1 ? 4096 : 0;
        const std::string hex = std::to_string(1000000000000 + n);
        f.chunks.push_back(StreamChunk(f.inherit, f.size - f.inherit, n * 7919,
                                       "objects/" + hex.substr(0, 2) + "/" + hex + ".lz4",
                                       1000 + n % 97, n * 31));
        m.files.push_back(std::move(f));
      }
    }
  }
  if (incremental) m.dropped.push_back({BKP_ROLE_LOG, "ctx-0", "000000000000.log"});
  m.bytes_new = 123456789;
  m.since_full_check = 3;
  return m;
}

// The status and message DecodeManifest refuses `text` with.
std::pair<bkp_status, std::string> StreamedRefusal(const std::string& text) {
  try {
    repo::DecodeManifest(text, "manifest backups/x.json");
  } catch (const bkp::Error& e) {
    return {e.status(), e.what()};
  }
  return {BKP_OK, ""};
}

// `text` with the first `from` replaced by `to`.
std::string StreamedReplaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

}  // namespace

// 8 000 files: pieces enough to cross many boundaries, and a run short
// enough under ASan (24 000 took 89 s there).
TEST_CASE("manifest: 8 000 files encode in pieces, byte for byte as one tree's dump, and back") {
  for (bool incremental : {false, true}) {
    CAPTURE(incremental);
    const repo::Manifest m = StreamedManyFiles(50, 80, incremental);
    REQUIRE(m.files.size() == 8001);
    std::vector<std::string> pieces;
    repo::EncodeManifest(m, [&](std::string_view piece) { pieces.emplace_back(piece); });
    std::string text;
    for (const auto& p : pieces) {
      CHECK(p.size() <= (512u << 10));  // never the document whole
      text += p;
    }
    CHECK(pieces.size() > 10);
    CHECK(text == repo::EncodeManifest(m));
    // What the encoder wrote before streaming: the whole tree, dump(2).
    CHECK(text == nlohmann::json::parse(text).dump(2) + "\n");

    const repo::Manifest back = repo::DecodeManifest(text, "many");
    REQUIRE(back.files.size() == m.files.size());
    for (size_t i = 0; i < m.files.size(); i += 997) {
      CHECK(back.files[i].key() == m.files[i].key());
      CHECK(back.files[i].inherit == m.files[i].inherit);
      REQUIRE(back.files[i].chunks.size() == 1);
      CHECK(back.files[i].chunks[0].object == m.files[i].chunks[0].object);
      CHECK(back.files[i].chunks[0].tail_xxh3 == m.files[i].chunks[0].tail_xxh3);
    }
    CHECK(back.files.back().name == m.files.back().name);
    CHECK(back.dropped == m.dropped);
    CHECK(back.contexts.size() == 50);
    CHECK(back.since_full_check == 3);
    CHECK(repo::EncodeManifest(back) == text);
  }
}

TEST_CASE("manifest: an empty file list still writes as []") {
  repo::Manifest m = StreamedManyFiles(1, 0, false);
  m.files.clear();
  const std::string text = repo::EncodeManifest(m);
  CHECK(Contains(text, "\n  \"files\": [],\n"));
  CHECK(text == nlohmann::json::parse(text).dump(2) + "\n");
  CHECK(repo::DecodeManifest(text, "empty").files.empty());
}

// The messages below are those of the decoder that parsed the whole
// manifest into one tree (before issue 23): streaming the files must refuse
// the same documents with the same words, in the same order of checks.
TEST_CASE(
    "manifest: a damaged file entry among thousands is refused as the whole-tree decoder did") {
  const std::string good = repo::EncodeManifest(StreamedManyFiles(10, 200, false));
  REQUIRE(StreamedRefusal(good).first == BKP_OK);
  // The first context's event segment 150, as dump(2) writes it.
  const std::string entry =
      "\"name\": \"100000150.evt\",\n      \"next\": 453,\n      \"role\": \"events\",\n      "
      "\"size\": 8192";

  SUBCASE("a missing key") {
    const auto [status, message] =
        StreamedRefusal(StreamedReplaced(good, "\"role\": \"events\"", "\"rol\": 1"));
    CHECK(status == BKP_E_CORRUPT);
    CHECK(message ==
          "manifest backups/x.json: malformed manifest ([json.exception.out_of_range.403] key "
          "'role' not found)");
  }
  SUBCASE("chunks that do not cover their file") {
    const auto [status, message] = StreamedRefusal(
        StreamedReplaced(good, entry, StreamedReplaced(entry, "\"size\": 8192", "\"size\": 8193")));
    CHECK(status == BKP_E_CORRUPT);
    CHECK(message ==
          "manifest backups/x.json: the chunks of '100000150.evt' end at byte 8192 of its 8193");
  }
  SUBCASE("a size that is negative") {
    const auto [status, message] = StreamedRefusal(
        StreamedReplaced(good, entry, StreamedReplaced(entry, "\"next\": 453", "\"next\": -1")));
    CHECK(status == BKP_E_CORRUPT);
    CHECK(message ==
          "manifest backups/x.json: malformed manifest ([json.exception.type_error.302] 'next' "
          "must be an unsigned integer)");
  }
  SUBCASE("an entry that is not an object") {
    const auto [status, message] =
        StreamedRefusal(StreamedReplaced(good, "\"files\": [", "\"files\": [7,"));
    CHECK(status == BKP_E_CORRUPT);
    CHECK(message ==
          "manifest backups/x.json: malformed manifest ([json.exception.type_error.304] cannot "
          "use at() with number)");
  }
  SUBCASE("a damaged entry in a manifest that is not one: the header is checked first") {
    std::string text = StreamedReplaced(good, "\"role\": \"events\"", "\"rol\": 1");
    text = StreamedReplaced(text, "\"format\": \"eventstore-backup-manifest\"",
                            "\"format\": \"other\"");
    CHECK(StreamedRefusal(text) ==
          std::pair<bkp_status, std::string>{BKP_E_CORRUPT,
                                             "manifest backups/x.json: not a backup manifest"});
  }
  SUBCASE("a list named twice: the last one counts") {
    const std::string first_bad = "\"files\": [{\"role\": \"nope\"}], \"files\": [";
    CHECK(StreamedRefusal(StreamedReplaced(good, "\"files\": [", first_bad)).first == BKP_OK);
    const std::string last_bad = "\n  ], \"files\": [{\"role\": \"nope\"}],\n  \"format\":";
    CHECK(StreamedRefusal(StreamedReplaced(good, "\n  ],\n  \"format\":", last_bad)) ==
          std::pair<bkp_status, std::string>{BKP_E_CORRUPT,
                                             "manifest backups/x.json: unknown file role 'nope'"});
  }
  SUBCASE("a list that is not an array") {
    // A tree iterates null as nothing and an object as its values.
    const size_t from = good.find("\"files\": [");
    const size_t to = good.find("\n  ],", from);
    REQUIRE(to != std::string::npos);
    const auto with_files = [&](const std::string& files) {
      return std::string(good).replace(from, to + 4 - from, "\"files\": " + files);
    };
    CHECK(StreamedRefusal(with_files("null")).first == BKP_OK);
    CHECK(StreamedRefusal(with_files("{\"a\": 1}")) ==
          std::pair<bkp_status, std::string>{
              BKP_E_CORRUPT,
              "manifest backups/x.json: malformed manifest ([json.exception.type_error.304] cannot "
              "use at() with number)"});
  }
  SUBCASE("truncated") {
    const auto [status, message] = StreamedRefusal(good.substr(0, good.size() / 2));
    CHECK(status == BKP_E_CORRUPT);
    CHECK(
        Contains(message, "manifest backups/x.json: not valid JSON ([json.exception.parse_error"));
  }
  SUBCASE("nested too deep inside one entry") {
    const auto [status, message] = StreamedRefusal(StreamedReplaced(
        good, "\"role\": \"events\"",
        "\"deep\": " + std::string(70, '[') + std::string(70, ']') + ", \"role\": \"events\""));
    CHECK(status == BKP_E_CORRUPT);
    CHECK(message == "manifest backups/x.json: nested deeper than 64 levels");
  }
}
