// The S3 writer and reader (see s3_objects.h).
#include "repo/s3/s3_objects.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace repo::s3 {
namespace {

// The range one GET fetches; a reader holds its depth plus one of these.
constexpr uint64_t kReadRange = 4ull << 20;

}  // namespace

S3Writer::S3Writer(S3Client& client, PartBudget& budget, std::string key)
    : client_(client),
      budget_(budget),
      part_size_(client.config().part_size),
      key_(std::move(key)) {}

S3Writer::~S3Writer() {
  for (auto& part : parts_) {
    if (part.valid()) part.wait();
  }
  if (!committed_ && !upload_id_.empty()) client_.AbortUpload(key_, upload_id_);
  ReleaseSlot();
}

void S3Writer::ReleaseSlot() {
  if (!holding_slot_) return;
  holding_slot_ = false;
  budget_.release();
}

void S3Writer::Append(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    if (buffer_.size() == part_size_) SendPart();
    if (!holding_slot_) {
      budget_.acquire();
      holding_slot_ = true;
      buffer_.reserve(part_size_);
    }
    const size_t n = static_cast<size_t>(std::min<uint64_t>(len, part_size_ - buffer_.size()));
    buffer_.append(p, n);
    p += n;
    len -= n;
    size_ += n;
  }
}

void S3Writer::SendPart() {
  if (key_.empty()) {
    throw bkp::Error(BKP_E_INTERNAL,
                     "an S3 object written without its key outgrew one part (" +
                         std::to_string(part_size_) +
                         " bytes): the engine must name such objects first (CreateAt)");
  }
  CollectParts(/*wait=*/false);  // a part that failed fails the object now, not at Commit
  if (parts_.size() >= kS3MaxParts) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT, "'" + key_ + "' needs more than " +
                                                 std::to_string(kS3MaxParts) + " parts of " +
                                                 std::to_string(part_size_) +
                                                 " bytes: raise setting 'part_size'");
  }
  if (upload_id_.empty()) upload_id_ = client_.CreateUpload(key_);
  const uint32_t number = static_cast<uint32_t>(parts_.size() + 1);
  // The upload thread owns the buffer and its budget slot from here.
  holding_slot_ = false;
  parts_.push_back(std::async(
      std::launch::async,
      [this, number](std::string part) {
        struct Release {
          PartBudget& budget;
          ~Release() { budget.release(); }
        } release{budget_};
        return client_.UploadPart(key_, upload_id_, number, part);
      },
      std::move(buffer_)));
  etags_.emplace_back();
  buffer_ = std::string();
}

void S3Writer::CollectParts(bool wait) {
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (!parts_[i].valid()) continue;  // collected already
    if (wait || parts_[i].wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      etags_[i] = parts_[i].get();
    }
  }
}

void S3Writer::Commit(const std::string& key) {
  if (!key_.empty() && key != key_) {
    throw bkp::Error(BKP_E_INTERNAL,
                     "S3 object created for '" + key_ + "' committed as '" + key + "'");
  }
  // Parts still uploading read key_ on their threads (a multipart upload
  // exists only once key_ is set): assign it only while it is empty, never
  // rewrite it under them (ThreadSanitizer saw that race).
  if (key_.empty()) key_ = key;
  if (upload_id_.empty()) {
    client_.Put(key_, buffer_);
  } else {
    if (!buffer_.empty()) SendPart();
    CollectParts(/*wait=*/true);
    client_.CompleteUpload(key_, upload_id_, etags_, size_);
  }
  committed_ = true;
  buffer_ = std::string();
  ReleaseSlot();
}

S3Reader::S3Reader(S3Client& client, std::string key, uint64_t size, uint32_t depth)
    : client_(client), key_(std::move(key)), size_(size), depth_(std::max<uint32_t>(depth, 1)) {
  FetchAhead(1);
}

S3Reader::~S3Reader() {
  for (auto& range : ahead_) range.wait();
}

void S3Reader::FetchAhead(size_t limit) {
  while (ahead_.size() < limit && next_offset_ < size_) {
    const uint64_t offset = next_offset_;
    const uint64_t len = std::min(kReadRange, size_ - offset);
    next_offset_ = offset + len;
    ahead_.push_back(std::async(std::launch::async, [this, offset, len] {
      std::string range(len, '\0');
      client_.GetRange(key_, offset, range.data(), range.size());
      return range;
    }));
  }
}

size_t S3Reader::Read(void* buf, size_t len) {
  if (pos_ == window_.size()) {
    if (ahead_.empty()) return 0;
    // Out of the queue before get(), which may throw: the destructor waits
    // on what is left there.
    std::future<std::string> next = std::move(ahead_.front());
    ahead_.pop_front();
    window_ = next.get();
    pos_ = 0;
    FetchAhead(depth_);
  }
  const size_t n = std::min(len, window_.size() - pos_);
  std::memcpy(buf, window_.data() + pos_, n);
  pos_ += n;
  return n;
}

}  // namespace repo::s3
