// How a file is stored: one LZ4 frame (decodable by the stock `lz4 -d`), or
// with compression = "zstd" one Zstandard frame (`zstd -d`, zstd_frame.h),
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

#include "repo/codec.h"
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

// The most bytes the LZ4 frame of `original_size` bytes can take.
uint64_t MaxFrameSize(uint64_t original_size);
// The same for a frame of `codec`.
uint64_t MaxFrameSize(Codec codec, uint64_t original_size);

// Compresses a stream of bytes into one frame written to an ObjectWriter,
// hashing the original bytes as they pass. The codec is the subclass.
class ObjectEncoder {
 public:
  virtual ~ObjectEncoder();
  ObjectEncoder(const ObjectEncoder&) = delete;
  ObjectEncoder& operator=(const ObjectEncoder&) = delete;

  void Update(const void* data, size_t len);
  // Ends the frame; the writer is not committed (the caller names it).
  // Throws BKP_E_INTERNAL when the bytes given are not the size announced.
  EncodedObject Finish();

 protected:
  // `size_hint` (the original size, when known) goes into the frame
  // header; 0 leaves it out.
  ObjectEncoder(ObjectWriter& out, uint64_t size_hint);
  // The codec's part of Update and Finish.
  virtual void Compress(const char* data, size_t len) = 0;
  virtual void End() = 0;
  void Emit(const void* data, size_t len);

  const uint64_t size_hint_;

 private:
  ObjectWriter& out_;
  XXH3_state_s* h64_ = nullptr;
  XXH3_state_s* h128_ = nullptr;
  EncodedObject result_;
};

// The encoder of `compression`'s codec (and level) writing to `out`.
std::unique_ptr<ObjectEncoder> NewEncoder(const Compression& compression, ObjectWriter& out,
                                          uint64_t size_hint);

// The LZ4 frame encoder.
class FrameEncoder final : public ObjectEncoder {
 public:
  FrameEncoder(ObjectWriter& out, uint64_t size_hint);
  ~FrameEncoder() override;

 private:
  void Compress(const char* data, size_t len) override;
  void End() override;
  // Compresses one block of at most kBlockBytes and writes it out.
  void EmitBlock(const char* data, size_t len);
  XXH32_state_s* h32_ = nullptr;  // the frame's content checksum
  // Not zero-filled (see NewReadBuffer in chunk_store.h): a small object
  // touches a page or two of them.
  std::unique_ptr<char[]> lz4_state_;
  std::unique_ptr<char[]> pending_;  // input of the block being filled
  size_t pending_len_ = 0;
  std::unique_ptr<char[]> block_;  // a compressed block with its size prefix
  size_t block_capacity_ = 0;
};

enum class FrameCheck {
  // Everything, the frame's own XXH32 content checksum included: what
  // verify needs, since the stock `lz4 -d` of a by-hand restore rejects a
  // frame whose checksum is off even when its content is intact.
  kFull,
  // Skip the frame's checksum: the XXH3-64 checks the same bytes, and a
  // restore needs only the bytes right. Saves a sixth of the decoding time
  // of an LZ4 frame; libzstd checks a zstd frame's XXH64 regardless.
  kContentOnly,
};

// Streams the original bytes of a stored object to `consume`, checking the
// frame (magic, block and content checksums, no truncation, nothing after
// it) and that the output has `expected_size` bytes with XXH3-64
// `expected_xxh3`. Throws bkp::Error(BKP_E_CORRUPT) naming `what` and the
// reason; I/O errors come from the driver.
//
// `into`, when given, is where the bytes are decoded, saving a copy of
// every byte for a consumer that keeps them (a restore's hand-over to the
// sink): it returns a buffer of kBlockBytes, which the decoder fills and
// passes to `consume` (that same pointer), the buffer then being the
// consumer's; it is asked again for the next bytes, and may return the same
// buffer when nothing was consumed from it.
void DecodeObject(ObjectReader& in, Codec codec, const std::string& what, uint64_t expected_size,
                  uint64_t expected_xxh3, const std::function<void(const char*, size_t)>& consume,
                  FrameCheck check = FrameCheck::kFull,
                  const std::function<char*()>& into = nullptr);
// The same for an LZ4 frame.
void DecodeObject(ObjectReader& in, const std::string& what, uint64_t expected_size,
                  uint64_t expected_xxh3, const std::function<void(const char*, size_t)>& consume,
                  FrameCheck check = FrameCheck::kFull);

// As DecodeObject, checking only the frame itself (magic, block and content
// checksums, its end), whatever size and XXH3 a manifest records: whether
// the stored object is damaged, or a reference to it is wrong.
void DecodeFrame(ObjectReader& in, Codec codec, const std::string& what,
                 const std::function<void(const char*, size_t)>& consume);

// 16 lowercase hex digits, most significant first (as xxhsum prints it).
std::string Hex64(uint64_t value);
// Parses Hex64's output; throws bkp::Error(BKP_E_CORRUPT) naming `what`.
uint64_t ParseHex64(const std::string& hex, const std::string& what);

}  // namespace repo
