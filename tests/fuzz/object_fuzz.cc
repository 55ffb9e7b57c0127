// libFuzzer target: DecodeObject on arbitrary bytes as a stored object.
// The first 16 bytes are the expected size and XXH3 (so the fuzzer can reach
// the checks after the frame); the rest is the object. Only bkp::Error may
// come out.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/object_codec.h"
#include "repo/storage_driver.h"

namespace {

class BytesReader final : public repo::ObjectReader {
 public:
  BytesReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  size_t Read(void* buf, size_t len) override {
    const size_t n = std::min(len, size_ - pos_);
    std::memcpy(buf, data_ + pos_, n);
    pos_ += n;
    return n;
  }
  uint64_t size() const override { return size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 16) return 0;
  uint64_t expected_size = 0;
  uint64_t expected_xxh3 = 0;
  std::memcpy(&expected_size, data, 8);
  std::memcpy(&expected_xxh3, data + 8, 8);
  expected_size %= 1u << 20;  // a real manifest names a size; keep runs fast
  BytesReader reader(data + 16, size - 16);
  try {
    repo::DecodeObject(reader, "fuzzed object", expected_size, expected_xxh3,
                       [](const char*, size_t) {});
  } catch (const bkp::Error&) {
  }
  return 0;
}
