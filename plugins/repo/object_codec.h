// How a file is stored: one LZ4 frame (decodable by the stock `lz4 -d`)
// with the frame's content checksum on, named by the XXH128 of the original
// bytes, and recorded in the manifest with their XXH3-64 (checkable with
// `xxhsum -H3`). Both run as the bytes stream through: no file is ever held
// whole in memory.
//
// The frame is assembled here from LZ4's block API rather than by lz4frame,
// and its XXH32 content checksum comes from libxxhash: the copy of XXH32
// inside Debian's liblz4 is auto-vectorised badly and took a quarter of a
// backup's CPU time (perf, 1 GiB dataset), against ~4 % for libxxhash's.
// The bytes are the frame format lz4frame writes (docs/repository-format.md).
//
// Thread-safety: an encoder belongs to one thread; DecodeObject is
// reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "repo/storage_driver.h"

struct XXH3_state_s;
struct XXH32_state_s;

namespace repo {

// One LZ4 block of a stored object's frame, 1 MiB of original bytes: what
// the encoder compresses at a time, and the read size the engine uses. Not
// to be confused with a chunk (manifest.h's Chunk, up to kMaxChunkBytes in
// chunk_store.h): the piece of a file stored as one object, whose frame
// holds one or more blocks.
inline constexpr size_t kBlockBytes = 1 << 20;

struct EncodedObject {
  uint64_t original_size = 0;
  uint64_t stored_size = 0;
  uint64_t xxh3 = 0;       // XXH3-64 of the original bytes
  std::string xxh128_hex;  // XXH128 of the original bytes, 32 hex digits
};

// The most bytes the frame of `original_size` bytes can take.
uint64_t MaxFrameSize(uint64_t original_size);

class FrameEncoder {
 public:
  // Writes the frame to `out` as it goes. `size_hint` (the original size,
  // when known) goes into the frame header; 0 leaves it out.
  FrameEncoder(ObjectWriter& out, uint64_t size_hint);
  ~FrameEncoder();
  FrameEncoder(const FrameEncoder&) = delete;
  FrameEncoder& operator=(const FrameEncoder&) = delete;

  void Update(const void* data, size_t len);
  // Ends the frame; the writer is not committed (the caller names it).
  EncodedObject Finish();

 private:
  // Compresses one block of at most kBlockBytes and writes it out.
  void EmitBlock(const char* data, size_t len);
  void Emit(const void* data, size_t len);
  ObjectWriter& out_;
  const uint64_t size_hint_;
  XXH3_state_s* h64_ = nullptr;
  XXH3_state_s* h128_ = nullptr;
  XXH32_state_s* h32_ = nullptr;  // the frame's content checksum
  // Not zero-filled (see NewReadBuffer in chunk_store.h): a small object
  // touches a page or two of them.
  std::unique_ptr<char[]> lz4_state_;
  std::unique_ptr<char[]> pending_;  // input of the block being filled
  size_t pending_len_ = 0;
  std::unique_ptr<char[]> block_;  // a compressed block with its size prefix
  size_t block_capacity_ = 0;
  EncodedObject result_;
};

enum class FrameCheck {
  // Everything, the frame's own XXH32 content checksum included: what
  // verify needs, since the stock `lz4 -d` of a by-hand restore rejects a
  // frame whose checksum is off even when its content is intact.
  kFull,
  // Skip the frame's checksum: the XXH3-64 checks the same bytes, and a
  // restore needs only the bytes right. Saves a sixth of the decoding time.
  kContentOnly,
};

// Streams the original bytes of a stored object to `consume`, checking the
// frame (magic, block and content checksums, no truncation, nothing after
// it) and that the output has `expected_size` bytes with XXH3-64
// `expected_xxh3`. Throws bkp::Error(BKP_E_CORRUPT) naming `what` and the
// reason; I/O errors come from the driver.
void DecodeObject(ObjectReader& in, const std::string& what, uint64_t expected_size,
                  uint64_t expected_xxh3, const std::function<void(const char*, size_t)>& consume,
                  FrameCheck check = FrameCheck::kFull);

// As DecodeObject, checking only the frame itself (magic, block and content
// checksums, its end), whatever size and XXH3 a manifest records: whether
// the stored object is damaged, or a reference to it is wrong.
void DecodeFrame(ObjectReader& in, const std::string& what,
                 const std::function<void(const char*, size_t)>& consume);

// 16 lowercase hex digits, most significant first (as xxhsum prints it).
std::string Hex64(uint64_t value);
// Parses Hex64's output; throws bkp::Error(BKP_E_CORRUPT) naming `what`.
uint64_t ParseHex64(const std::string& hex, const std::string& what);

}  // namespace repo
