// Storing a byte range of a host file as one chunk, and checking that a
// live file still begins with what a stored version holds: the two steps
// every writer of the repository shares (backups and the archive).
//
// Errors: throws bkp::Error (the read function's, the driver's, or
// BKP_E_CANCELLED from `stop`).
// Thread-safety: StoreChunk may run on several threads at once with its own
// buffer each; the ChunkSink it reports to must be thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <string>

#include "repo/committer.h"
#include "repo/manifest.h"
#include "repo/object_codec.h"
#include "repo/rate_limiter.h"
#include "repo/storage_driver.h"
#include "repo/xxhash_dispatch.h"

namespace repo {

// The largest piece of a file stored as one chunk (one object); backups
// and the archive cut files into pieces of at most this.
inline constexpr uint64_t kMaxChunkBytes = 64ull << 20;

// Reads exactly `len` bytes of the file at `offset` into `buf`, or throws
// (a short read is an error: the host listed that many bytes).
using ReadAt = std::function<void(uint64_t offset, void* buf, size_t len)>;

// Where StoreChunk reports as it goes.
struct ChunkSink {
  StorageDriver& driver;
  RateLimiter& limiter;
  std::function<void()> check_stop;             // throws to stop (cancellation, failure)
  std::function<void(uint64_t bytes)> on_read;  // progress; may be empty
  std::atomic<uint64_t>& bytes_new;             // stored bytes added to the repository
  // Commits in the background when set; else each object commits on the
  // calling thread. Either way the object is durable once the caller has
  // finished the committer.
  Committer* committer = nullptr;
  // Keys of objects known damaged but still stored (a pending quarantine
  // record, quarantine.h): never reused; a chunk of those very bytes is
  // written again over them (content-addressed: the right bytes for that
  // name). May be null.
  const std::set<std::string>* damaged = nullptr;
  // How new objects are compressed (the provider's `compression` setting).
  // Reused objects keep the codec they were stored with.
  Compression compression{};
};

// The key of the object named `content_name` (StorageDriver::ContentName:
// the XXH128 of its original bytes, 32 hex digits as `xxhsum -H2` prints
// it, unless encrypted) as a frame of `codec`: objects/<first two>/<all>.lz4
// (or .zst).
std::string ObjectKeyOf(const std::string& content_name, Codec codec);
// The key `driver` stores bytes of this XXH128 under: ObjectKeyOf its
// ContentName (the digest itself, or a keyed hash of it when encrypted).
std::string ObjectKeyOf(const StorageDriver& driver, XXH128_hash_t hash, Codec codec);

// A read buffer for StoreChunk, one block (kBlockBytes) long. Not zero-filled: fresh
// pages cost a fault each on these machines, and only what a read touches
// needs one (a second backup reads a few KiB of most files).
inline std::unique_ptr<char[]> NewReadBuffer() {
  return std::make_unique_for_overwrite<char[]>(kBlockBytes);
}

// Reads [offset, offset + size) and stores it as one frame of the sink's
// codec, named by
// content (an identical object already there is reused, not written again,
// unless the sink knows it damaged: then it is replaced).
// When the frame could be larger than the driver takes unnamed
// (StorageDriver::MaxUnnamedObjectSize, e.g. one S3 part), a first pass
// only hashes the bytes to learn the key: an object stored already then
// costs one Stat, else a second pass compresses it into CreateAt(key). Both
// passes read through the rate limiter; progress counts the bytes once.
// `buf` is the caller's read buffer (its size is the read size).
Chunk StoreChunk(ChunkSink& sink, const ReadAt& read, uint64_t offset, uint64_t size,
                 std::span<char> buf);

// Whether the live file (of `size` bytes, read through `read`) still begins
// with the bytes `stored` holds: the last few KiB of that prefix must match
// the tail checksum of its last chunk. Reads at most 4 KiB.
bool StillBeginsWith(const ReadAt& read, uint64_t size, const FileEntry& stored);

}  // namespace repo
