// BackgroundSyncer: makes files durable (fdatasync) one after another on a
// thread of its own, so that whoever writes them can go on with the next
// file while the disk catches up.
//
// Why: a restore writes a whole data directory and must have it on disk
// before it is used. Syncing it all at the end waited for most of it (the
// first fsync after 1 GiB of writes took 0.5 s on our machines); syncing
// each file as soon as it is whole overlaps that wait with feeding the rest.
//
// Ownership: owns the files handed to it until they are synced and closed.
// Thread-safety: Add and Finish are for one thread (the owner); the work
// runs on the syncer's thread.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

#include "util/file.h"
#include "util/status.h"

namespace hoststub {

class BackgroundSyncer {
 public:
  BackgroundSyncer() = default;
  // Stops after the file in progress; files not yet synced are closed as
  // they are (an abandoned restore does not need them).
  ~BackgroundSyncer();
  BackgroundSyncer(const BackgroundSyncer&) = delete;
  BackgroundSyncer& operator=(const BackgroundSyncer&) = delete;

  // Queues `file` to be synced and closed. Starts the thread on first use.
  void Add(std::unique_ptr<File> file);
  // Waits until every file added is synced; the first failure, naming its
  // file, or OK. The syncer can take more files afterwards.
  Status Finish();

 private:
  void Run();

  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::unique_ptr<File>> queue_;
  bool busy_ = false;  // the thread holds a file it is syncing
  bool stopping_ = false;
  Status first_error_;
  std::thread thread_;
};

}  // namespace hoststub
