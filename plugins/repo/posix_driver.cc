// The posix storage driver (see posix_driver.h).
#include "posix_driver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <system_error>

#include "bkp/bkp_plugin.hpp"

namespace fs = std::filesystem;

namespace repo {
namespace {

// How much a writer lets pile up before it starts write-back (see Append).
constexpr uint64_t kWriteBackBytes = 4ull << 20;

[[noreturn]] void ThrowErrno(const std::string& what, const fs::path& path, int err) {
  bkp_status status = BKP_E_IO;
  if (err == ENOSPC || err == EDQUOT) status = BKP_E_NO_SPACE;
  if (err == ENOENT) status = BKP_E_NOT_FOUND;
  throw bkp::Error(status, what + " '" + path.string() + "': " + std::strerror(err));
}

void SyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) ThrowErrno("cannot fsync directory", dir, err);
}

// Creates `dir` and any missing parents below `root`, fsyncing each parent
// that gained an entry so the new path survives a crash. Private to the
// host's user (0700 whatever the umask): a repository holds every event.
void MakeDirs(const fs::path& root, const fs::path& dir) {
  if (fs::is_directory(dir)) return;
  if (dir != root) MakeDirs(root, dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    ThrowErrno("cannot create directory", dir, errno);
  }
  SyncDirectory(dir.parent_path());
}

// The file of `key` under `root`. Keys come from the engine, but a manifest
// is data read back from disk: never let one point outside the repository.
fs::path KeyPath(const fs::path& root, const std::string& key) {
  fs::path rel = fs::path(key).lexically_normal();
  if (key.empty() || rel.is_absolute() || *rel.begin() == "..") {
    throw bkp::Error(BKP_E_CORRUPT, "object key '" + key + "' points outside the repository");
  }
  return root / rel;
}

// Whether `real` (a path with every symlink resolved) is `real_root` or
// below it.
bool IsInside(const fs::path& real_root, const std::string& real) {
  const std::string& r = real_root.native();
  return real == r || (real.size() > r.size() && real.compare(0, r.size(), r) == 0 &&
                       (r.back() == '/' || real[r.size()] == '/'));
}

[[noreturn]] void ThrowOutside(const fs::path& path, const std::string& real) {
  throw bkp::Error(BKP_E_CORRUPT, "'" + path.string() + "' leads outside the repository (to '" +
                                      real + "', through a symbolic link): refusing to use it");
}

// Resolves every symbolic link of `path` (which must exist) and refuses a
// result outside `real_root`: a symlink planted in the repository must not
// make the host read, write or delete files elsewhere. Symlinks that stay
// inside are allowed.
void CheckInside(const fs::path& real_root, const fs::path& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) ThrowErrno("cannot resolve", path, errno);
  if (!IsInside(real_root, buf)) ThrowOutside(path, buf);
}

// The same check for a file already open: /proc/self/fd names what the
// descriptor really is, so a symlink swapped in after the check cannot win.
void CheckOpenInside(const fs::path& real_root, const fs::path& path, int fd) {
  char buf[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) return CheckInside(real_root, path);  // no /proc: resolve by name
  const std::string real(buf, static_cast<size_t>(n));
  if (!IsInside(real_root, real)) ThrowOutside(path, real);
}

class PosixWriter final : public ObjectWriter {
 public:
  PosixWriter(fs::path root, fs::path real_root, fs::path temp)
      : root_(std::move(root)), real_root_(std::move(real_root)), temp_(std::move(temp)) {
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd_ < 0) ThrowErrno("cannot create", temp_, errno);
  }
  ~PosixWriter() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());
  }

  void Append(const void* data, size_t len) override {
    const char* p = static_cast<const char*>(data);
    while (len > 0) {
      ssize_t n = ::write(fd_, p, len);
      if (n < 0) {
        if (errno == EINTR) continue;
        ThrowErrno("cannot write", temp_, errno);
      }
      p += n;
      len -= static_cast<size_t>(n);
      written_ += static_cast<uint64_t>(n);
    }
    // Start writing back what has piled up, without waiting: the fdatasync
    // in Commit then finds little left and the worker is not held up by a
    // whole object's write-back at the end.
    if (written_ - written_back_ >= kWriteBackBytes) {
      ::sync_file_range(fd_, static_cast<off_t>(written_back_),
                        static_cast<off_t>(written_ - written_back_), SYNC_FILE_RANGE_WRITE);
      written_back_ = written_;
    }
  }

  void Commit(const std::string& key) override {
    if (::fdatasync(fd_) != 0) ThrowErrno("cannot fsync", temp_, errno);
    if (::close(fd_) != 0) {
      fd_ = -1;
      ThrowErrno("cannot close", temp_, errno);
    }
    fd_ = -1;
    const fs::path target = KeyPath(root_, key);
    // The deepest directory that exists must lie inside before any is
    // created below it, and the final one before the rename.
    fs::path existing = target.parent_path();
    while (!fs::exists(existing) && existing != root_) existing = existing.parent_path();
    CheckInside(real_root_, existing);
    MakeDirs(root_, target.parent_path());
    CheckInside(real_root_, target.parent_path());
    if (::rename(temp_.c_str(), target.c_str()) != 0)
      ThrowErrno("cannot rename onto", target, errno);
    committed_ = true;
    SyncDirectory(target.parent_path());
  }

 private:
  fs::path root_;
  fs::path real_root_;
  fs::path temp_;
  int fd_ = -1;
  bool committed_ = false;
  uint64_t written_ = 0;
  uint64_t written_back_ = 0;  // write-back was started up to here
};

class PosixReader final : public ObjectReader {
 public:
  PosixReader(const fs::path& real_root, fs::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) ThrowErrno("cannot open", path_, errno);
    struct stat st {};
    try {
      CheckOpenInside(real_root, path_, fd_);
      if (::fstat(fd_, &st) != 0) ThrowErrno("cannot stat", path_, errno);
    } catch (...) {
      ::close(fd_);
      throw;
    }
    size_ = static_cast<uint64_t>(st.st_size);
    // Objects are read whole, a MiB at a time with decoding in between:
    // ask for all of it now, so the reads wait on the disk once, not per MiB
    // (a cold restore spent 0.9 s of 1.5 s in read(2), strace -c).
    ::posix_fadvise(fd_, 0, 0, POSIX_FADV_WILLNEED);
  }
  ~PosixReader() override { ::close(fd_); }

  size_t Read(void* buf, size_t len) override {
    while (true) {
      ssize_t n = ::read(fd_, buf, len);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) ThrowErrno("cannot read", path_, errno);
    }
  }
  uint64_t size() const override { return size_; }

 private:
  fs::path path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

std::string TempName() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return std::to_string(::getpid()) + "-" + std::to_string(salt) + "-" +
         std::to_string(counter.fetch_add(1)) + ".tmp";
}

}  // namespace

PosixDriver::PosixDriver(fs::path root) : root_(std::move(root)) {
  std::error_code ec;
  root_ = fs::absolute(root_, ec).lexically_normal();
  if (root_.filename().empty()) root_ = root_.parent_path();
  if (!fs::is_directory(root_)) {
    // Only the repository itself is made private: parents above it are the
    // operator's, created as any tool would.
    fs::create_directories(root_.parent_path(), ec);
    if (ec) ThrowErrno("cannot create repository directory", root_, ec.value());
    if (::mkdir(root_.c_str(), 0700) != 0 && errno != EEXIST) {
      ThrowErrno("cannot create repository directory", root_, errno);
    }
  }
  char real[PATH_MAX];
  if (::realpath(root_.c_str(), real) == nullptr) ThrowErrno("cannot resolve", root_, errno);
  real_root_ = real;
  // tmp/ waits for the first write: a location the repository then refuses
  // (not empty, not a repository) must be left as it was.
}

std::string PosixDriver::Describe() const { return "posix:" + root_.string(); }

fs::path PosixDriver::PathOf(const std::string& key) const { return KeyPath(root_, key); }

std::unique_ptr<ObjectWriter> PosixDriver::Create() {
  const fs::path tmp = root_ / "tmp";
  struct stat st {};
  if (::lstat(tmp.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    throw bkp::Error(BKP_E_CORRUPT, "'" + tmp.string() +
                                        "' is not a directory (a symbolic link?): refusing to "
                                        "write through it");
  }
  MakeDirs(root_, tmp);
  return std::make_unique<PosixWriter>(root_, real_root_, tmp / TempName());
}

std::unique_ptr<ObjectReader> PosixDriver::Open(const std::string& key) {
  return std::make_unique<PosixReader>(real_root_, PathOf(key));
}

void PosixDriver::Prefetch(const std::string& key) {
  // A bad key or a missing object is Open's to report, in its turn.
  fs::path path;
  try {
    path = PathOf(key);
  } catch (const bkp::Error&) {
    return;
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
  ::close(fd);
}

std::shared_ptr<StorageDriver> PosixDriverFromSettings(const bkp::Settings& settings) {
  const std::string path = settings.get_string("path").value_or("");
  if (path.empty()) throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'path' must not be empty");
  return std::make_shared<PosixDriver>(path);
}

std::optional<uint64_t> PosixDriver::Stat(const std::string& key) {
  const fs::path path = PathOf(key);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::nullopt;
    ThrowErrno("cannot stat", path, errno);
  }
  CheckInside(real_root_, path);
  return static_cast<uint64_t>(st.st_size);
}

std::vector<ObjectInfo> PosixDriver::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  // The prefix's directory part bounds the walk.
  const fs::path start = PathOf(prefix.empty() ? "." : prefix).parent_path();
  std::error_code ec;
  if (!fs::is_directory(start, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(start, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string key = it->path().lexically_relative(root_).generic_string();
    if (key.rfind(prefix, 0) != 0 || key.rfind("tmp/", 0) == 0) continue;
    struct stat st {};
    if (::stat(it->path().c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed since the walk saw it
      ThrowErrno("cannot stat", it->path(), errno);
    }
    out.push_back(
        {std::move(key), static_cast<uint64_t>(st.st_size),
         static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000});
  }
  if (ec) ThrowErrno("cannot list", start, ec.value());
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

void PosixDriver::Remove(const std::vector<std::string>& keys) {
  std::vector<fs::path> dirs;
  for (const auto& key : keys) {
    const fs::path path = PathOf(key);
    // unlink never follows the last component; its directory must not lead
    // elsewhere either.
    struct stat st {};
    if (::stat(path.parent_path().c_str(), &st) != 0) continue;  // nothing there to remove
    CheckInside(real_root_, path.parent_path());
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) ThrowErrno("cannot remove", path, errno);
    dirs.push_back(path.parent_path());
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  for (const auto& dir : dirs) {
    if (fs::is_directory(dir)) SyncDirectory(dir);
  }
}

}  // namespace repo

namespace repo {

namespace {

// Whether `name` is one TempName() makes: digits-digits-digits.tmp. Nothing
// else in tmp/ is ours to delete.
bool IsOurTempName(const std::string& name) {
  const std::string suffix = ".tmp";
  if (name.size() <= suffix.size() ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return false;
  }
  int dashes = 0;
  bool digit_before = false;
  for (size_t i = 0; i < name.size() - suffix.size(); ++i) {
    const char c = name[i];
    if (c >= '0' && c <= '9') {
      digit_before = true;
    } else if (c == '-' && digit_before && dashes < 2) {
      ++dashes;
      digit_before = false;
    } else {
      return false;
    }
  }
  return dashes == 2 && digit_before;
}

}  // namespace

uint64_t PosixDriver::RemoveAbandonedWrites(std::chrono::seconds idle) {
  const fs::path tmp = root_ / "tmp";
  // O_NOFOLLOW: a tmp/ replaced by a symlink must not send the deletions
  // below into some other directory; and every entry is judged and removed
  // relative to this descriptor, never by a path that could be swapped.
  const int dir_fd = ::open(tmp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dir_fd < 0) {
    if (errno == ENOENT) return 0;
    if (errno == ELOOP || errno == ENOTDIR) {
      throw bkp::Error(BKP_E_CORRUPT, "'" + tmp.string() +
                                          "' is not a directory (a symbolic link?): abandoned "
                                          "writes not collected, nothing deleted");
    }
    ThrowErrno("cannot open directory", tmp, errno);
  }
  DIR* dir = ::fdopendir(dir_fd);
  if (dir == nullptr) {
    const int err = errno;
    ::close(dir_fd);
    ThrowErrno("cannot list", tmp, err);
  }
  const auto now = std::chrono::system_clock::now();
  uint64_t removed = 0;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (!IsOurTempName(name)) continue;
    struct stat st {};
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) {
      continue;
    }
    const auto written = std::chrono::system_clock::time_point(
        std::chrono::seconds(st.st_mtim.tv_sec) +
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(st.st_mtim.tv_nsec)));
    if (now - written < idle) continue;
    if (::unlinkat(dir_fd, name.c_str(), 0) == 0) ++removed;
  }
  if (removed > 0 && ::fsync(dir_fd) != 0) {
    const int err = errno;
    ::closedir(dir);
    ThrowErrno("cannot fsync directory", tmp, err);
  }
  ::closedir(dir);
  return removed;
}

}  // namespace repo
