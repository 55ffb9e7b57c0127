// Background commits (see committer.h).
#include "repo/committer.h"

#include <algorithm>

namespace repo {

Committer::Committer(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {
  try {
    for (size_t i = 0; i < capacity_; ++i) threads_.emplace_back([this] { Run(); });
  } catch (...) {
    Stop();  // no destructor runs for a half-built object
    throw;
  }
}

Committer::~Committer() { Stop(); }

void Committer::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  queued_.notify_all();
  for (auto& t : threads_) t.join();
}

bool Committer::Submit(std::unique_ptr<ObjectWriter> writer, const std::string& key) {
  std::unique_lock lock(mu_);
  settled_.wait(lock, [&] { return failure_ || keys_.size() < capacity_; });
  if (failure_) std::rethrow_exception(failure_);
  if (!keys_.insert(key).second) return false;
  queue_.emplace_back(std::move(writer), key);
  queued_.notify_one();
  return true;
}

void Committer::Finish() {
  std::unique_lock lock(mu_);
  settled_.wait(lock, [&] { return keys_.empty(); });
  if (failure_) std::rethrow_exception(failure_);
}

void Committer::Run() {
  std::unique_lock lock(mu_);
  while (true) {
    queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    auto [writer, key] = std::move(queue_.front());
    queue_.pop_front();
    const bool commit = !failure_;
    lock.unlock();
    if (commit) {
      try {
        writer->Commit(key);
      } catch (...) {
        std::lock_guard failed(mu_);
        if (!failure_) failure_ = std::current_exception();
      }
    }
    writer.reset();  // closes the file, or discards it, outside the lock
    lock.lock();
    keys_.erase(key);
    settled_.notify_all();
  }
  // Abandoned: the queued writers go uncommitted, their data discarded.
  queue_.clear();
}

}  // namespace repo
