// The repository's object writer with the storage taken away: counts the
// bytes it is given and discards them. For benchmarks that measure the
// codec alone.
#pragma once

#include <cstdint>
#include <string>

#include "repo/storage_driver.h"

namespace bench {

class DiscardingWriter : public repo::ObjectWriter {
 public:
  void Append(const void*, size_t len) override { bytes_ += len; }
  void Commit(const std::string&) override {}
  uint64_t bytes() const { return bytes_; }

 private:
  uint64_t bytes_ = 0;
};

}  // namespace bench
