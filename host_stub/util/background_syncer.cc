// Threads that fdatasync files, a bounded number at a time (see
// background_syncer.h).
#include "util/background_syncer.h"

#include <algorithm>
#include <utility>

namespace hoststub {

BackgroundSyncer::BackgroundSyncer(size_t threads, size_t max_waiting)
    : threads_wanted_(std::max<size_t>(threads, 1)),
      max_waiting_(std::max<size_t>(max_waiting, 1)) {}

BackgroundSyncer::~BackgroundSyncer() { Abandon(); }

void BackgroundSyncer::Abandon() {
  std::deque<std::unique_ptr<File>> unsynced;
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    unsynced.swap(queue_);
  }
  work_.notify_all();
  settled_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

Status BackgroundSyncer::Add(std::unique_ptr<File> file) {
  {
    std::unique_lock lock(mu_);
    settled_.wait(lock,
                  [&] { return queue_.size() < max_waiting_ || !first_error_.ok() || stopping_; });
    if (stopping_) return Status::Cancelled("the syncer was abandoned");
    if (!first_error_.ok()) {
      Status failure = first_error_;
      lock.unlock();
      file.reset();  // closed outside the lock
      return failure;
    }
    queue_.push_back(std::move(file));
    if (threads_.size() < threads_wanted_ && threads_.size() < queue_.size() + busy_) {
      threads_.emplace_back([this] { Run(); });
    }
  }
  work_.notify_one();
  return Status::OK();
}

Status BackgroundSyncer::Finish() {
  std::unique_lock lock(mu_);
  settled_.wait(lock, [&] { return queue_.empty() && busy_ == 0; });
  return first_error_;
}

void BackgroundSyncer::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    work_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::unique_ptr<File> file = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    const bool failed = !first_error_.ok();
    // Room in the queue: the owner may add the next file while this syncs.
    settled_.notify_all();
    lock.unlock();
    // After a failure the restore is lost: close the rest without waiting.
    Status st = failed ? Status::OK() : file->Sync();
    file.reset();
    lock.lock();
    --busy_;
    if (!st.ok() && first_error_.ok()) first_error_ = std::move(st);
    settled_.notify_all();
  }
}

}  // namespace hoststub
