// ArchiveQueue: the bounded hand-over between the write path and one
// SegmentArchiver. The storage engine announces each segment it closes
// (EventStore::OnSegmentClosed) on the appending thread; the announcement
// is pushed here without ever waiting for room, so a slow archive can never
// hold up an append. A notice that finds the queue full is dropped and
// counted, never lost in effect: the next Wait reports the overflow and the
// archiver rescans every stream's segments, which are the truth (the queue
// only tells it early, and when each segment closed).
//
// Thread-safety: every member may be called from any thread. TryPush holds
// the queue's mutex for a deque push and a notify; nothing else.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <vector>

#include "storage/event_store.h"

namespace hoststub {

class ArchiveQueue {
 public:
  using Notice = EventStore::ClosedSegment;
  using Clock = std::chrono::steady_clock;

  // `capacity` notices at most (at least 1).
  explicit ArchiveQueue(size_t capacity);
  ArchiveQueue(const ArchiveQueue&) = delete;
  ArchiveQueue& operator=(const ArchiveQueue&) = delete;

  // Queues `notice` and wakes the waiter. False when the queue is full (the
  // notice is dropped, counted in overflows() and reported by the next
  // Wait) or closed (dropped silently: the archiver is stopping).
  bool TryPush(Notice notice);

  struct Batch {
    std::vector<Notice> notices;  // in the order they were pushed
    bool overflowed = false;      // notices were dropped since the last Wait
    bool closed = false;          // Close() was called: stop
  };
  // Waits until a notice is queued, the queue is closed or `deadline`
  // passes, then takes every queued notice.
  Batch Wait(Clock::time_point deadline);

  // Waits until the queue is closed or `deadline` passes, leaving notices
  // queued (the archiver's back-off). True when closed.
  bool WaitClosed(Clock::time_point deadline);

  // Wakes every waiter; from now on Wait returns at once with closed set.
  void Close();
  bool closed() const;

  size_t capacity() const { return capacity_; }
  size_t depth() const;
  // Notices dropped for want of room since the queue was made.
  uint64_t overflows() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Notice> notices_;  // guarded by mu_
  bool overflowed_ = false;     // guarded by mu_: since the last Wait
  uint64_t overflows_ = 0;      // guarded by mu_
  bool closed_ = false;         // guarded by mu_
};

}  // namespace hoststub
