// Shared by the object codec tests (repo_codec_test.cc, zstd_codec_test.cc):
// a writer and a reader over a string in memory, so that a frame is encoded
// and decoded without a storage driver, and what an encode gives back.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>

#include "repo/object_codec.h"
#include "repo/storage_driver.h"

namespace plugins_test {

// Appends what is written to `*out` (not owned; must outlive the writer).
class StringWriter final : public repo::ObjectWriter {
 public:
  explicit StringWriter(std::string* out) : out_(out) {}
  void Append(const void* data, size_t len) override {
    out_->append(static_cast<const char*>(data), len);
  }
  void Commit(const std::string&) override {}

 private:
  std::string* out_;
};

// Hands out at most `chunk` bytes per Read, like a file or a network stream.
class StringReader final : public repo::ObjectReader {
 public:
  StringReader(std::string data, size_t chunk) : data_(std::move(data)), chunk_(chunk) {}
  size_t Read(void* buf, size_t len) override {
    const size_t n = std::min({len, chunk_, data_.size() - pos_});
    std::memcpy(buf, data_.data() + pos_, n);
    pos_ += n;
    return n;
  }
  uint64_t size() const override { return data_.size(); }

 private:
  std::string data_;
  size_t chunk_;
  size_t pos_ = 0;
};

// A stored frame and what its encoder reported.
struct Encoded {
  std::string frame;
  repo::EncodedObject info;
};

}  // namespace plugins_test
