// S3Client: the S3 operations the driver needs, on keys of the repository
// (the configured prefix is added here), each retried on what a later try
// can fix — 5xx, 429 and SlowDown, request timeouts, refused or reset
// connections — with exponential backoff and full jitter, until the
// config's retry deadline. Everything else fails at once with a specific
// message naming the endpoint, the bucket and the key:
//   403 (InvalidAccessKeyId, SignatureDoesNotMatch, ...)  BKP_E_AUTH
//   NoSuchBucket                                         BKP_E_NOT_FOUND
//   endpoint unreachable past the deadline               BKP_E_UNREACHABLE
//   anything else                                        BKP_E_IO
// No message carries a secret (the config's Redact is applied to each).
//
// Thread-safety: every method may be called from any number of threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "repo/s3/s3_config.h"
#include "repo/s3/s3_http.h"
#include "repo/storage_driver.h"

namespace repo::s3 {

// A multipart upload the server holds (ListMultipartUploads).
struct PendingUpload {
  std::string key;  // repository key (prefix removed)
  std::string upload_id;
  int64_t initiated_ms = 0;
};

class S3Client {
 public:
  explicit S3Client(S3Config config);

  const S3Config& config() const { return config_; }
  std::string Describe() const { return config_.Describe(); }

  // PUT of a whole object.
  void Put(const std::string& key, std::string_view body);
  // HEAD: the object's size, or nullopt when there is none.
  std::optional<uint64_t> Head(const std::string& key);
  // GET of bytes [offset, offset + len) into `buf`; exactly len bytes or
  // an error (the caller knows the object's size).
  void GetRange(const std::string& key, uint64_t offset, char* buf, size_t len);
  // ListObjectsV2 of every key under `prefix`, all pages, in key order.
  std::vector<ObjectInfo> List(const std::string& prefix);
  // Batch delete, 1000 keys a request; absent keys are no error.
  void Delete(const std::vector<std::string>& keys);

  // Multipart upload.
  std::string CreateUpload(const std::string& key);
  // Returns the part's ETag.
  std::string UploadPart(const std::string& key, const std::string& upload_id, uint32_t number,
                         std::string_view body);
  // `etags` in part order (part i + 1 is etags[i]); `size` is the object's
  // total, used to recognise a completion whose answer was lost.
  void CompleteUpload(const std::string& key, const std::string& upload_id,
                      const std::vector<std::string>& etags, uint64_t size);
  // Best effort, no retry and no error: an upload left behind is collected
  // by the next RemoveAbandonedWrites. True when the server confirmed it.
  bool AbortUpload(const std::string& key, const std::string& upload_id) noexcept;
  // Every pending upload under the prefix, or nullopt when the server does
  // not implement ListMultipartUploads (some S3 look-alikes do not).
  std::optional<std::vector<PendingUpload>> ListUploads();

 private:
  struct Call;
  HttpResponse Perform(const Call& call);
  std::string FullKey(const std::string& key) const { return config_.prefix + key; }
  HttpRequest BucketRequest(const char* method, const Pairs& query = {}) const;
  HttpRequest ObjectRequest(const char* method, const std::string& key,
                            const Pairs& query = {}) const;
  void AddSse(HttpRequest* request) const;

  S3Config config_;
  HttpTransport http_;
};

}  // namespace repo::s3
