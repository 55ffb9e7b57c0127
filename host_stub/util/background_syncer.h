// BackgroundSyncer: makes files durable (fdatasync) on threads of its own,
// so that whoever writes them can go on with the next file while the disk
// catches up.
//
// Why: a restore writes a whole data directory and must have it on disk
// before it is used. Syncing it all at the end waited for most of it (the
// first fsync after 1 GiB of writes took 0.5 s on our machines); syncing
// each file as soon as it is whole overlaps that wait with feeding the rest.
//
// Why each file is synced before it is closed, a few at a time, rather than
// closed at once and synced later: a bounded number of descriptors (a
// restore of 28 000 small segments once queued them all and ran out, issue
// 23). Reopening a closed file to fdatasync it can miss a write-back error
// that happened meanwhile (the kernel forgets it with the inode), and
// syncfs(2) flushes the whole file system, so its time depends on what
// other processes left dirty there (0.16 s to 3.4 s for the same 2 000 small
// files on a shared disk) and before Linux 5.8 it reports no write-back
// error at all. Several syncs run side by side because the file system
// commits them together: its journal waits for the disk once for a batch.
//
// Ownership: owns the files handed to it until they are synced and closed.
// At most `threads` files are being synced and at most `max_waiting` wait,
// so the syncer holds at most threads + max_waiting descriptors whatever
// the number of files: Add blocks while the queue is full.
// Errors: the first failing sync is kept, naming its file; Add and Finish
// return it, and files added after it are closed unsynced.
// Thread-safety: Add and Finish are for one thread (the owner); the work
// runs on the syncer's threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "util/file.h"
#include "util/status.h"

namespace hoststub {

class BackgroundSyncer {
 public:
  static constexpr size_t kDefaultThreads = 4;
  static constexpr size_t kDefaultMaxWaiting = 16;

  explicit BackgroundSyncer(size_t threads = kDefaultThreads,
                            size_t max_waiting = kDefaultMaxWaiting);
  // Abandon, if not done already.
  ~BackgroundSyncer();
  BackgroundSyncer(const BackgroundSyncer&) = delete;
  BackgroundSyncer& operator=(const BackgroundSyncer&) = delete;

  // Queues `file` to be synced and closed, waiting while `max_waiting`
  // files wait already. Starts the threads on first use. Returns the first
  // failure so far (then `file` is closed unsynced: the restore is lost
  // anyway), else OK.
  Status Add(std::unique_ptr<File> file);
  // Waits until every file added is synced and closed; the first failure,
  // naming its file, or OK. The syncer can take more files afterwards.
  Status Finish();
  // Stops after the files in progress and closes those not yet synced as
  // they are (an abandoned restore does not need them); returns once every
  // descriptor is closed, so that the owner can remove the files. Takes no
  // files afterwards (Add returns Cancelled).
  void Abandon();

 private:
  void Run();

  const size_t threads_wanted_;
  const size_t max_waiting_;
  std::mutex mu_;
  std::condition_variable work_;     // the threads: a file or stop
  std::condition_variable settled_;  // Add and Finish: room, or all done
  std::deque<std::unique_ptr<File>> queue_;
  size_t busy_ = 0;  // files the threads hold, syncing
  bool stopping_ = false;
  Status first_error_;
  std::vector<std::thread> threads_;
};

}  // namespace hoststub
