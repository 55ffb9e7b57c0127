// The archiver's bounded queue (see archive_queue.h).
#include "archive/archive_queue.h"

#include <algorithm>
#include <utility>

namespace hoststub {

ArchiveQueue::ArchiveQueue(size_t capacity) : capacity_(std::max<size_t>(1, capacity)) {}

bool ArchiveQueue::TryPush(Notice notice) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    if (notices_.size() >= capacity_) {
      overflowed_ = true;
      ++overflows_;
      return false;
    }
    notices_.push_back(std::move(notice));
  }
  changed_.notify_all();
  return true;
}

ArchiveQueue::Batch ArchiveQueue::Wait(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  changed_.wait_until(lock, deadline,
                      [this] { return closed_ || overflowed_ || !notices_.empty(); });
  Batch batch;
  batch.closed = closed_;
  batch.overflowed = std::exchange(overflowed_, false);
  batch.notices.assign(std::make_move_iterator(notices_.begin()),
                       std::make_move_iterator(notices_.end()));
  notices_.clear();
  return batch;
}

bool ArchiveQueue::WaitClosed(Clock::time_point deadline) {
  std::unique_lock lock(mu_);
  return changed_.wait_until(lock, deadline, [this] { return closed_; });
}

void ArchiveQueue::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  changed_.notify_all();
}

bool ArchiveQueue::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

size_t ArchiveQueue::depth() const {
  std::lock_guard lock(mu_);
  return notices_.size();
}

uint64_t ArchiveQueue::overflows() const {
  std::lock_guard lock(mu_);
  return overflows_;
}

}  // namespace hoststub
