// The S3 driver's writer and reader.
//
// S3Writer holds at most one part in memory while the bytes arrive. An
// object that fits in one part goes up in a single PUT at Commit; a larger
// one becomes a multipart upload whose parts go up on their own threads
// while the next part fills. Every part buffer, filling or in flight, holds
// a slot of the driver's PartBudget, so all writers together hold at most
// part_size x parallel_parts bytes. A multipart upload needs its key before
// its first part: a writer created without one (StorageDriver::Create)
// takes at most one part and refuses more (BKP_E_INTERNAL: the engine
// names such objects first, see StorageDriver::MaxUnnamedObjectSize).
//
// S3Reader streams an object in ranged GETs of 4 MiB with up to `depth`
// of them in flight while the caller consumes the current one: one GET at a
// time leaves a restore waiting on each round trip, and a server answers
// several at once about as fast as one. It starts with one range and widens
// to `depth` on its first Read, so a reader opened ahead of its turn (a
// prefetch) holds one range, not `depth`. A failed range is retried on its
// own (S3Client), so a connection reset mid-object costs one range, not the
// object.
//
// Errors: throw bkp::Error (S3Client's). A writer destroyed before Commit
// waits for its parts in flight and aborts its multipart upload.
// Thread-safety: one thread uses a writer or reader at a time; PartBudget
// is shared by every writer of a driver.
#pragma once

#include <cstdint>
#include <deque>
#include <future>
#include <semaphore>
#include <string>
#include <vector>

#include "repo/s3/s3_client.h"
#include "repo/storage_driver.h"

namespace repo::s3 {

// Slots for part buffers; at most 64 (parallel_parts' bound).
using PartBudget = std::counting_semaphore<64>;

class S3Writer final : public ObjectWriter {
 public:
  // `key` empty: not known until Commit (the object must fit one part).
  S3Writer(S3Client& client, PartBudget& budget, std::string key);
  ~S3Writer() override;
  S3Writer(const S3Writer&) = delete;
  S3Writer& operator=(const S3Writer&) = delete;

  void Append(const void* data, size_t len) override;
  void Commit(const std::string& key) override;

 private:
  void SendPart();  // hands the full buffer to an upload thread
  // Takes the ETags of the parts done (of all, waiting, when `wait`);
  // rethrows a part's failure.
  void CollectParts(bool wait);
  void ReleaseSlot();

  S3Client& client_;
  PartBudget& budget_;
  const uint64_t part_size_;
  std::string key_;
  std::string buffer_;
  bool holding_slot_ = false;
  std::string upload_id_;
  std::vector<std::future<std::string>> parts_;  // each part's ETag, in order
  std::vector<std::string> etags_;               // those collected so far
  uint64_t size_ = 0;
  bool committed_ = false;
};

class S3Reader final : public ObjectReader {
 public:
  // `depth`: ranges in flight once reading (at least 1).
  S3Reader(S3Client& client, std::string key, uint64_t size, uint32_t depth);
  ~S3Reader() override;
  S3Reader(const S3Reader&) = delete;
  S3Reader& operator=(const S3Reader&) = delete;

  size_t Read(void* buf, size_t len) override;
  uint64_t size() const override { return size_; }

 private:
  // Starts GETs of the next ranges until `limit` are in flight or the
  // object is all asked for.
  void FetchAhead(size_t limit);

  S3Client& client_;
  const std::string key_;
  const uint64_t size_;
  const size_t depth_;
  uint64_t next_offset_ = 0;  // of the first range not yet asked for
  std::string window_;
  size_t pos_ = 0;
  std::deque<std::future<std::string>> ahead_;  // in object order
};

}  // namespace repo::s3
