// Background group commits (see committer.h).
#include "repo/committer.h"

#include <algorithm>

namespace repo {

Committer::Committer(size_t threads, size_t capacity, BatchCommit commit)
    : threads_count_(std::max<size_t>(threads, 1)),
      capacity_(std::max(capacity, threads_count_)),
      commit_(std::move(commit)) {
  try {
    for (size_t i = 0; i < threads_count_; ++i) threads_.emplace_back([this] { Run(); });
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
  queue_.push_back({std::move(writer), key});
  queued_.notify_one();
  return true;
}

void Committer::Finish() {
  std::unique_lock lock(mu_);
  settled_.wait(lock, [&] { return keys_.empty(); });
  if (failure_) std::rethrow_exception(failure_);
}

void Committer::Run() {
  // A thread takes at most its share of the capacity, so the others find
  // work too while its batch waits on the disk.
  const size_t most = std::max<size_t>(capacity_ / threads_count_, 1);
  std::unique_lock lock(mu_);
  while (true) {
    queued_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    std::vector<PendingObject> batch;
    while (!queue_.empty() && batch.size() < most) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    const bool commit = !failure_;
    lock.unlock();
    if (commit) {
      try {
        if (commit_) {
          commit_(batch);
        } else {
          for (auto& pending : batch) pending.writer->Commit(pending.key);
        }
      } catch (...) {
        std::lock_guard failed(mu_);
        if (!failure_) failure_ = std::current_exception();
      }
    }
    std::vector<std::string> keys;
    for (auto& pending : batch) keys.push_back(std::move(pending.key));
    batch.clear();  // closes the files, or discards them, outside the lock
    lock.lock();
    for (const auto& key : keys) keys_.erase(key);
    settled_.notify_all();
  }
  // Abandoned: the queued writers go uncommitted, their data discarded.
  queue_.clear();
}

}  // namespace repo
