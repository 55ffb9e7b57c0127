// The posix storage driver (see posix_driver.h).
#include "repo/posix/posix_driver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "bkp/bkp_plugin.hpp"
#include "repo/posix/posix_config.h"
#include "repo/posix/posix_errors.h"
#include "repo/posix/posix_objects.h"
#include "repo/posix/posix_paths.h"

namespace fs = std::filesystem;

namespace repo {

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
  return std::make_shared<PosixDriver>(ReadPosixConfig(settings).root);
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
    if (!IsTempName(name)) continue;
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
