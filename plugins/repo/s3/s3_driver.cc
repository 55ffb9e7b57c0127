// The S3 storage driver (see s3_driver.h).
#include "repo/s3/s3_driver.h"

#include <algorithm>
#include <chrono>
#include <system_error>

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

std::unique_ptr<ObjectReader> S3Driver::OpenNow(const std::string& key) {
  const auto size = client_.Head(CheckKey(key));
  if (!size) throw bkp::Error(BKP_E_NOT_FOUND, "no object '" + key + "' in " + Describe());
  return std::make_unique<S3Reader>(client_, key, *size, client_.config().parallel_parts);
}

std::unique_ptr<ObjectReader> S3Driver::Open(const std::string& key) {
  PendingReader pending;
  {
    std::lock_guard lock(prefetch_mu_);
    auto it = std::find_if(prefetched_.begin(), prefetched_.end(),
                           [&](const auto& p) { return p.first == key; });
    if (it != prefetched_.end()) {
      pending = std::move(it->second);
      prefetched_.erase(it);
    }
  }
  // A prefetch's failure (a missing object, an unreachable server) is
  // rethrown here, where the caller asked for the object.
  return pending.valid() ? pending.get() : OpenNow(key);
}

void S3Driver::Prefetch(const std::string& key) {
  PendingReader dropped;  // waited for outside the lock, by its destructor
  std::lock_guard lock(prefetch_mu_);
  for (const auto& p : prefetched_) {
    if (p.first == key) return;
  }
  if (prefetched_.size() == kPrefetched) {
    dropped = std::move(prefetched_.front().second);
    prefetched_.pop_front();
  }
  try {
    prefetched_.emplace_back(key,
                             std::async(std::launch::async, [this, key] { return OpenNow(key); }));
  } catch (const std::system_error&) {
    // No thread to spare: a hint may be ignored; Open fetches it then.
  }
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
