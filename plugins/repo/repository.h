// Repository: a backup repository on some StorageDriver, laid out as
//   format.json               what this is, and the format version
//   objects/<xx>/<xxh128>.lz4 stored files, by content, shared by backups
//   backups/<id>.json         one manifest per complete backup
//   locks/<id>.json           who works on the repository (repo_lock.h)
//   tmp/                      objects being written (driver-private)
// (docs/repository-format.md). It knows the format, manifests, and which
// stored bytes each backup alone holds. Deleting backups and collecting
// garbage is retention.h's, which sits above this and the archive.
//
// Across processes and hosts, callers take a RepositoryLock (Lock): shared
// to read or to store, exclusive for retention (retention.h) and for
// anything else that deletes or moves objects (verify's set-aside).
//
// Errors: throws bkp::Error.
// Thread-safety: none beyond the driver's; the host runs one operation at a
// time per provider instance.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "repo/manifest.h"
#include "repo/repo_lock.h"
#include "repo/storage_driver.h"

namespace repo {

// The newest repository format this engine reads. A repository is created
// at format 1 and marked 2 only once it holds a timeline above the first
// (timeline.h): a reader that knows no timelines would take the new
// timeline's archive records for strangers and collect their objects as
// garbage, so it must refuse such a repository, and may keep reading any
// other. An encrypted repository (encrypted_driver.h) is created at 3: a
// reader from before encryption would take its age files for damaged LZ4
// and JSON (and verify would quarantine every one), so it must refuse the
// repository up front; an unencrypted one stays at 1 or 2 for old readers.
// The number only grows: an encrypted repository with timelines stays 3.
inline constexpr int kRepositoryFormatVersion = 3;
inline constexpr int kRepositoryFormatCreated = 1;
inline constexpr int kRepositoryFormatTimelines = 2;
inline constexpr int kRepositoryFormatEncrypted = 3;

// A manifest that could not be read, and why.
struct BrokenManifest {
  std::string id;
  std::string error;
};

struct RepositoryOptions {
  // Timing of the locks this repository object takes and judges.
  LockTimings locks;
  // Garbage collection leaves an unreferenced object alone until it is
  // this old (by ObjectInfo::modified_ms; one of unknown age stays): belt
  // and braces beside the locks, for a writer that runs unlocked (an older
  // provider) or lost its lock. Default 1 h.
  std::chrono::milliseconds gc_grace{3'600'000};
  // Appended to a refusal naming a stale lock: how to remove it.
  std::string unlock_hint = "`hostd backup unlock`";
  // For an encrypted repository (encrypted_driver.h), what format.json
  // records: the scheme and a check value of the naming key. Both empty for
  // an unencrypted one. Opening refuses a repository that records other
  // values (encrypted or not, or another key): mixing is never silent.
  std::string encryption;
  std::string encryption_key_check;

  // The defaults, or, for tests only, BKP_TEST_GC_GRACE_MS and the
  // variables of LockTimings::FromEnvironment.
  static RepositoryOptions FromEnvironment();
};

class Repository {
 public:
  // Opens the repository, creating format.json in an empty location.
  // Refuses (BKP_E_INVALID_ARGUMENT) a non-empty location that is not a
  // repository, and (BKP_E_UNSUPPORTED, naming format.json and both
  // versions) a newer format.
  explicit Repository(std::shared_ptr<StorageDriver> driver, RepositoryOptions options = {});

  const RepositoryOptions& options() const { return options_; }
  // Takes a repository lock for `operation` (see repo_lock.h); this
  // object's own locks never conflict with each other. BKP_E_BUSY naming
  // the holder on a conflict.
  std::unique_ptr<RepositoryLock> Lock(RepositoryLock::Mode mode, const std::string& operation);

  StorageDriver& driver() { return *driver_; }
  // Raises format.json's version to at least `version` (never lowers it).
  void RequireFormatVersion(int version);
  std::string Describe() const { return driver_->Describe(); }

  // Ids of every complete backup, oldest first (ids sort by time).
  std::vector<std::string> ListIds();
  // BKP_E_NOT_FOUND naming the id and the repository when absent.
  Manifest Load(const std::string& id);
  // Every readable manifest, oldest first; unreadable ones go to `broken`.
  std::vector<Manifest> LoadAll(std::vector<BrokenManifest>* broken);
  // Writes the manifest: from now on the backup exists.
  void Publish(const Manifest& manifest);

  // Held (shared) by a writer from its first object to the record that
  // references it (a manifest, an archive record), and while it decides
  // which stored objects to reuse; garbage collection and verify's set-aside
  // take it exclusively (ExclusivePublishLock), so neither deletes or moves
  // an object between the two. Within one process only: across processes
  // the repository lock does this.
  std::shared_lock<std::shared_mutex> PublishLock() {
    return std::shared_lock<std::shared_mutex>(publish_mu_);
  }
  // Waits until no writer of this object holds PublishLock (this object's
  // own repository locks never conflict with each other, so an exclusive
  // one does not keep out its own archiver).
  std::unique_lock<std::shared_mutex> ExclusivePublishLock() {
    return std::unique_lock<std::shared_mutex>(publish_mu_);
  }

  // Stored bytes each backup alone holds (objects no other backup shares).
  static std::vector<uint64_t> ExclusiveBytes(const std::vector<Manifest>& manifests);

 private:
  // Refuses a format.json whose encryption differs from options_'s.
  void CheckEncryption(const nlohmann::json& format) const;
  std::shared_ptr<StorageDriver> driver_;
  RepositoryOptions options_;
  const std::string lock_owner_;  // random: marks this object's own locks
  std::shared_mutex publish_mu_;
};

// "20261121T130501123Z-a1b2": UTC time to the millisecond plus a random
// suffix, so ids sort by time and two hosts never collide.
std::string NewBackupId(int64_t now_ms);

}  // namespace repo
