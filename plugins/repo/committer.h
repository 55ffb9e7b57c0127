// Committer: makes finished objects durable on threads of its own, so the
// workers that encoded them go on compressing meanwhile, and commits them in
// batches (group commit), so many small objects share each wait on the disk.
//
// Why: on a local disk a commit is an fdatasync, a rename and a directory
// fsync, ~10 ms per object in which the worker would sit idle: a sixth of a
// full backup's worker time (1 GiB dataset, 2 cores, measured per piece).
// A backup of many small files is made of those waits: 6 000 objects of
// 8 KiB took 9.2 s, 5 s more than with the syncs left out. Committed one
// by one, each object waits for a journal commit of its own; a batch
// handed to StorageDriver::CommitBatch waits for a couple in all.
// Only drivers whose commit waits on the storage use it
// (StorageDriver::CommitWaitsOnStorage); an S3 commit is the upload itself,
// which the workers already run side by side.
//
// Ownership: Submit takes the writer. `threads` threads commit, each taking
// whatever waits (up to a fair share of `capacity`) as one batch; at most
// `capacity` objects wait or commit at a time (each an open temporary
// file); Submit blocks while that many do. While one batch waits on the
// disk the next one gathers.
//
// Durability: an object is durable once the batch holding it is committed;
// Finish returns only when every submitted object is, so whatever the
// caller writes after Finish (the manifest) never names an object a crash
// could lose.
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
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "repo/storage_driver.h"

namespace repo {

class Committer {
 public:
  // Commits a batch (StorageDriver::CommitBatch's contract).
  using BatchCommit = std::function<void(std::vector<PendingObject>&)>;

  // `commit` is usually the driver's CommitBatch; empty commits each writer
  // by itself. `capacity` is raised to `threads` if below it.
  Committer(size_t threads, size_t capacity, BatchCommit commit = {});
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

  const size_t threads_count_;
  const size_t capacity_;
  const BatchCommit commit_;
  std::mutex mu_;
  std::condition_variable queued_;   // the threads: work or stop
  std::condition_variable settled_;  // Submit and Finish: room or done
  std::deque<PendingObject> queue_;
  std::set<std::string> keys_;  // queued or committing
  std::exception_ptr failure_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: start once the rest is built
};

}  // namespace repo
