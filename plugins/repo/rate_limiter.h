// RateLimiter: caps the bytes per second a backup reads, so that it need not
// starve the live host of disk bandwidth. Shared by the worker threads.
//
// Thread-safety: Acquire may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

namespace repo {

class RateLimiter {
 public:
  // 0 means unlimited.
  explicit RateLimiter(uint64_t bytes_per_second) : rate_(bytes_per_second) {}

  // Blocks until `bytes` may be read. Each caller reserves its slot on a
  // virtual timeline, so concurrent readers share the rate fairly; a short
  // idle period is allowed to be caught up as a burst of at most 100 ms.
  void Acquire(uint64_t bytes) {
    if (rate_ == 0) return;
    using Clock = std::chrono::steady_clock;
    Clock::time_point slot;
    {
      std::lock_guard lock(mu_);
      const auto now = Clock::now();
      const auto burst = std::chrono::milliseconds(100);
      if (next_ < now - burst) next_ = now - burst;
      next_ += std::chrono::duration_cast<Clock::duration>(
          std::chrono::duration<double>(static_cast<double>(bytes) / static_cast<double>(rate_)));
      slot = next_;
    }
    std::this_thread::sleep_until(slot);
  }

 private:
  const uint64_t rate_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point next_{};
};

}  // namespace repo
