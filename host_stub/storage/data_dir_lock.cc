// The data directory's lock (see data_dir_lock.h).
#include "storage/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include <fmt/format.h>

#include "util/file.h"

namespace fs = std::filesystem;

namespace hoststub {

Result<int> LockDataDir(const fs::path& dir) {
  const fs::path path = dir / kDataDirLockFile;
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return ErrnoStatus("cannot open lock file", path, errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Busy(fmt::format(
          "data directory '{}' is in use by another process (a running hostd?): '{}' is locked",
          dir.string(), path.string()));
    }
    return ErrnoStatus("cannot lock", path, err);
  }
  return fd;
}

Status CheckDataDirNotInUse(const fs::path& data_dir) {
  const fs::path path = data_dir / kDataDirLockFile;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? Status::OK() : ErrnoStatus("cannot open", path, errno);
  const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  if (held) {
    return Status::Busy(fmt::format(
        "data directory '{}' is in use by a running host ('{}' is locked): stop it first",
        data_dir.string(), path.string()));
  }
  return Status::OK();
}

}  // namespace hoststub
