// Paths of a posix repository (see posix_paths.h).
#include "repo/posix/posix_paths.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>

#include <cerrno>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/posix/posix_errors.h"

namespace fs = std::filesystem;

namespace repo {
namespace {

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

}  // namespace

void SyncDirectory(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("cannot open directory", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) ThrowErrno("cannot fsync directory", dir, err);
}

void MakeDirs(const fs::path& root, const fs::path& dir) {
  if (fs::is_directory(dir)) return;
  if (dir != root) MakeDirs(root, dir.parent_path());
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    ThrowErrno("cannot create directory", dir, errno);
  }
  SyncDirectory(dir.parent_path());
}

fs::path KeyPath(const fs::path& root, const std::string& key) {
  fs::path rel = fs::path(key).lexically_normal();
  if (key.empty() || rel.is_absolute() || *rel.begin() == "..") {
    throw bkp::Error(BKP_E_CORRUPT, "object key '" + key + "' points outside the repository");
  }
  return root / rel;
}

void CheckInside(const fs::path& real_root, const fs::path& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) ThrowErrno("cannot resolve", path, errno);
  if (!IsInside(real_root, buf)) ThrowOutside(path, buf);
}

void CheckOpenInside(const fs::path& real_root, const fs::path& path, int fd) {
  char buf[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  const ssize_t n = ::readlink(link.c_str(), buf, sizeof buf - 1);
  if (n < 0) return CheckInside(real_root, path);  // no /proc: resolve by name
  const std::string real(buf, static_cast<size_t>(n));
  if (!IsInside(real_root, real)) ThrowOutside(path, real);
}

}  // namespace repo
