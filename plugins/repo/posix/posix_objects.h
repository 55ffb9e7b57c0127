// The posix driver's writer and reader, and the names of its temporary
// files.
//
// PosixWriter writes into a temporary file under tmp/ (O_EXCL, 0600),
// starting write-back as the bytes pile up; Commit fdatasyncs it, renames
// it onto its key (creating and fsyncing directories, each checked to lie
// inside the repository) and fsyncs the directory. A writer destroyed
// before Commit deletes its file. PosixReader opens an object, checks that
// the descriptor lies inside the repository, and asks the kernel for the
// whole file ahead (objects are read whole).
//
// Errors: throw bkp::Error (posix_errors.h, posix_paths.h).
// Thread-safety: one thread uses a writer or reader at a time; TempName
// may be called from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "repo/storage_driver.h"

namespace repo {

class PosixWriter final : public ObjectWriter {
 public:
  // Creates `temp` (which must not exist); `root` and `real_root` are the
  // repository's directory as given and with its links resolved.
  PosixWriter(std::filesystem::path root, std::filesystem::path real_root,
              std::filesystem::path temp);
  ~PosixWriter() override;

  void Append(const void* data, size_t len) override;
  void Commit(const std::string& key) override;

  // Commit's steps, for a group commit (PosixDriver::CommitBatch): start
  // writing back what is not yet on its way, without waiting; close the
  // file (once its bytes are durable: the caller synced them); rename it
  // onto `target`, whose directory exists and was checked
  // (PrepareDirectory). The directory's fsync is the caller's.
  void StartWriteBack();
  void Close();
  void RenameOnto(const std::filesystem::path& target);

 private:
  std::filesystem::path root_;
  std::filesystem::path real_root_;
  std::filesystem::path temp_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
  uint64_t written_back_ = 0;  // write-back was started up to here
};

class PosixReader final : public ObjectReader {
 public:
  PosixReader(const std::filesystem::path& real_root, std::filesystem::path path);
  ~PosixReader() override;

  size_t Read(void* buf, size_t len) override;
  uint64_t size() const override { return size_; }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// Creates `dir` (below `root`) if absent and checks that it lies inside the
// repository: the deepest existing directory before any is created below
// it, and `dir` itself after.
void PrepareDirectory(const std::filesystem::path& root, const std::filesystem::path& real_root,
                      const std::filesystem::path& dir);

// A new temporary file name, unique across processes and threads:
// "<pid>-<salt>-<counter>.tmp".
std::string TempName();
// Whether `name` is one TempName() makes: digits-digits-digits.tmp. Nothing
// else in tmp/ is the driver's to delete.
bool IsTempName(const std::string& name);

}  // namespace repo
