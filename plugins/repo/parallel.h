// ParallelFor: runs fn(index, worker) for every index of [0, n) on up to
// `workers` threads (the calling thread is one of them), each taking the
// next index as it finishes one. The first exception wins: it sets failed()
// so long-running calls can stop early, the other threads stop taking new
// indexes, and Run rethrows it once every thread has joined.
//
// Thread-safety: one Run at a time per ParallelFor; failed() may be read
// from any thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace repo {

class ParallelFor {
 public:
  explicit ParallelFor(uint32_t workers) : workers_(std::max<uint32_t>(workers, 1)) {}

  uint32_t workers() const { return workers_; }
  bool failed() const { return failed_.load(std::memory_order_relaxed); }

  void Run(size_t n, const std::function<void(size_t index, size_t worker)>& fn) {
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mu;
    auto work = [&](size_t worker) {
      for (size_t i; !failed() && (i = next.fetch_add(1)) < n;) {
        try {
          fn(i, worker);
        } catch (...) {
          std::lock_guard lock(failure_mu);
          if (!failure) failure = std::current_exception();
          failed_ = true;
        }
      }
    };
    const size_t threads = std::min<size_t>(workers_, n);
    std::vector<std::thread> pool;
    for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
    work(0);
    for (auto& t : pool) t.join();
    if (failure) std::rethrow_exception(failure);
  }

 private:
  const uint32_t workers_;
  std::atomic<bool> failed_{false};
};

}  // namespace repo
