// Env: the storage engine's seam to the file system (LevelDB's Env is the
// model). Segments and the data directory's context folders are created,
// written, fsynced, truncated and removed only through it, so a test can put
// a fault-injecting file system underneath the real engine: one that drops
// unsynced data at a crash point, fails an fsync, runs out of space or
// writes short (tests/host_stub/fault_env.h).
//
// Reads (the segment scanner, the checker) and the SQLite control DB go to
// the OS directly: a crash test damages what is on disk, and reading it back
// as it is is the point.
//
// Thread-safety: an Env is used from every thread of the engine at once;
// implementations must be thread-safe. An EnvFile follows util/file.h: PWriteAll
// at distinct offsets and Sync may run concurrently, Truncate needs exclusive use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include "util/file.h"
#include "util/status.h"

namespace hoststub {

// An open file of the engine. Errors name the path and the OS's reason.
class EnvFile {
 public:
  virtual ~EnvFile() = default;
  // Writes all of `data` at `offset`; on failure some prefix may have been
  // written (a short write), and the caller must not assume which.
  virtual Status PWriteAll(const void* data, size_t size, uint64_t offset) = 0;
  // fdatasync. After a failure the written data may be lost even if a later
  // Sync succeeds (the kernel may have dropped the dirty pages): never retry.
  virtual Status Sync() = 0;
  virtual Status Truncate(uint64_t size) = 0;
  virtual Result<uint64_t> Size() const = 0;
  virtual const std::filesystem::path& path() const = 0;
};

class Env {
 public:
  virtual ~Env() = default;
  // The posix file system. Lives for the whole process; never null.
  static Env* Default();

  // Opens `path` as util/file.h's File::Open does (kRead is not offered:
  // reads go to the OS directly).
  virtual Result<std::unique_ptr<EnvFile>> Open(const std::filesystem::path& path,
                                                File::Mode mode) = 0;
  // Makes creates, renames and unlinks in `dir` durable.
  virtual Status SyncDir(const std::filesystem::path& dir) = 0;
  // Removes a file; succeeds if it is already gone.
  virtual Status Remove(const std::filesystem::path& path) = 0;
  // Creates `dir` and its missing parents.
  virtual Status CreateDirs(const std::filesystem::path& dir) = 0;
};

}  // namespace hoststub
