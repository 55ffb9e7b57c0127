// PosixDriver: a repository in a local directory, private to the host's user
// (directories 0700, files 0600). Writes are durable: a
// temp file under tmp/, fdatasync, rename into place, fsync of the
// directory (and of a directory created for it), so a crash leaves either
// the old state or the new, never a half-written object under its key. A
// batch of objects (CommitBatch) takes the same steps with one syncfs(2)
// for all their data and one for all their renames.
//
// Thread-safety: as StorageDriver.
#pragma once

#include <filesystem>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/storage_driver.h"

namespace repo {

class PosixDriver final : public StorageDriver {
 public:
  // Creates `root` if absent; tmp/ is created by the first write.
  explicit PosixDriver(std::filesystem::path root);
  ~PosixDriver() override;
  PosixDriver(const PosixDriver&) = delete;
  PosixDriver& operator=(const PosixDriver&) = delete;

  std::string Describe() const override;
  std::unique_ptr<ObjectWriter> Create() override;
  bool CommitWaitsOnStorage() const override { return true; }
  // A group commit of PosixWriters (posix_driver.cc says why it is as
  // durable as committing each); other writers are committed one by one.
  void CommitBatch(std::vector<PendingObject>& batch) override;
  std::unique_ptr<ObjectReader> Open(const std::string& key) override;
  void Prefetch(const std::string& key) override;
  std::optional<uint64_t> Stat(const std::string& key) override;
  std::vector<ObjectInfo> List(const std::string& prefix) override;
  void Remove(const std::vector<std::string>& keys) override;
  // Temporary files under tmp/ last modified at least `idle` ago, and only
  // those named as this driver names them; follows no symlink (a tmp/ that
  // is one is BKP_E_CORRUPT, with nothing deleted).
  uint64_t RemoveAbandonedWrites(std::chrono::seconds idle) override;

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path PathOf(const std::string& key) const;
  // syncfs(2) of the repository's file system; throws naming `what`.
  void SyncFileSystem(const char* what);
  std::filesystem::path root_;
  // root_ with every symlink resolved: reads, writes and removals refuse a
  // path that resolves outside it (a symlink planted in the repository).
  std::filesystem::path real_root_;
  int sync_fd_ = -1;  // the repository directory, for syncfs (CommitBatch)
};

// The driver of a provider that keeps its repository in the directory its
// setting 'path' names; throws BKP_E_INVALID_ARGUMENT when 'path' is empty.
std::shared_ptr<StorageDriver> PosixDriverFromSettings(const bkp::Settings& settings);

}  // namespace repo
