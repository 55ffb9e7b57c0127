// Chunk storing and prefix checks (see chunk_store.h).
#include "repo/chunk_store.h"

#include <algorithm>
#include <optional>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/object_codec.h"
#include "repo/xxh3_state.h"
#include "repo/xxhash_dispatch.h"

namespace repo {
namespace {

// The tail a chunk's tail_xxh3 covers.
constexpr uint64_t kTailBytes = 4096;

// 32 hex digits, as `xxhsum -H2` prints it (the canonical big-endian form).
std::string Hex128(XXH128_hash_t hash) { return Hex64(hash.high64) + Hex64(hash.low64); }

// Reads [offset, offset + size) block by block through the rate limiter,
// handing each block to `consume` and the XXH3-64 of the last kTailBytes to
// `tail`. `report` counts the bytes as read for progress (once per chunk,
// however many passes read it).
uint64_t ReadPiece(ChunkSink& sink, const ReadAt& read, uint64_t offset, uint64_t size,
                   std::span<char> buf, bool report,
                   const std::function<void(const char*, size_t)>& consume) {
  const uint64_t end = offset + size;
  const uint64_t tail_from = end - std::min(kTailBytes, size);
  Xxh3State tail;
  XXH3_64bits_reset(tail.get());
  for (uint64_t at = offset; at < end;) {
    sink.check_stop();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - at));
    sink.limiter.Acquire(n);
    read(at, buf.data(), n);
    consume(buf.data(), n);
    if (at + n > tail_from) {
      const uint64_t skip = at < tail_from ? tail_from - at : 0;
      XXH3_64bits_update(tail.get(), buf.data() + skip, n - skip);
    }
    at += n;
    if (report && sink.on_read) sink.on_read(n);
  }
  return XXH3_64bits_digest(tail.get());
}

// An object stored already under `key` that may be reused.
std::optional<uint64_t> Reusable(ChunkSink& sink, const std::string& key) {
  if (sink.damaged != nullptr && sink.damaged->count(key) > 0) return std::nullopt;
  return sink.driver.Stat(key);
}

// Commits `writer` under `key`, or hands it to the sink's committer. False
// when an object of that key is already on its way (the same content).
bool CommitObject(ChunkSink& sink, std::unique_ptr<ObjectWriter> writer, const std::string& key) {
  if (sink.committer != nullptr) return sink.committer->Submit(std::move(writer), key);
  writer->Commit(key);
  return true;
}

// Compresses the piece into `writer` (not committed).
EncodedObject Encode(ChunkSink& sink, const ReadAt& read, uint64_t offset, uint64_t size,
                     std::span<char> buf, bool report, ObjectWriter& writer, uint64_t* tail_xxh3) {
  const auto encoder = NewEncoder(sink.compression, writer, size);
  *tail_xxh3 = ReadPiece(sink, read, offset, size, buf, report,
                         [&](const char* data, size_t n) { encoder->Update(data, n); });
  return encoder->Finish();
}

// For a driver that must know a large object's key before its first byte
// (S3 multipart): a first pass only hashes the piece, so an object stored
// already (a resumed backup) costs one Stat and no upload; a second pass
// compresses and stores it under that key.
Chunk StoreNamedFirst(ChunkSink& sink, const ReadAt& read, uint64_t offset, uint64_t size,
                      std::span<char> buf) {
  Xxh3State h64, h128;
  XXH3_64bits_reset(h64.get());
  XXH3_128bits_reset(h128.get());
  Chunk c;
  c.offset = offset;
  c.size = size;
  c.codec = sink.compression.codec;
  c.tail_xxh3 =
      ReadPiece(sink, read, offset, size, buf, /*report=*/true, [&](const char* data, size_t n) {
        XXH3_64bits_update(h64.get(), data, n);
        XXH3_128bits_update(h128.get(), data, n);
      });
  c.xxh3 = XXH3_64bits_digest(h64.get());
  const std::string name = Hex128(XXH3_128bits_digest(h128.get()));
  c.object = ObjectKeyOf(sink.driver.ContentName(name), c.codec);
  if (auto existing = Reusable(sink, c.object)) {
    c.stored_size = *existing;
    return c;
  }
  auto writer = sink.driver.CreateAt(c.object);
  uint64_t tail = 0;
  const EncodedObject encoded =
      Encode(sink, read, offset, size, buf, /*report=*/false, *writer, &tail);
  if (encoded.xxh128_hex != name) {
    throw bkp::Error(BKP_E_IO, "bytes " + std::to_string(offset) + "-" +
                                   std::to_string(offset + size) +
                                   " changed between two reads while being backed up");
  }
  c.stored_size = encoded.stored_size;
  if (CommitObject(sink, std::move(writer), c.object)) sink.bytes_new += encoded.stored_size;
  return c;
}

}  // namespace

std::string ObjectKeyOf(const std::string& content_name, Codec codec) {
  return "objects/" + content_name.substr(0, 2) + "/" + content_name + CodecExtension(codec);
}

std::string ObjectKeyOf(const StorageDriver& driver, XXH128_hash_t hash, Codec codec) {
  return ObjectKeyOf(driver.ContentName(Hex128(hash)), codec);
}

Chunk StoreChunk(ChunkSink& sink, const ReadAt& read, uint64_t offset, uint64_t size,
                 std::span<char> buf) {
  if (MaxFrameSize(sink.compression.codec, size) > sink.driver.MaxUnnamedObjectSize()) {
    return StoreNamedFirst(sink, read, offset, size, buf);
  }
  auto writer = sink.driver.Create();
  Chunk c;
  c.offset = offset;
  c.size = size;
  c.codec = sink.compression.codec;
  uint64_t tail = 0;
  const EncodedObject encoded =
      Encode(sink, read, offset, size, buf, /*report=*/true, *writer, &tail);
  c.xxh3 = encoded.xxh3;
  c.tail_xxh3 = tail;
  c.object = ObjectKeyOf(sink.driver.ContentName(encoded.xxh128_hex), c.codec);
  if (auto existing = Reusable(sink, c.object)) {
    c.stored_size = *existing;  // identical content is stored already
  } else {
    c.stored_size = encoded.stored_size;
    if (CommitObject(sink, std::move(writer), c.object)) sink.bytes_new += encoded.stored_size;
  }
  return c;
}

bool StillBeginsWith(const ReadAt& read, uint64_t size, const FileEntry& stored) {
  if (stored.size == 0 || stored.size > size || stored.chunks.empty()) return false;
  const Chunk& last = stored.chunks.back();
  if (!last.tail_xxh3) return false;
  const uint64_t len = std::min(kTailBytes, last.size);
  std::vector<char> tail(len);
  read(stored.size - len, tail.data(), len);
  return XXH3_64bits(tail.data(), len) == *last.tail_xxh3;
}

}  // namespace repo
