// POSIX implementation of util/file.h.
#include "util/file.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace hoststub {

Status ErrnoStatus(const std::string& what, const std::filesystem::path& path, int err) {
  std::string msg = what + " '" + path.string() + "': " + std::strerror(err);
  if (err == EMFILE) {
    // The bare strerror leaves the operator guessing which limit and how
    // to raise it.
    rlimit limit{};
    const std::string soft = ::getrlimit(RLIMIT_NOFILE, &limit) == 0
                                 ? std::to_string(static_cast<unsigned long long>(limit.rlim_cur))
                                 : std::string("unknown");
    msg += " (this process reached its limit of " + soft +
           " open files, RLIMIT_NOFILE: raise it with LimitNOFILE= in the service unit or "
           "'ulimit -n' before the command)";
  } else if (err == ENFILE) {
    msg +=
        " (the system-wide limit of open files is reached: see fs.file-max and which "
        "process holds them)";
  }
  if (err == ENOENT) return Status::NotFound(std::move(msg));
  if (err == ENOSPC || err == EDQUOT) return Status::NoSpace(std::move(msg));
  return Status::IOError(std::move(msg));
}

Result<std::unique_ptr<File>> File::Open(const std::filesystem::path& path, Mode mode) {
  int flags = O_CLOEXEC;
  switch (mode) {
    case Mode::kRead:
      flags |= O_RDONLY;
      break;
    case Mode::kReadWrite:
      flags |= O_RDWR;
      break;
    case Mode::kCreateNew:
      flags |= O_RDWR | O_CREAT | O_EXCL;
      break;
    case Mode::kCreateOrOpen:
      flags |= O_RDWR | O_CREAT;
      break;
  }
  int fd;
  do {
    fd = ::open(path.c_str(), flags, 0644);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus("cannot open", path, errno);
  return std::unique_ptr<File>(new File(fd, path));
}

File::~File() {
  if (fd_ >= 0) ::close(fd_);
}

Status File::PWriteAll(const void* data, size_t size, uint64_t offset) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::pwrite(fd_, p, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot write", path_, errno);
    }
    p += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return Status::OK();
}

Result<size_t> File::PRead(void* data, size_t size, uint64_t offset) const {
  char* p = static_cast<char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pread(fd_, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("cannot read", path_, errno);
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return done;
}

Status File::Sync() {
  if (::fdatasync(fd_) != 0) return ErrnoStatus("cannot fsync", path_, errno);
  return Status::OK();
}

void File::StartWriteBack(uint64_t offset, uint64_t len) {
  // Linux-only; elsewhere the Sync at the end simply does all the work.
#if defined(__linux__)
  ::sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(len),
                    SYNC_FILE_RANGE_WRITE);
#else
  (void)offset;
  (void)len;
#endif
}

void File::ReadAhead(uint64_t offset, uint64_t len) const {
  ::posix_fadvise(fd_, static_cast<off_t>(offset), static_cast<off_t>(len), POSIX_FADV_WILLNEED);
}

Status File::Truncate(uint64_t size) {
  if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return ErrnoStatus("cannot truncate", path_, errno);
  }
  return Status::OK();
}

Result<uint64_t> File::Size() const {
  struct stat st;
  if (::fstat(fd_, &st) != 0) return ErrnoStatus("cannot stat", path_, errno);
  return static_cast<uint64_t>(st.st_size);
}

Status SyncDir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return ErrnoStatus("cannot fsync directory", dir, err);
  return Status::OK();
}

Status WriteFileAtomically(const std::filesystem::path& path, const void* data, size_t size) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  {
    HOSTSTUB_ASSIGN_OR_RETURN(auto file, File::Open(tmp, File::Mode::kCreateOrOpen));
    HOSTSTUB_RETURN_IF_ERROR(file->Truncate(0));
    HOSTSTUB_RETURN_IF_ERROR(file->PWriteAll(data, size, 0));
    HOSTSTUB_RETURN_IF_ERROR(file->Sync());
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return ErrnoStatus("cannot rename onto", path, errno);
  return SyncDir(path.parent_path().empty() ? "." : path.parent_path());
}

}  // namespace hoststub
