// The S3 storage driver (see s3_driver.h).
#include "repo/s3/s3_driver.h"

#include <chrono>

namespace repo::s3 {
namespace {

// Keys come from the engine, but a manifest is data read back from the
// bucket: never let one reach outside the prefix (libcurl would resolve
// "." and ".." segments of a URL path).
const std::string& CheckKey(const std::string& key) {
  bool bad = key.empty() || key.front() == '/';
  size_t from = 0;
  while (!bad && from <= key.size()) {
    const size_t slash = std::min(key.find('/', from), key.size());
    const std::string_view segment(key.data() + from, slash - from);
    bad = segment == "." || segment == ".." || (segment.empty() && slash != key.size());
    from = slash + 1;
  }
  if (bad) {
    throw bkp::Error(BKP_E_CORRUPT, "object key '" + key + "' is not a plain relative path");
  }
  return key;
}

}  // namespace

S3Driver::S3Driver(S3Config config)
    : client_(std::move(config)), budget_(client_.config().parallel_parts) {}

std::string S3Driver::Describe() const { return client_.Describe(); }

std::unique_ptr<ObjectWriter> S3Driver::Create() {
  return std::make_unique<S3Writer>(client_, budget_, "");
}

std::unique_ptr<ObjectWriter> S3Driver::CreateAt(const std::string& key) {
  return std::make_unique<S3Writer>(client_, budget_, CheckKey(key));
}

std::unique_ptr<ObjectReader> S3Driver::Open(const std::string& key) {
  const auto size = client_.Head(CheckKey(key));
  if (!size) throw bkp::Error(BKP_E_NOT_FOUND, "no object '" + key + "' in " + Describe());
  return std::make_unique<S3Reader>(client_, key, *size);
}

std::optional<uint64_t> S3Driver::Stat(const std::string& key) {
  return client_.Head(CheckKey(key));
}

std::vector<ObjectInfo> S3Driver::List(const std::string& prefix) { return client_.List(prefix); }

void S3Driver::Remove(const std::vector<std::string>& keys) {
  for (const auto& key : keys) CheckKey(key);
  client_.Delete(keys);
}

uint64_t S3Driver::RemoveAbandonedWrites(std::chrono::seconds idle) {
  const auto uploads = client_.ListUploads();
  if (!uploads) return 0;
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t cutoff =
      now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(idle).count();
  uint64_t removed = 0;
  for (const auto& u : *uploads) {
    if (u.initiated_ms > cutoff) continue;
    if (client_.AbortUpload(u.key, u.upload_id)) ++removed;
  }
  return removed;
}

}  // namespace repo::s3
