// The repository engine at unit level: the LZ4 object codec (round trips and
// every way a stored frame can be bad), the manifest's JSON (round trip and
// strict decoding), the repository's refusal of foreign and newer
// locations, and the posix driver's refusal of keys that leave the root.
#include <doctest/doctest.h>
#include <xxhash.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "plugins/plugins_test_util.h"
#include "plugins/repo/object_codec_test_util.h"
#include "repo/manifest.h"
#include "repo/object_codec.h"
#include "repo/posix/posix_driver.h"
#include "repo/provider_edge.h"
#include "repo/repository.h"
#include "repo/restore_job.h"
#include "repo/retention.h"
#include "repo/verify_job.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::Contains;
using plugins_test::Encoded;
using plugins_test::kMiB;
using plugins_test::RealisticBytes;
using plugins_test::StringReader;
using plugins_test::StringWriter;
using testing_support::ReadFile;
using testing_support::TempDir;
using testing_support::WriteFile;

namespace {

// Encodes `data`, fed in uneven pieces so chunk boundaries fall anywhere.
Encoded Encode(const std::string& data) {
  Encoded out;
  StringWriter writer(&out.frame);
  repo::FrameEncoder encoder(writer, data.size());
  const size_t pieces[] = {1, 4095, kMiB + 17, 333};
  size_t pos = 0;
  for (size_t i = 0; pos < data.size(); ++i) {
    const size_t n = std::min(pieces[i % 4], data.size() - pos);
    encoder.Update(data.data() + pos, n);
    pos += n;
  }
  out.info = encoder.Finish();
  return out;
}

std::string Decode(const std::string& frame, size_t chunk, const std::string& what, uint64_t size,
                   uint64_t xxh3, repo::FrameCheck check = repo::FrameCheck::kFull) {
  StringReader reader(frame, chunk);
  std::string out;
  repo::DecodeObject(
      reader, what, size, xxh3, [&](const char* p, size_t n) { out.append(p, n); }, check);
  return out;
}

// The BKP_E_* code and message DecodeObject fails with, or BKP_OK.
std::pair<bkp_status, std::string> DecodeError(const std::string& frame, size_t chunk,
                                               const std::string& what, uint64_t size,
                                               uint64_t xxh3) {
  try {
    Decode(frame, chunk, what, size, xxh3);
  } catch (const bkp::Error& e) {
    return {e.status(), e.what()};
  }
  return {BKP_OK, ""};
}

std::string Xxh128Hex(const std::string& data) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, XXH3_128bits(data.data(), data.size()));
  std::string hex;
  for (unsigned char b : c.digest) {
    hex += "0123456789abcdef"[b >> 4];
    hex += "0123456789abcdef"[b & 15];
  }
  return hex;
}

repo::Chunk SampleChunk(uint64_t offset, uint64_t size, uint64_t xxh3, const std::string& object,
                        uint64_t stored, std::optional<uint64_t> tail) {
  repo::Chunk c;
  c.offset = offset;
  c.size = size;
  c.xxh3 = xxh3;
  c.object = object;
  c.stored_size = stored;
  c.tail_xxh3 = tail;
  return c;
}

repo::Manifest SampleManifest() {
  repo::Manifest m;
  m.id = "20261121T131024745Z-8481";
  m.type = "full";
  m.created_ms = 1763730624745;
  m.completed_ms = 1763730624801;
  m.provider = "local_disk";
  m.provider_version = "0.1.0";
  m.abi_version = "1.0";
  m.contexts.push_back({"default", 3, 13333, {1, 13334}, {0, 13333}, {0, 0}});
  m.contexts.push_back({"billing", 1, 7, {1, 8}, {0, 9}, {0, 2}});
  repo::FileEntry db;
  db.role = BKP_ROLE_CONTROL_DB;
  db.name = "control.db";
  db.size = 16384;
  db.chunks.push_back(SampleChunk(0, 16384, 0x8d4c9a7e0c1b2f3aull,
                                  "objects/3f/3f00000000000000000000000000e1.lz4", 2211, 7));
  m.files.push_back(db);
  repo::FileEntry log;
  log.role = BKP_ROLE_LOG;
  log.context = "default";
  log.name = "00000000000000000001.log";
  log.base = 1;
  log.next = 3520;
  log.closed = true;
  log.size = 1048386;
  log.chunks.push_back(SampleChunk(0, 1048386, 0x5109570f5e4d34c5ull,
                                   "objects/91/91920000000000000000000000034c5.lz4", 75873,
                                   0xa1b2c3d4e5f60718ull));
  m.files.push_back(log);
  repo::FileEntry ev;  // an active segment that grew between two backups
  ev.role = BKP_ROLE_EVENTS;
  ev.context = "billing";
  ev.name = "00000000000000000000.events";
  ev.base = 0;
  ev.next = 9;
  ev.closed = false;
  ev.size = 901;
  ev.chunks.push_back(SampleChunk(0, 500, 0xffffffffffffffffull, "objects/00/00aa.lz4", 300, 1));
  ev.chunks.push_back(SampleChunk(500, 401, 0, "objects/00/00bb.lz4", 100, std::nullopt));
  m.files.push_back(ev);
  repo::FileEntry snap;  // empty: no chunks at all
  snap.role = BKP_ROLE_SNAPSHOTS;
  snap.context = "billing";
  snap.name = "00000000000000000000.snapshots";
  m.files.push_back(snap);
  m.bytes_new = 78484;
  return m;
}

void CheckSameManifest(const repo::Manifest& a, const repo::Manifest& b) {
  CHECK(a.id == b.id);
  CHECK(a.type == b.type);
  CHECK(a.parent == b.parent);
  CHECK(a.created_ms == b.created_ms);
  CHECK(a.completed_ms == b.completed_ms);
  CHECK(a.provider == b.provider);
  CHECK(a.provider_version == b.provider_version);
  CHECK(a.abi_version == b.abi_version);
  CHECK(a.bytes_new == b.bytes_new);
  CHECK(a.since_full_check == b.since_full_check);
  REQUIRE(a.contexts.size() == b.contexts.size());
  for (size_t i = 0; i < a.contexts.size(); ++i) {
    const auto& x = a.contexts[i];
    const auto& y = b.contexts[i];
    CHECK(x.name == y.name);
    CHECK(x.term == y.term);
    CHECK(x.commit_index == y.commit_index);
    CHECK(x.log.first == y.log.first);
    CHECK(x.log.next == y.log.next);
    CHECK(x.events.first == y.events.first);
    CHECK(x.events.next == y.events.next);
    CHECK(x.snapshots.first == y.snapshots.first);
    CHECK(x.snapshots.next == y.snapshots.next);
  }
  REQUIRE(a.files.size() == b.files.size());
  for (size_t i = 0; i < a.files.size(); ++i) {
    const auto& x = a.files[i];
    const auto& y = b.files[i];
    CHECK(x.key() == y.key());
    CHECK(x.base == y.base);
    CHECK(x.next == y.next);
    CHECK(x.closed == y.closed);
    CHECK(x.size == y.size);
    CHECK(x.inherit == y.inherit);
    REQUIRE(x.chunks.size() == y.chunks.size());
    for (size_t c = 0; c < x.chunks.size(); ++c) {
      CHECK(x.chunks[c].offset == y.chunks[c].offset);
      CHECK(x.chunks[c].size == y.chunks[c].size);
      CHECK(x.chunks[c].xxh3 == y.chunks[c].xxh3);
      CHECK(x.chunks[c].object == y.chunks[c].object);
      CHECK(x.chunks[c].stored_size == y.chunks[c].stored_size);
      CHECK(x.chunks[c].tail_xxh3 == y.chunks[c].tail_xxh3);
    }
  }
  CHECK(a.dropped == b.dropped);
}

// The status DecodeManifest fails with on `doc`, and its message.
std::pair<bkp_status, std::string> ManifestError(const std::string& text) {
  try {
    repo::DecodeManifest(text, "manifest of backup 'b1'");
  } catch (const bkp::Error& e) {
    return {e.status(), e.what()};
  }
  return {BKP_OK, ""};
}

// A restore sink and operation for RunRestoreJob that only count calls.
struct FakeSink {
  int begins = 0;
  uint64_t bytes = 0;
};

const bkp_host_services& FakeServices() {
  static const bkp_host_services services = [] {
    bkp_host_services s;
    BKP_INIT(&s);
    s.abi_version = BKP_ABI_VERSION;
    s.log = [](bkp_host*, int32_t, const char*) {};
    s.op_progress = [](bkp_operation*, const bkp_progress*) {};
    s.op_cancelled = [](bkp_operation*) -> int32_t { return 0; };
    s.sink_begin = [](bkp_sink* sink, const bkp_item*, char*, size_t) -> bkp_status {
      ++reinterpret_cast<FakeSink*>(sink)->begins;
      return BKP_OK;
    };
    s.sink_write = [](bkp_sink* sink, const void*, size_t len, char*, size_t) -> bkp_status {
      reinterpret_cast<FakeSink*>(sink)->bytes += len;
      return BKP_OK;
    };
    s.sink_end = [](bkp_sink*, char*, size_t) -> bkp_status { return BKP_OK; };
    return s;
  }();
  return services;
}

}  // namespace

TEST_CASE("codec: LZ4 frames round trip on 0 1 1MiB-1 1MiB and 3.5MiB of event data") {
  const size_t sizes[] = {0, 1, kMiB - 1, kMiB, 3 * kMiB + kMiB / 2};
  for (size_t n : sizes) {
    CAPTURE(n);
    const std::string data = RealisticBytes(n, 1000 + n);
    const Encoded e = Encode(data);
    CHECK(e.info.original_size == n);
    CHECK(e.info.stored_size == e.frame.size());
    CHECK(e.info.xxh3 == XXH3_64bits(data.data(), data.size()));
    CHECK(e.info.xxh128_hex == Xxh128Hex(data));
    // An LZ4 frame (magic 0x184D2204) with the content checksum flag on.
    REQUIRE(e.frame.size() >= 7);
    CHECK(e.frame.compare(0, 4, std::string("\x04\x22\x4d\x18", 4)) == 0);
    CHECK((static_cast<unsigned char>(e.frame[4]) & 0x04) != 0);
    if (n >= kMiB) CHECK(e.frame.size() < n);  // event data compresses
    for (size_t chunk : {size_t{7}, size_t{4096}, kMiB, 8 * kMiB}) {
      CAPTURE(chunk);
      CHECK(Decode(e.frame, chunk, "obj", n, e.info.xxh3) == data);
    }
  }
}

TEST_CASE(
    "codec: the stock lz4 decodes every frame, incompressible blocks too, and checks its sum") {
  TempDir dir;
  std::mt19937_64 rng(99);
  std::string random(2 * kMiB + 5, '\0');
  for (auto& c : random) c = static_cast<char>(rng());
  // Event data, random bytes (stored as raw blocks), and the two mixed.
  const std::vector<std::string> inputs = {RealisticBytes(kMiB + 3, 5), random,
                                           RealisticBytes(kMiB, 6) + random.substr(0, kMiB / 2),
                                           std::string()};
  for (size_t i = 0; i < inputs.size(); ++i) {
    CAPTURE(i);
    const Encoded e = Encode(inputs[i]);
    const fs::path frame = dir.path() / ("f" + std::to_string(i) + ".lz4");
    const fs::path out = dir.path() / ("f" + std::to_string(i));
    WriteFile(frame, e.frame);
    auto r = testing_support::RunCommand({"lz4", "-d", "-f", "-q", frame.string(), out.string()});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(ReadFile(out) == inputs[i]);
    if (i == 1) CHECK(e.frame.size() > inputs[i].size());  // raw blocks, flagged as such

    // A frame whose content checksum is off is refused by lz4 as by verify.
    std::string bad = e.frame;
    bad[bad.size() - 1] ^= 0x40;
    WriteFile(frame, bad);
    CHECK(testing_support::RunCommand({"lz4", "-t", "-q", frame.string()}).exit_code != 0);
    CHECK_THROWS_AS(Decode(bad, kMiB, "obj", inputs[i].size(), e.info.xxh3), bkp::Error);
  }
}

TEST_CASE("codec: an object re-packed by hand with the stock lz4 still verifies and restores") {
  // An operator who repairs a damaged object from the original bytes packs
  // it with the stock lz4: its defaults (4 MiB blocks), small blocks,
  // block checksums, a content size in the header and linked blocks must
  // all decode, and the frame's content checksum still be checked.
  TempDir dir;
  const std::string data = RealisticBytes(5 * kMiB + 77, 31);
  const uint64_t sum = XXH3_64bits(data.data(), data.size());
  WriteFile(dir.path() / "in", data);
  auto pack = [&](std::vector<std::string> flags) {
    const fs::path out = dir.path() / "in.lz4";
    std::vector<std::string> cmd = {"lz4", "-q", "-f"};
    cmd.insert(cmd.end(), flags.begin(), flags.end());
    cmd.push_back((dir.path() / "in").string());
    cmd.push_back(out.string());
    auto r = testing_support::RunCommand(cmd);
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    return ReadFile(out);
  };
  for (const auto& flags : std::vector<std::vector<std::string>>{
           {"-1"}, {"-1", "-B4"}, {"-9", "-BX"}, {"-1", "--content-size"}, {"-1", "-BD"}}) {
    CAPTURE(flags.back());
    const std::string frame = pack(flags);
    CHECK(Decode(frame, kMiB, "obj", data.size(), sum) == data);
    CHECK(Decode(frame, 4096, "obj", data.size(), sum) == data);
    std::string bad = frame;
    bad[bad.size() - 1] ^= 0x08;  // the content checksum
    auto [status, message] = DecodeError(bad, kMiB, "obj", data.size(), sum);
    CHECK_MESSAGE(status == BKP_E_CORRUPT, message);
    CHECK_MESSAGE(Contains(message, "content checksum"), message);
  }
}

TEST_CASE("codec: equal content encodes to the same name and different content does not") {
  const std::string a = RealisticBytes(300000, 7);
  std::string b = a;
  b[150000] ^= 1;
  CHECK(Encode(a).info.xxh128_hex == Encode(a).info.xxh128_hex);
  CHECK(Encode(a).info.xxh128_hex != Encode(b).info.xxh128_hex);
  CHECK(Encode(a).info.xxh3 != Encode(b).info.xxh3);
}

TEST_CASE("codec: a damaged frame or a wrong expectation is BKP_E_CORRUPT naming the object") {
  const std::string what = "'objects/ab/ab12cd34.lz4'";
  const std::string data = RealisticBytes(3 * kMiB + kMiB / 2, 42);
  const Encoded e = Encode(data);
  const uint64_t n = data.size();
  const uint64_t sum = e.info.xxh3;
  REQUIRE(DecodeError(e.frame, kMiB, what, n, sum).first == BKP_OK);

  auto expect_corrupt = [&](const std::string& frame, uint64_t size, uint64_t xxh3,
                            const std::string& why) {
    for (size_t chunk : {size_t{4096}, kMiB}) {
      CAPTURE(chunk);
      auto [status, message] = DecodeError(frame, chunk, what, size, xxh3);
      CHECK_MESSAGE(status == BKP_E_CORRUPT, message);
      CHECK_MESSAGE(Contains(message, what), message);
      if (!why.empty()) CHECK_MESSAGE(Contains(message, why), message);
    }
  };

  SUBCASE("a flipped byte in the middle of the frame") {
    std::string bad = e.frame;
    bad[bad.size() / 2] ^= 0x5a;
    expect_corrupt(bad, n, sum, "");
  }
  SUBCASE("a flipped byte in the content checksum") {
    std::string bad = e.frame;
    bad[bad.size() - 2] ^= 0x01;
    expect_corrupt(bad, n, sum, "LZ4");
    // A restore only needs the content, which XXH3-64 still vouches for.
    CHECK(Decode(bad, kMiB, what, n, sum, repo::FrameCheck::kContentOnly) == data);
  }
  SUBCASE("a flipped byte in the frame header") {
    std::string bad = e.frame;
    bad[5] ^= 0x10;
    expect_corrupt(bad, n, sum, "");
  }
  SUBCASE("a truncated frame") {
    expect_corrupt(e.frame.substr(0, e.frame.size() - 1), n, sum, "");
    expect_corrupt(e.frame.substr(0, e.frame.size() / 2), n, sum, "");
    expect_corrupt(e.frame.substr(0, 3), n, sum, "");
    expect_corrupt("", n, sum, "truncated");
  }
  SUBCASE("trailing garbage after the frame") {
    expect_corrupt(e.frame + "x", n, sum, "after the end");
    expect_corrupt(e.frame + std::string(5000, '\0'), n, sum, "after the end");
    expect_corrupt(e.frame + Encode("tail").frame, n, sum, "after the end");
  }
  SUBCASE("a wrong expected size") {
    expect_corrupt(e.frame, n - 1, sum, std::to_string(n - 1));
    expect_corrupt(e.frame, n + 1, sum, std::to_string(n + 1));
    expect_corrupt(e.frame, 0, sum, "");
  }
  SUBCASE("a wrong expected XXH3-64") { expect_corrupt(e.frame, n, sum ^ 1, repo::Hex64(sum ^ 1)); }
  SUBCASE("an empty object whose frame was lost") {
    const Encoded empty = Encode("");
    REQUIRE(DecodeError(empty.frame, kMiB, what, 0, empty.info.xxh3).first == BKP_OK);
    expect_corrupt("", 0, empty.info.xxh3, "truncated");
  }
}

TEST_CASE("codec: Hex64 prints as xxhsum does and ParseHex64 is strict") {
  CHECK(repo::Hex64(0x99fc819aaba2462aull) == "99fc819aaba2462a");
  CHECK(repo::Hex64(1) == "0000000000000001");
  CHECK(repo::ParseHex64("99fc819aaba2462a", "x") == 0x99fc819aaba2462aull);
  for (const char* bad : {"", "99fc819aaba2462", "99fc819aaba2462a0", "99FC819AABA2462A",
                          "99fc819aaba2462g", " 9fc819aaba2462a"}) {
    CAPTURE(bad);
    try {
      repo::ParseHex64(bad, "manifest 'm'");
      FAIL("accepted");
    } catch (const bkp::Error& e) {
      CHECK(e.status() == BKP_E_CORRUPT);
      CHECK(Contains(e.what(), "manifest 'm'"));
    }
  }
}

TEST_CASE("manifest: encode then decode gives the same manifest") {
  const repo::Manifest m = SampleManifest();
  const std::string text = repo::EncodeManifest(m);
  const repo::Manifest back = repo::DecodeManifest(text, "sample");
  CheckSameManifest(m, back);
  CHECK(repo::EncodeManifest(back) == text);

  // The documented fields, as a person or jq reads them.
  const auto doc = nlohmann::json::parse(text);
  CHECK(doc["format"] == "eventstore-backup-manifest");
  CHECK(doc["format_version"] == 2);
  CHECK(doc["parent"].is_null());
  CHECK(doc["files"][0]["role"] == "control_db");
  CHECK(doc["files"][0]["context"].is_null());
  CHECK(doc["files"][1]["role"] == "log");
  CHECK(doc["files"][1]["chunks"][0]["xxh3"] == "5109570f5e4d34c5");
  CHECK(doc["files"][1]["chunks"][0]["tail_xxh3"] == "a1b2c3d4e5f60718");
  CHECK_FALSE(doc["files"][1].contains("inherit"));  // full backups inherit nothing
  CHECK(doc["files"][2]["role"] == "events");
  CHECK(doc["files"][2]["chunks"][1]["offset"] == 500);
  CHECK(doc["files"][2]["chunks"][1]["xxh3"] == "0000000000000000");
  CHECK_FALSE(doc["files"][2]["chunks"][1].contains("tail_xxh3"));
  CHECK(doc["files"][3]["role"] == "snapshots");
  CHECK(doc["files"][3]["chunks"].empty());
  CHECK(doc["dropped"].empty());
  CHECK(doc["totals"]["files"] == 4);
  CHECK(doc["totals"]["bytes"] == m.TotalBytes());
  CHECK(doc["totals"]["stored_bytes"] == m.TotalStoredBytes());

  repo::Manifest child = m;
  child.type = "incremental";
  child.parent = m.id;
  child.files[2].inherit = 500;  // the parent holds the first chunk
  child.files[2].chunks.erase(child.files[2].chunks.begin());
  child.dropped.push_back({BKP_ROLE_LOG, "default", "00000000000000000001.log"});
  CheckSameManifest(child, repo::DecodeManifest(repo::EncodeManifest(child), "child"));
  CHECK(child.TotalBytes() == m.TotalBytes() - 500);

  CHECK(repo::ManifestKey(m.id) == "backups/" + m.id + ".json");
  CHECK(repo::IdFromManifestKey(repo::ManifestKey(m.id)) == m.id);
  CHECK_FALSE(repo::IdFromManifestKey("backups/a/b.json").has_value());
  CHECK_FALSE(repo::IdFromManifestKey("backups/.json").has_value());
  CHECK_FALSE(repo::IdFromManifestKey("objects/x.json").has_value());
}

TEST_CASE("manifest: since_full_check round trips and reads as 0 where it is absent") {
  repo::Manifest m = SampleManifest();
  m.since_full_check = 7;
  const std::string text = repo::EncodeManifest(m);
  CHECK(nlohmann::json::parse(text)["since_full_check"] == 7);
  CHECK(repo::DecodeManifest(text, "sample").since_full_check == 7);
  // A manifest written before the field existed read every tail.
  auto doc = nlohmann::json::parse(text);
  doc.erase("since_full_check");
  CHECK(repo::DecodeManifest(doc.dump(), "older").since_full_check == 0);
  doc["since_full_check"] = "seven";
  CHECK_THROWS_WITH_AS(repo::DecodeManifest(doc.dump(), "odd"),
                       doctest::Contains("odd: malformed manifest"), bkp::Error);
}

TEST_CASE("manifest: abi_version is the version host and plugin agreed at open, major.minor") {
  bkp_host_services services;
  BKP_INIT(&services);
  services.abi_version = BKP_MAKE_VERSION(1, 1);  // an older host: its version is in force
  CHECK(repo::NegotiatedAbiVersion(services) == BKP_MAKE_VERSION(1, 1));
  services.abi_version = BKP_MAKE_VERSION(BKP_ABI_VERSION_MAJOR, BKP_ABI_VERSION_MINOR + 5);
  CHECK(repo::NegotiatedAbiVersion(services) == BKP_ABI_VERSION);  // a newer host: ours
  CHECK(repo::AbiVersionText(BKP_MAKE_VERSION(1, 2)) == "1.2");
  CHECK(repo::AbiVersionText(BKP_MAKE_VERSION(2, 10)) == "2.10");
}

TEST_CASE("manifest: format 1 (one object per file) still reads, as one chunk per file") {
  const std::string v1 = R"({
    "format": "eventstore-backup-manifest", "format_version": 1,
    "id": "20261121T131024745Z-8481", "type": "full", "parent": null,
    "created_ms": 1, "completed_ms": 2,
    "provider": {"name": "local_disk", "version": "0.1.0"}, "abi_version": "1.0",
    "contexts": [{"name": "default", "term": 1, "commit_index": 3,
                  "log": {"first": 1, "next": 4}, "events": {"first": 0, "next": 3},
                  "snapshots": {"first": 0, "next": 0}}],
    "files": [
      {"role": "control_db", "context": null, "name": "control.db", "base": 0, "next": 0,
       "closed": false, "size": 4096, "xxh3": "00000000000000aa",
       "object": "objects/aa/aa.lz4", "stored_size": 90},
      {"role": "log", "context": "default", "name": "00000000000000000001.log", "base": 1,
       "next": 4, "closed": true, "size": 300, "xxh3": "00000000000000bb",
       "object": "objects/bb/bb.lz4", "stored_size": 80, "tail_xxh3": "00000000000000cc"},
      {"role": "snapshots", "context": "default", "name": "00000000000000000000.snapshots",
       "base": 0, "next": 0, "closed": false, "size": 0, "xxh3": "2d06800538d394c2",
       "object": "objects/2d/2d.lz4", "stored_size": 15}],
    "totals": {"files": 3, "bytes": 4396, "stored_bytes": 185, "bytes_new": 185}})";
  const repo::Manifest m = repo::DecodeManifest(v1, "v1");
  REQUIRE(m.files.size() == 3);
  REQUIRE(m.files[0].chunks.size() == 1);
  CHECK(m.files[0].chunks[0].object == "objects/aa/aa.lz4");
  CHECK(m.files[0].chunks[0].size == 4096);
  CHECK_FALSE(m.files[0].chunks[0].tail_xxh3.has_value());  // never reused unread
  REQUIRE(m.files[1].chunks.size() == 1);
  CHECK(m.files[1].chunks[0].xxh3 == 0xbb);
  CHECK(m.files[1].chunks[0].tail_xxh3 == 0xcc);
  CHECK(m.files[2].chunks.empty());  // an empty file needs no object
  CHECK(m.dropped.empty());
}

TEST_CASE("manifest: decoding is strict about what it accepts") {
  const auto good = nlohmann::json::parse(repo::EncodeManifest(SampleManifest()));
  REQUIRE(ManifestError(good.dump()).first == BKP_OK);
  auto expect = [](const std::string& text, bkp_status status, const std::string& why) {
    auto [got, message] = ManifestError(text);
    CHECK_MESSAGE(got == status, message);
    CHECK_MESSAGE(Contains(message, "manifest of backup 'b1'"), message);
    if (!why.empty()) CHECK_MESSAGE(Contains(message, why), message);
  };
  SUBCASE("not JSON") {
    expect("{\"format\": \"eventstore-backup-manifest\",", BKP_E_CORRUPT, "not valid JSON");
    expect("", BKP_E_CORRUPT, "");
  }
  SUBCASE("a wrong format string") {
    auto doc = good;
    doc["format"] = "eventstore-backup-repository";
    expect(doc.dump(), BKP_E_CORRUPT, "not a backup manifest");
    doc.erase("format");
    expect(doc.dump(), BKP_E_CORRUPT, "");
  }
  SUBCASE("a newer format version") {
    auto doc = good;
    doc["format_version"] = repo::kNewestManifestFormatVersion + 1;  // 3 is zstd's
    expect(doc.dump(), BKP_E_UNSUPPORTED, "newer");
  }
  SUBCASE("a bad xxh3") {
    for (const char* bad : {"5109570f5e4d34c", "5109570F5E4D34C5", "zz09570f5e4d34c5"}) {
      auto doc = good;
      doc["files"][1]["chunks"][0]["xxh3"] = bad;
      expect(doc.dump(), BKP_E_CORRUPT, bad);
    }
    auto doc = good;
    doc["files"][1]["chunks"][0]["tail_xxh3"] = "12";
    expect(doc.dump(), BKP_E_CORRUPT, "'12'");
    doc = good;
    doc["files"][1]["chunks"][0]["xxh3"] = 12345;
    expect(doc.dump(), BKP_E_CORRUPT, "");
  }
  SUBCASE("a negative size, base or commit index") {
    for (const char* key : {"size", "base"}) {
      auto doc = good;
      doc["files"][1][key] = -1;
      expect(doc.dump(), BKP_E_CORRUPT, std::string("'") + key + "' must be an unsigned integer");
    }
    for (const char* key : {"offset", "size", "stored_size"}) {
      auto doc = good;
      doc["files"][1]["chunks"][0][key] = -1;
      expect(doc.dump(), BKP_E_CORRUPT, std::string("'") + key + "' must be an unsigned integer");
    }
    auto doc = good;
    doc["contexts"][0]["commit_index"] = -5;
    expect(doc.dump(), BKP_E_CORRUPT, "'commit_index' must be an unsigned integer");
  }
  SUBCASE("an unknown role") {
    auto doc = good;
    doc["files"][2]["role"] = "wal";
    expect(doc.dump(), BKP_E_CORRUPT, "unknown file role 'wal'");
  }
  SUBCASE("chunks that do not cover their file exactly") {
    auto doc = good;
    doc["files"][2]["chunks"][1]["offset"] = 499;  // overlaps the first
    expect(doc.dump(), BKP_E_CORRUPT, "do not cover it");
    doc = good;
    doc["files"][2]["chunks"].erase(1);  // a hole at the end
    expect(doc.dump(), BKP_E_CORRUPT, "end at byte 500 of its 901");
    doc = good;
    doc["files"][2]["chunks"][0]["size"] = 0;
    doc["files"][2]["chunks"][0]["offset"] = 0;
    expect(doc.dump(), BKP_E_CORRUPT, "do not cover it");
  }
  SUBCASE("a missing or mistyped field") {
    auto doc = good;
    doc["files"][0]["chunks"][0].erase("object");
    expect(doc.dump(), BKP_E_CORRUPT, "malformed");
    doc = good;
    doc["files"][0]["size"] = "16384";
    expect(doc.dump(), BKP_E_CORRUPT, "malformed");
    doc = good;
    doc.erase("contexts");
    expect(doc.dump(), BKP_E_CORRUPT, "malformed");
  }
}

TEST_CASE("repository: an empty location becomes a repository and opens again") {
  TempDir dir;
  const fs::path root = dir / "repo";
  { repo::Repository r(std::make_shared<repo::PosixDriver>(root)); }
  REQUIRE(fs::exists(root / "format.json"));
  const auto doc = nlohmann::json::parse(ReadFile(root / "format.json"));
  CHECK(doc["format"] == "eventstore-backup-repository");
  CHECK(doc["version"] == 1);
  repo::Repository again(std::make_shared<repo::PosixDriver>(root));
  CHECK(again.ListIds().empty());
}

TEST_CASE("repository: a non-empty directory that is not a repository is refused untouched") {
  TempDir dir;
  const fs::path root = dir / "photos";
  fs::create_directories(root / "2024");
  WriteFile(root / "2024" / "beach.jpg", "not really a jpeg");
  WriteFile(root / "index.txt", "my photos");
  try {
    repo::Repository r(std::make_shared<repo::PosixDriver>(root));
    FAIL("a foreign directory was taken as a repository");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_INVALID_ARGUMENT);
    CHECK_MESSAGE(Contains(e.what(), root.string()), e.what());
    CHECK_MESSAGE(Contains(e.what(), "not empty"), e.what());
  }
  // Nothing was scattered into it.
  std::vector<std::string> entries;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    entries.push_back(e.path().lexically_relative(root).generic_string());
  }
  std::sort(entries.begin(), entries.end());
  CHECK(entries == std::vector<std::string>{"2024", "2024/beach.jpg", "index.txt"});
}

TEST_CASE("repository: a newer or foreign format.json is refused") {
  TempDir dir;
  const fs::path root = dir / "repo";
  fs::create_directories(root);
  SUBCASE("newer") {
    const int newer = repo::kRepositoryFormatVersion + 1;
    WriteFile(root / "format.json", R"({"format":"eventstore-backup-repository","version":)" +
                                        std::to_string(newer) + "}");
    try {
      repo::Repository r(std::make_shared<repo::PosixDriver>(root));
      FAIL("a newer repository format was opened");
    } catch (const bkp::Error& e) {
      // Up front and by name: the file, its version, ours; not "corrupt".
      CHECK(e.status() == BKP_E_UNSUPPORTED);
      CHECK_MESSAGE(Contains(e.what(), root.string()), e.what());
      CHECK_MESSAGE(Contains(e.what(), "format.json declares repository format version " +
                                           std::to_string(newer)),
                    e.what());
      CHECK_MESSAGE(Contains(e.what(), "up to " + std::to_string(newer - 1)), e.what());
    }
  }
  SUBCASE("foreign") {
    WriteFile(root / "format.json", R"({"format":"something-else","version":1})");
    try {
      repo::Repository r(std::make_shared<repo::PosixDriver>(root));
      FAIL("a foreign format.json was accepted");
    } catch (const bkp::Error& e) {
      CHECK(e.status() == BKP_E_INVALID_ARGUMENT);
    }
  }
  SUBCASE("not JSON") {
    WriteFile(root / "format.json", "{{{");
    try {
      repo::Repository r(std::make_shared<repo::PosixDriver>(root));
      FAIL("a broken format.json was accepted");
    } catch (const bkp::Error& e) {
      CHECK(e.status() == BKP_E_CORRUPT);
      CHECK_MESSAGE(Contains(e.what(), "format.json"), e.what());
    }
  }
}

TEST_CASE("posix driver: keys that leave the repository root are refused") {
  // Every key below would land inside the scratch directory if followed, so
  // a regression cannot touch anything else on the machine.
  TempDir dir;
  const fs::path root = dir / "a" / "repo";
  const fs::path outside = dir / "outside.txt";
  WriteFile(outside, "secret");
  repo::PosixDriver driver(root);
  const std::string absolute = outside.string();
  for (const std::string& key :
       {std::string("../../outside.txt"), std::string("objects/../../../outside.txt"), absolute}) {
    CAPTURE(key);
    auto expect_refused = [&](const std::function<void()>& fn) {
      try {
        fn();
        FAIL("key accepted");
      } catch (const bkp::Error& e) {
        CHECK(e.status() == BKP_E_CORRUPT);
        CHECK_MESSAGE(Contains(e.what(), "outside the repository"), e.what());
      }
    };
    expect_refused([&] { driver.Open(key); });
    expect_refused([&] { driver.Stat(key); });
    expect_refused([&] { driver.Remove({key}); });
    // A hint never fails (storage_driver.h): Open is the one to refuse.
    CHECK_NOTHROW(driver.Prefetch(key));
    expect_refused([&] {
      auto writer = driver.Create();
      writer->Append("overwritten", 11);
      writer->Commit(key);
    });
    CHECK(ReadFile(outside) == "secret");
  }
  // Refused writes left nothing behind in tmp/.
  CHECK(plugins_test::CountFiles(root / "tmp") == 0);
}

TEST_CASE("posix driver: a manifest pointing outside the repository is never read") {
  TempDir dir;
  const fs::path root = dir / "repo";
  repo::Repository repository(std::make_shared<repo::PosixDriver>(root));
  // A valid frame just outside the root: following the key would "verify".
  const std::string data = RealisticBytes(5000, 3);
  const Encoded e = Encode(data);
  WriteFile(dir / "evil.lz4", e.frame);

  for (const char* object : {"../evil.lz4", "objects/../../evil.lz4", "../../etc/passwd"}) {
    CAPTURE(object);
    repo::Manifest m = SampleManifest();
    m.id = std::string("20260101T000000000Z-") + (object[0] == 'o' ? "0002" : "0001");
    if (Contains(object, "passwd")) m.id = "20260101T000000000Z-0003";
    m.files.resize(1);
    m.files[0].size = data.size();
    m.files[0].chunks = {SampleChunk(0, data.size(), e.info.xxh3, object, e.frame.size(), 0)};
    repository.Publish(m);

    std::vector<repo::VerifyProblem> problems;
    const uint64_t n = repo::RunVerifyJob(
        repository, m.id, nullptr, 1, [&](const repo::VerifyProblem& p) { problems.push_back(p); });
    CHECK(n == 1);
    REQUIRE(problems.size() == 1);
    CHECK(problems[0].status == BKP_E_CORRUPT);
    CHECK(problems[0].backup_id == m.id);
    CHECK(problems[0].file == "control.db");
    CHECK_MESSAGE(Contains(problems[0].message, "outside the repository"), problems[0].message);

    FakeSink sink;
    bkp_operation* no_op = nullptr;
    const bkp::Sink wrapped(&FakeServices(), reinterpret_cast<bkp_sink*>(&sink));
    const bkp::Operation op(&FakeServices(), no_op);
    try {
      repo::RunRestoreJob(repository, m.id, wrapped, op);
      FAIL("a restore followed a key outside the repository");
    } catch (const bkp::Error& err) {
      CHECK(err.status() == BKP_E_CORRUPT);
      CHECK_MESSAGE(Contains(err.what(), "outside the repository"), err.what());
    }
    CHECK(sink.begins == 0);
    CHECK(sink.bytes == 0);
  }
  // The whole-repository verify reports them too, and removing such a
  // backup deletes nothing outside.
  std::vector<repo::VerifyProblem> all;
  repo::RunVerifyJob(repository, "", nullptr, 2,
                     [&](const repo::VerifyProblem& p) { all.push_back(p); });
  CHECK(all.size() == 3);
  for (const auto& id : repository.ListIds()) repo::RemoveBackup(repository, id);
  CHECK(ReadFile(dir / "evil.lz4") == e.frame);
  CHECK(repository.ListIds().empty());
}

TEST_CASE("repository: garbage collection discards abandoned temporary files, not fresh ones") {
  TempDir dir;
  const fs::path root = dir / "repo";
  repo::Repository repository(std::make_shared<repo::PosixDriver>(root));
  // What a backup killed mid-object leaves, and what a running one holds.
  fs::create_directories(root / "tmp");
  WriteFile(root / "tmp" / "111-1-0.tmp", "half an object from yesterday");
  fs::last_write_time(root / "tmp" / "111-1-0.tmp",
                      fs::file_time_type::clock::now() - std::chrono::hours(2));
  WriteFile(root / "tmp" / "222-1-0.tmp", "being written right now");
  CHECK(repo::CollectGarbage(repository) == 1);
  CHECK_FALSE(fs::exists(root / "tmp" / "111-1-0.tmp"));
  CHECK(fs::exists(root / "tmp" / "222-1-0.tmp"));
}
