// The engine's side of drivers that need an object's key before its first
// byte (S3 multipart): a chunk that may outgrow what such a driver takes
// unnamed is hashed first, stored under its key through CreateAt, and not
// sent at all when the driver has it already; smaller chunks keep the
// single pass. MaxFrameSize, which decides between the two, must bound
// every frame the codec writes.
#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "plugins/plugins_test_util.h"
#include "repo/chunk_store.h"
#include "repo/object_codec.h"
#include "repo/posix/posix_driver.h"
#include "repo/rate_limiter.h"
#include "test_support.h"

using plugins_test::RandomBytes;

namespace {

// A posix repository that takes at most `limit` bytes unnamed, and records
// how objects were created.
class NamingDriver final : public repo::StorageDriver {
 public:
  NamingDriver(const std::filesystem::path& root, uint64_t limit) : inner_(root), limit_(limit) {}
  std::string Describe() const override { return inner_.Describe(); }
  std::unique_ptr<repo::ObjectWriter> Create() override {
    ++unnamed;
    return inner_.Create();
  }
  std::unique_ptr<repo::ObjectWriter> CreateAt(const std::string& key) override {
    named.push_back(key);
    return inner_.Create();
  }
  uint64_t MaxUnnamedObjectSize() const override { return limit_; }
  std::unique_ptr<repo::ObjectReader> Open(const std::string& key) override {
    return inner_.Open(key);
  }
  std::optional<uint64_t> Stat(const std::string& key) override { return inner_.Stat(key); }
  std::vector<repo::ObjectInfo> List(const std::string& prefix) override {
    return inner_.List(prefix);
  }
  void Remove(const std::vector<std::string>& keys) override { inner_.Remove(keys); }

  int unnamed = 0;
  std::vector<std::string> named;

 private:
  repo::PosixDriver inner_;
  uint64_t limit_;
};

class CountingWriter final : public repo::ObjectWriter {
 public:
  void Append(const void*, size_t len) override { bytes += len; }
  void Commit(const std::string&) override {}
  uint64_t bytes = 0;
};

repo::Chunk Store(NamingDriver& driver, const std::string& bytes, std::atomic<uint64_t>& added) {
  repo::RateLimiter limiter(0);
  repo::ChunkSink sink{driver, limiter, [] {}, nullptr, added};
  std::vector<char> buf(repo::kBlockBytes);
  const repo::ReadAt read = [&](uint64_t offset, void* out, size_t len) {
    std::memcpy(out, bytes.data() + offset, len);
  };
  return repo::StoreChunk(sink, read, 0, bytes.size(), buf);
}

std::string Decode(repo::StorageDriver& driver, const repo::Chunk& c) {
  std::string out;
  auto reader = driver.Open(c.object);
  repo::DecodeObject(*reader, c.object, c.size, c.xxh3,
                     [&](const char* data, size_t n) { out.append(data, n); });
  return out;
}

}  // namespace

TEST_CASE("repo: MaxFrameSize bounds the frame of any bytes, closely") {
  for (size_t size : {size_t{0}, size_t{1}, size_t{1000}, repo::kBlockBytes - 1, repo::kBlockBytes,
                      repo::kBlockBytes + 1, 5 * repo::kBlockBytes / 2}) {
    CAPTURE(size);
    const std::string bytes = RandomBytes(size, size + 1);  // incompressible: the worst case
    CountingWriter out;
    repo::FrameEncoder encoder(out, size);
    encoder.Update(bytes.data(), bytes.size());
    const auto encoded = encoder.Finish();
    CHECK(encoded.stored_size == out.bytes);
    CHECK(out.bytes <= repo::MaxFrameSize(size));
    CHECK(repo::MaxFrameSize(size) - out.bytes <= 32);
  }
}

TEST_CASE("repo: a chunk too large to go unnamed is hashed first and never sent twice") {
  testing_support::TempDir dir;
  NamingDriver driver(dir / "repo", 64 * 1024);
  std::atomic<uint64_t> added{0};

  const std::string large = RandomBytes(300 * 1024, 7);
  const repo::Chunk first = Store(driver, large, added);
  CHECK(driver.unnamed == 0);
  REQUIRE(driver.named == std::vector<std::string>{first.object});
  CHECK(Decode(driver, first) == large);
  CHECK(first.stored_size == *driver.Stat(first.object));
  CHECK(added == first.stored_size);

  // Stored already (a resumed backup): one Stat, no writer at all.
  const repo::Chunk again = Store(driver, large, added);
  CHECK(driver.named.size() == 1);
  CHECK(driver.unnamed == 0);
  CHECK(again.object == first.object);
  CHECK(again.xxh3 == first.xxh3);
  CHECK(again.tail_xxh3 == first.tail_xxh3);
  CHECK(again.stored_size == first.stored_size);
  CHECK(added == first.stored_size);

  // A chunk that fits unnamed keeps the single pass.
  const std::string small = RandomBytes(10 * 1024, 8);
  const repo::Chunk c = Store(driver, small, added);
  CHECK(driver.unnamed == 1);
  CHECK(driver.named.size() == 1);
  CHECK(Decode(driver, c) == small);
}
