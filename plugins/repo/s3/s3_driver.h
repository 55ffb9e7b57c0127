// S3Driver: a repository under a key prefix of an S3 bucket (AWS S3, MinIO,
// Ceph RGW, ...), behind the engine's StorageDriver interface. Keys map to
// "<prefix><key>"; nothing is visible under a key before its object is
// complete (a single PUT, or a multipart upload completed in one step), so
// a manifest PUT last is the whole commit of a backup.
//
// Existence (Stat) is one HEAD; the engine names a large chunk by its
// content before uploading it (MaxUnnamedObjectSize), so a backup resumed
// after an interruption sends nothing that is stored already.
//
// Errors: as S3Client (BKP_E_AUTH, BKP_E_NOT_FOUND for a missing bucket,
// BKP_E_UNREACHABLE, BKP_E_IO), plus BKP_E_CORRUPT for a key that is not a
// plain relative path. Memory: uploads hold at most part_size x
// parallel_parts; a reader parallel_parts + 1 ranges of 4 MiB, and each of
// the (at most two) objects prefetched one range.
// Thread-safety: as StorageDriver (every method may run concurrently).
#pragma once

#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include "repo/s3/s3_client.h"
#include "repo/s3/s3_objects.h"
#include "repo/storage_driver.h"

namespace repo::s3 {

class S3Driver final : public StorageDriver {
 public:
  explicit S3Driver(S3Config config);

  std::string Describe() const override;
  std::unique_ptr<ObjectWriter> Create() override;
  std::unique_ptr<ObjectWriter> CreateAt(const std::string& key) override;
  uint64_t MaxUnnamedObjectSize() const override { return client_.config().part_size; }
  std::unique_ptr<ObjectReader> Open(const std::string& key) override;
  // Starts the HEAD and the first range of `key` on a thread of their own;
  // the next Open of `key` takes that reader. A restore names the object
  // after the one it opens, so the round trips of the next object overlap
  // the decoding of this one. At most kPrefetched wait; an older one is
  // dropped (a later Open of it fetches anew).
  void Prefetch(const std::string& key) override;
  std::optional<uint64_t> Stat(const std::string& key) override;
  std::vector<ObjectInfo> List(const std::string& prefix) override;
  void Remove(const std::vector<std::string>& keys) override;
  // Aborts the multipart uploads under the prefix begun at least `idle`
  // ago. A server without ListMultipartUploads (s3rver) has none to list:
  // 0.
  uint64_t RemoveAbandonedWrites(std::chrono::seconds idle) override;

 private:
  using PendingReader = std::future<std::unique_ptr<ObjectReader>>;
  static constexpr size_t kPrefetched = 2;

  std::unique_ptr<ObjectReader> OpenNow(const std::string& key);

  S3Client client_;
  PartBudget budget_;
  std::mutex prefetch_mu_;
  std::deque<std::pair<std::string, PendingReader>> prefetched_;  // oldest first
};

}  // namespace repo::s3
