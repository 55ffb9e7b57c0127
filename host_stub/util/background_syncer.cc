// A thread that fdatasyncs files in turn (see background_syncer.h).
#include "util/background_syncer.h"

#include <utility>

namespace hoststub {

BackgroundSyncer::~BackgroundSyncer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BackgroundSyncer::Add(std::unique_ptr<File> file) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(std::move(file));
    if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
  }
  changed_.notify_all();
}

Status BackgroundSyncer::Finish() {
  std::unique_lock lock(mu_);
  changed_.wait(lock, [&] { return queue_.empty() && !busy_; });
  return first_error_;
}

void BackgroundSyncer::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::unique_ptr<File> file = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Status st = file->Sync();
    file.reset();
    lock.lock();
    busy_ = false;
    if (!st.ok() && first_error_.ok()) first_error_ = std::move(st);
    changed_.notify_all();
  }
}

}  // namespace hoststub
