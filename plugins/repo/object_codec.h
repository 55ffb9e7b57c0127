// How a file is stored: one LZ4 frame (decodable by the stock `lz4 -d`)
// with the frame's content checksum on, named by the XXH128 of the original
// bytes, and recorded in the manifest with their XXH3-64 (checkable with
// `xxhsum -H3`). Both run as the bytes stream through: no file is ever held
// whole in memory.
//
// Thread-safety: an encoder belongs to one thread; DecodeObject is
// reentrant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "storage_driver.h"

struct LZ4F_cctx_s;
struct XXH3_state_s;

namespace repo {

// Bytes handed to LZ4 per call, and the read size the engine uses.
inline constexpr size_t kChunkBytes = 1 << 20;

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
  void Emit(size_t n);
  ObjectWriter& out_;
  LZ4F_cctx_s* ctx_ = nullptr;
  XXH3_state_s* h64_ = nullptr;
  XXH3_state_s* h128_ = nullptr;
  std::vector<char> buf_;
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

// 16 lowercase hex digits, most significant first (as xxhsum prints it).
std::string Hex64(uint64_t value);
// Parses Hex64's output; throws bkp::Error(BKP_E_CORRUPT) naming `what`.
uint64_t ParseHex64(const std::string& hex, const std::string& what);

}  // namespace repo
