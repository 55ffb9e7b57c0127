// Repository locks: small objects under locks/ in the repository itself,
// through the StorageDriver, so they work on a shared disk and on S3 alike
// (restic's locks/ is the model; docs/repository-format.md has the JSON).
//
//   shared     backup, verify, restore, archive: they read objects, or store
//              objects that no record references until they publish one;
//   exclusive  delete, expire, garbage collection: they delete objects;
//              and verify, beside its shared lock, only while it sets
//              damaged objects aside (moves them), which it defers when
//              that lock is refused: a backup running elsewhere may be
//              about to reference exactly those objects.
//
// A shared lock conflicts with an exclusive one, an exclusive lock with any.
// Taking a lock: list locks/ and refuse on a conflict; write ours; list
// again and, on a conflict that appeared meanwhile, remove ours and refuse
// (check after create: of two racing takers at least one sees the other).
// Locks of the same Repository object never conflict with each other: one
// provider instance orders its own operations (Repository::PublishLock).
//
// A held lock is rewritten every `refresh` by a thread of its own. A lock is
// STALE when its holder is on this host and its process is gone, or when it
// was not refreshed for `stale`. A stale lock still blocks (its holder may be
// alive but cut off); the refusal says so, and InspectLocks (`hostd
// backup unlock`) removes it. A holder that could not refresh for `stale`,
// or whose lock object was removed, has lost its lock: CheckHeld throws,
// and a backup then publishes nothing.
//
// Clocks: since and refreshed are the holder's clock; staleness compares
// them with the reader's, so hosts sharing a repository must agree on the
// time to well within `stale`.
//
// Errors: throws bkp::Error: BKP_E_BUSY naming the holder, when it began,
// when it was last refreshed and what to do; driver errors as they come.
// Thread-safety: RepositoryLock is used by the thread that took it (its
// refresher is internal); the free functions are safe to call concurrently.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "repo/storage_driver.h"

namespace repo {

struct LockTimings {
  // How often a held lock is rewritten. Default 60 s.
  std::chrono::milliseconds refresh{60'000};
  // A lock not rewritten for this long is stale. Default 5 min.
  std::chrono::milliseconds stale{300'000};

  // The defaults, or, for tests only, BKP_TEST_LOCK_REFRESH_MS and
  // BKP_TEST_LOCK_STALE_MS from the environment.
  static LockTimings FromEnvironment();
};

// One lock object as read back.
struct LockRecord {
  std::string key;  // locks/<id>.json
  std::string id;
  bool exclusive = false;
  std::string operation;  // "backup", "delete", ...
  std::string host;       // the holder's hostname
  int64_t pid = 0;
  std::string owner;  // the holding Repository object, random
  int64_t since_ms = 0;
  int64_t refreshed_ms = 0;
  // Set when the object could not be read or decoded; the fields above
  // are then empty but for key.
  std::string unreadable;
  int64_t modified_ms = 0;  // the object's own time (ObjectInfo)
};

// Why `lock` is stale at `now_ms` ("its process is gone", "not refreshed
// for 6 min"), or "" when it is live.
std::string StaleReason(const LockRecord& lock, int64_t now_ms, const LockTimings& timings);

// Every lock object of the repository, in key order.
std::vector<LockRecord> ListLocks(StorageDriver& driver);

// One line for messages: "backup on host 'h' (pid 12) since <UTC>,
// refreshed 3 s ago".
std::string DescribeLock(const LockRecord& lock, int64_t now_ms);

// A lock, why it is stale ("" when live), and whether it was removed.
struct LockStatus {
  LockRecord lock;
  std::string stale;
  bool removed = false;
};

// Every lock with its staleness, in key order; with `remove_stale`, each
// stale one is removed (`hostd backup unlock`), never a live one.
std::vector<LockStatus> InspectLocks(StorageDriver& driver, const LockTimings& timings,
                                     bool remove_stale);

class RepositoryLock {
 public:
  enum class Mode { kShared, kExclusive };

  // Takes the lock for `operation` as `owner` (see Repository::lock_owner).
  // `unlock_hint` is appended to a refusal naming a stale lock: the command
  // that removes it. Throws BKP_E_BUSY on a conflict.
  RepositoryLock(StorageDriver& driver, Mode mode, std::string operation, std::string owner,
                 LockTimings timings, std::string unlock_hint);
  // Stops the refresher and removes the lock object (a failure to remove is
  // ignored: the lock then turns stale).
  ~RepositoryLock();
  RepositoryLock(const RepositoryLock&) = delete;
  RepositoryLock& operator=(const RepositoryLock&) = delete;

  // Throws BKP_E_BUSY when the lock was lost (see the introduction), so
  // nothing is published that an exclusive operation may have undercut.
  void CheckHeld();

  const std::string& key() const { return record_.key; }

 private:
  void Write();
  void Refresh();
  void ThrowOnConflict(bool created);

  StorageDriver& driver_;
  LockRecord record_;
  const LockTimings timings_;
  const std::string unlock_hint_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  int64_t last_refresh_ok_ms_ = 0;  // under mu_
  std::string lost_;                // under mu_: why the lock is lost
  std::thread refresher_;
};

}  // namespace repo
