// Chunk storing and prefix checks (see chunk_store.h).
#include "chunk_store.h"

#include <xxhash.h>

#include <algorithm>

#include "object_codec.h"

namespace repo {
namespace {

// The tail a chunk's tail_xxh3 covers.
constexpr uint64_t kTailBytes = 4096;

}  // namespace

Chunk StoreChunk(ChunkSink& sink, const ReadAt& read, uint64_t offset, uint64_t size,
                 std::span<char> buf) {
  auto writer = sink.driver.Create();
  FrameEncoder encoder(*writer, size);
  const uint64_t end = offset + size;
  const uint64_t tail_from = end - std::min(kTailBytes, size);
  XXH3_state_t* tail = XXH3_createState();
  if (tail == nullptr) throw std::bad_alloc();
  struct FreeTail {
    XXH3_state_t* s;
    ~FreeTail() { XXH3_freeState(s); }
  } free_tail{tail};
  XXH3_64bits_reset(tail);
  for (uint64_t at = offset; at < end;) {
    sink.check_stop();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - at));
    sink.limiter.Acquire(n);
    read(at, buf.data(), n);
    encoder.Update(buf.data(), n);
    if (at + n > tail_from) {
      const uint64_t skip = at < tail_from ? tail_from - at : 0;
      XXH3_64bits_update(tail, buf.data() + skip, n - skip);
    }
    at += n;
    if (sink.on_read) sink.on_read(n);
  }
  const EncodedObject encoded = encoder.Finish();
  Chunk c;
  c.offset = offset;
  c.size = size;
  c.xxh3 = encoded.xxh3;
  c.tail_xxh3 = XXH3_64bits_digest(tail);
  c.object = "objects/" + encoded.xxh128_hex.substr(0, 2) + "/" + encoded.xxh128_hex + ".lz4";
  if (auto existing = sink.driver.Stat(c.object)) {
    c.stored_size = *existing;  // identical content is stored already
  } else {
    writer->Commit(c.object);
    c.stored_size = encoded.stored_size;
    sink.bytes_new += encoded.stored_size;
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
