// Committer: makes finished objects durable on a thread of its own, so the
// workers that encoded them go on compressing meanwhile.
//
// Why: on a local disk a commit is an fdatasync, a rename and a directory
// fsync, ~10 ms per object in which the worker would sit idle: a sixth of a
// full backup's worker time (1 GiB dataset, 2 cores, measured per piece).
// Only drivers whose commit waits on the storage use it
// (StorageDriver::CommitWaitsOnStorage); an S3 commit is the upload itself,
// which the workers already run side by side.
//
// Ownership: Submit takes the writer. `capacity` threads commit, and at
// most `capacity` objects wait or commit at a time (each an open temporary
// file); Submit blocks while that many do. Commits run side by side, as
// they did on the workers, so two objects finished together wait for the
// disk once, not one after the other.
//
// Errors: the first commit that throws is kept. Submit rethrows it, which
// stops the worker that would add more, and Finish rethrows it after every
// other submitted object is settled. Objects submitted after a failure are
// dropped, not committed. Destroying a Committer without Finish (the backup
// failed elsewhere) drops the writers not yet committed, which discards their
// temporary data; what was committed stays, unreferenced, for retention.
//
// Thread-safety: Submit from any number of threads; Finish from one.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "repo/storage_driver.h"

namespace repo {

class Committer {
 public:
  explicit Committer(size_t capacity);
  ~Committer();
  Committer(const Committer&) = delete;
  Committer& operator=(const Committer&) = delete;

  // Queues `writer` to be committed under `key`. Returns false, dropping the
  // writer, when an object of that key is queued already: keys name content,
  // so it holds the same bytes.
  bool Submit(std::unique_ptr<ObjectWriter> writer, const std::string& key);
  // Waits until every submitted object is committed; throws the first failure.
  void Finish();

 private:
  void Run();
  void Stop();  // drops what is queued, waits for the commits under way

  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable queued_;   // the thread: work or stop
  std::condition_variable settled_;  // Submit and Finish: room or done
  std::deque<std::pair<std::unique_ptr<ObjectWriter>, std::string>> queue_;
  std::set<std::string> keys_;  // queued or committing
  std::exception_ptr failure_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: start once the rest is built
};

}  // namespace repo
