// Thin RAII wrappers over POSIX file descriptors, returning Status with the
// path and the OS's reason in every error. The storage engine does its own
// buffering, so these are unbuffered.
//
// Thread-safety: a File may be shared between threads for PRead/PWriteAll at
// distinct offsets and Sync; Truncate and Close need exclusive use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "util/status.h"

namespace hoststub {

class File {
 public:
  enum class Mode {
    kRead,          // read-only, must exist
    kReadWrite,     // read-write, must exist
    kCreateNew,     // read-write, must not exist
    kCreateOrOpen,  // read-write, created if absent
  };

  static Result<std::unique_ptr<File>> Open(const std::filesystem::path& path, Mode mode);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  // Writes all of `data` at `offset` (retrying short writes).
  Status PWriteAll(const void* data, size_t size, uint64_t offset);
  // Reads up to `size` bytes at `offset`; fewer only at end of file.
  Result<size_t> PRead(void* data, size_t size, uint64_t offset) const;
  // fdatasync: the data and the size, not the timestamps.
  Status Sync();
  // Starts writing the dirty pages of [offset, offset + len) back without
  // waiting (len 0: to the end of the file), so a Sync later finds little
  // left to do. Only a hint: never fails. A writer that kicks as it goes
  // names only what it wrote since: the kernel walks every page of the
  // range, and kicking the whole file each time made the walk quadratic.
  void StartWriteBack(uint64_t offset = 0, uint64_t len = 0);
  // Asks the kernel to start reading [offset, offset + len) into the page
  // cache without waiting, so a sequential reader finds it there. Only a
  // hint: never fails.
  void ReadAhead(uint64_t offset, uint64_t len) const;
  Status Truncate(uint64_t size);
  Result<uint64_t> Size() const;

  const std::filesystem::path& path() const { return path_; }
  int fd() const { return fd_; }

 private:
  File(int fd, std::filesystem::path path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::filesystem::path path_;
};

// fsyncs a directory so a create, rename or unlink in it survives a crash.
Status SyncDir(const std::filesystem::path& dir);

// Writes `data` to `path` durably and atomically: temp file, fsync, rename,
// fsync of the directory. Readers see the old content or the new, never a mix.
Status WriteFileAtomically(const std::filesystem::path& path, const void* data, size_t size);

// "<what> '<path>': <strerror(errno)>" as an IOError (NotFound for ENOENT).
Status ErrnoStatus(const std::string& what, const std::filesystem::path& path, int err);

}  // namespace hoststub
