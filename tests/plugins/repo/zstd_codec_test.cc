// The zstd codec at unit level: frames round trip and are what the stock
// `zstd -t` accepts; every way a stored zstd frame can be bad is
// BKP_E_CORRUPT naming it; manifests and archive records say each chunk's
// codec, in a newer format only when one is zstd; the settings are strict.
#include <doctest/doctest.h>

#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "plugins/plugins_test_util.h"
#include "plugins/repo/object_codec_test_util.h"
#include "repo/archive_record.h"
#include "repo/codec.h"
#include "repo/manifest.h"
#include "repo/object_codec.h"
#include "test_support.h"

using plugins_test::Contains;
using plugins_test::Encoded;
using plugins_test::kMiB;
using plugins_test::RealisticBytes;
using plugins_test::Sh;
using plugins_test::StringReader;
using plugins_test::StringWriter;
using testing_support::RunCommand;
using testing_support::TempDir;
using testing_support::WriteFile;

namespace {

Encoded EncodeWith(const repo::Compression& compression, const std::string& data) {
  Encoded out;
  StringWriter writer(&out.frame);
  const auto encoder = repo::NewEncoder(compression, writer, data.size());
  const size_t pieces[] = {1, 4095, kMiB + 17, 333};
  size_t pos = 0;
  for (size_t i = 0; pos < data.size(); ++i) {
    const size_t n = std::min(pieces[i % 4], data.size() - pos);
    encoder->Update(data.data() + pos, n);
    pos += n;
  }
  out.info = encoder->Finish();
  return out;
}

const repo::Compression kZstd3{repo::Codec::kZstd, 3};

// The BKP_E_* code and message decoding `frame` as zstd fails with, or
// BKP_OK; `*out` gets the bytes.
std::pair<bkp_status, std::string> TryDecode(const std::string& frame, uint64_t size, uint64_t xxh3,
                                             std::string* out = nullptr, size_t chunk = 7777) {
  StringReader reader(frame, chunk);
  std::string bytes;
  try {
    repo::DecodeObject(reader, repo::Codec::kZstd, "'objects/ab/x.zst'", size, xxh3,
                       [&](const char* p, size_t n) { bytes.append(p, n); });
  } catch (const bkp::Error& e) {
    return {e.status(), e.what()};
  }
  if (out != nullptr) *out = bytes;
  return {BKP_OK, ""};
}

}  // namespace

TEST_CASE("zstd codec: frames round trip and the stock zstd -t accepts them") {
  TempDir dir;
  for (size_t size : {size_t{0}, size_t{1}, kMiB - 1, 3 * kMiB + kMiB / 2}) {
    CAPTURE(size);
    const std::string data = RealisticBytes(size, size + 5);
    const Encoded e = EncodeWith(kZstd3, data);
    CHECK(e.info.original_size == size);
    CHECK(e.info.stored_size == e.frame.size());
    CHECK(e.frame.size() <= repo::MaxFrameSize(repo::Codec::kZstd, size));
    std::string back;
    const auto [rc, msg] = TryDecode(e.frame, size, e.info.xxh3, &back);
    REQUIRE_MESSAGE(rc == BKP_OK, msg);
    CHECK(back == data);
    // The stock tool: the checksum flag is on and the frame decodes to the bytes.
    WriteFile(dir / "f.zst", e.frame);
    WriteFile(dir / "f.orig", data);
    CHECK(Contains(Sh("zstd -lv " + (dir / "f.zst").string()), "XXH64"));
    Sh("zstd -t -q " + (dir / "f.zst").string());
    Sh("zstd -dc -q " + (dir / "f.zst").string() + " | cmp - " + (dir / "f.orig").string());
  }
}

TEST_CASE("zstd codec: an object names its content the same whatever the codec, and is smaller") {
  const std::string data = RealisticBytes(4 * kMiB, 11);
  const Encoded lz4 = EncodeWith({}, data);
  const Encoded zstd = EncodeWith(kZstd3, data);
  CHECK(zstd.info.xxh128_hex == lz4.info.xxh128_hex);
  CHECK(zstd.info.xxh3 == lz4.info.xxh3);
  CHECK(zstd.frame.size() < lz4.frame.size());
  // lz4 through the codec-neutral encoder is the frame FrameEncoder writes.
  std::string direct;
  StringWriter writer(&direct);
  repo::FrameEncoder encoder(writer, data.size());
  encoder.Update(data.data(), data.size());
  encoder.Finish();
  CHECK(direct == lz4.frame);
}

TEST_CASE("zstd codec: a damaged frame or a wrong expectation is BKP_E_CORRUPT naming the object") {
  TempDir dir;
  const std::string data = RealisticBytes(2 * kMiB, 3);
  const Encoded e = EncodeWith(kZstd3, data);
  const uint64_t size = data.size();
  const uint64_t xxh3 = e.info.xxh3;
  auto corrupt = [&](const std::string& frame, const std::string& why, uint64_t want_size,
                     uint64_t want_xxh3) {
    const auto [rc, msg] = TryDecode(frame, want_size, want_xxh3);
    CHECK(rc == BKP_E_CORRUPT);
    CHECK_MESSAGE(Contains(msg, "objects/ab/x.zst"), msg);
    CHECK_MESSAGE(Contains(msg, why), msg);
  };
  std::string flipped = e.frame;
  flipped[flipped.size() / 2] ^= 0x20;
  corrupt(flipped, "zstd frame", size, xxh3);
  corrupt(e.frame.substr(0, e.frame.size() - 9), "truncated", size, xxh3);
  corrupt(e.frame.substr(0, 3), "truncated", size, xxh3);
  corrupt(e.frame + "x", "data after the end of the zstd frame", size, xxh3);
  corrupt(e.frame + e.frame, "data after the end of the zstd frame", size, xxh3);
  corrupt(EncodeWith({}, data).frame, "not a zstd frame", size, xxh3);
  corrupt(e.frame, "bytes recorded", size - 1, xxh3);
  corrupt(e.frame, "recorded", size + 1, xxh3);
  corrupt(e.frame, "XXH3-64", size, xxh3 ^ 1);
  // A frame the stock tool wrote without its checksum is refused as such.
  WriteFile(dir / "plain", data);
  Sh("zstd -q --no-check -f " + (dir / "plain").string() + " -o " + (dir / "plain.zst").string());
  corrupt(testing_support::ReadFile(dir / "plain.zst"), "no content checksum", size, xxh3);
  // One written with it, by the stock tool, verifies.
  Sh("zstd -q --check -19 -f " + (dir / "plain").string() + " -o " + (dir / "stock.zst").string());
  const auto [rc, msg] = TryDecode(testing_support::ReadFile(dir / "stock.zst"), size, xxh3);
  CHECK_MESSAGE(rc == BKP_OK, msg);
}

TEST_CASE("zstd codec: manifests and archive records say a chunk's codec, in format 3 and 2") {
  repo::Manifest m;
  m.id = "20261207T120000000Z-0001";
  m.provider = "local_disk";
  m.provider_version = "0.2.0";
  m.abi_version = "1.2";
  repo::FileEntry f;
  f.role = BKP_ROLE_CONTROL_DB;
  f.name = "control.db";
  f.size = 10;
  repo::Chunk c;
  c.size = 10;
  c.xxh3 = 7;
  c.object = "objects/ab/" + std::string(32, 'a') + ".lz4";
  c.stored_size = 20;
  c.tail_xxh3 = 9;
  f.chunks.push_back(c);
  m.files.push_back(f);

  // LZ4 only: format 2, no codec field, as before zstd.
  const std::string lz4_text = repo::EncodeManifest(m);
  const auto lz4_doc = nlohmann::json::parse(lz4_text);
  CHECK(lz4_doc["format_version"] == 2);
  CHECK_FALSE(lz4_doc["files"][0]["chunks"][0].contains("codec"));
  CHECK(repo::DecodeManifest(lz4_text, "m").files[0].chunks[0].codec == repo::Codec::kLz4);

  // A zstd chunk: format 3, `codec`, and back.
  m.files[0].chunks[0].codec = repo::Codec::kZstd;
  m.files[0].chunks[0].object = "objects/ab/" + std::string(32, 'a') + ".zst";
  const std::string zstd_text = repo::EncodeManifest(m);
  auto doc = nlohmann::json::parse(zstd_text);
  CHECK(doc["format_version"] == 3);
  CHECK(doc["files"][0]["chunks"][0]["codec"] == "zstd");
  CHECK(repo::DecodeManifest(zstd_text, "m").files[0].chunks[0].codec == repo::Codec::kZstd);

  auto refused = [](const nlohmann::json& j, const std::string& why) {
    try {
      repo::DecodeManifest(j.dump(), "backups/m.json");
      FAIL("decoded: " << j.dump());
    } catch (const bkp::Error& e) {
      CHECK(e.status() == BKP_E_CORRUPT);
      CHECK_MESSAGE(Contains(e.what(), why), e.what());
    }
  };
  auto bad = doc;
  bad["files"][0]["chunks"][0]["codec"] = "lz4";  // key says .zst
  refused(bad, "its key ends otherwise");
  bad = doc;
  bad["files"][0]["chunks"][0]["codec"] = "brotli";
  refused(bad, "codec 'brotli'");
  bad = doc;
  bad["files"][0]["chunks"][0].erase("codec");  // absent means lz4: the key disagrees
  refused(bad, "its key ends otherwise");

  // The archive record: version 1 with LZ4 only, 2 with a zstd chunk.
  repo::ArchivedSegment a;
  a.observed_ms = 5;
  a.file = m.files[0];
  const auto record = nlohmann::json::parse(repo::EncodeArchiveRecord(a));
  CHECK(record["format_version"] == 2);
  CHECK(repo::DecodeArchiveRecord(record.dump(), "r").file.chunks[0].codec == repo::Codec::kZstd);
  a.file.chunks[0].codec = repo::Codec::kLz4;
  a.file.chunks[0].object = c.object;
  CHECK(nlohmann::json::parse(repo::EncodeArchiveRecord(a))["format_version"] == 1);
}

TEST_CASE("zstd codec: the compression settings are strict and name what they allow") {
  using repo::Codec;
  using repo::ParseCompression;
  CHECK(ParseCompression(std::nullopt, std::nullopt) == repo::Compression{Codec::kLz4, 0});
  CHECK(ParseCompression("lz4", std::nullopt) == repo::Compression{Codec::kLz4, 0});
  CHECK(ParseCompression("zstd", std::nullopt) ==
        repo::Compression{Codec::kZstd, repo::kDefaultZstdLevel});
  CHECK(ParseCompression("zstd", 19) == repo::Compression{Codec::kZstd, 19});
  auto refused = [](std::optional<std::string> codec, std::optional<int64_t> level,
                    const std::string& why) {
    try {
      ParseCompression(codec, level);
      FAIL("accepted");
    } catch (const bkp::Error& e) {
      CHECK(e.status() == BKP_E_INVALID_ARGUMENT);
      CHECK_MESSAGE(Contains(e.what(), why), e.what());
    }
  };
  refused("gzip", std::nullopt, "setting 'compression' is 'gzip', must be 'lz4'");
  refused("ZSTD", std::nullopt, "'zstd'");
  refused("zstd", 0, "setting 'compression_level' is 0, must be 1-19");
  refused("zstd", 20, "setting 'compression_level' is 20, must be 1-19");
  refused("lz4", 3, "'compression_level' applies to compression = 'zstd' only");
  refused(std::nullopt, 3, "'compression_level' applies to compression = 'zstd' only");
}
