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
#include <vector>

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
  // Opened before this driver writes anything: syncfs on it reports every
  // write-back error of the file system since (CommitBatch).
  sync_fd_ = ::open(real_root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (sync_fd_ < 0) ThrowErrno("cannot open repository directory", root_, errno);
}

PosixDriver::~PosixDriver() { ::close(sync_fd_); }

void PosixDriver::SyncFileSystem(const char* what) {
  if (::syncfs(sync_fd_) != 0) ThrowErrno(what, root_, errno);
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

void PosixDriver::CommitBatch(std::vector<PendingObject>& batch) {
  std::vector<PosixWriter*> writers;
  for (auto& pending : batch) {
    auto* writer = dynamic_cast<PosixWriter*>(pending.writer.get());
    if (writer == nullptr) return StorageDriver::CommitBatch(batch);
    writers.push_back(writer);
  }
  // One object gains nothing from a group commit: its own fdatasync and
  // directory fsync wait for the disk as often, and flush nothing else.
  if (batch.size() == 1) return batch.front().writer->Commit(batch.front().key);
  // A group commit. Each object goes through the steps Commit takes, in
  // the same order, with the fdatasyncs and directory fsyncs of the whole
  // batch each done by one syncfs(2): its data durable, then renamed onto
  // its key, then the rename durable. Only the steps of different objects
  // are reordered, phase by phase, and no guarantee depends on that order:
  //  - an object appears under its key only after the syncfs that made its
  //    data durable has returned (the first syncfs precedes every rename),
  //    so a crash at any point leaves each key absent or whole, never torn;
  //  - an object is durable under its key once the second syncfs, after
  //    every rename of the batch, has returned, and this returns only after
  //    it; the engine writes a manifest only after every batch holding its
  //    objects has returned (Committer::Finish), so no manifest names an
  //    object a crash could lose.
  // Errors: since Linux 5.8 syncfs reports a write-back error of any file
  // of the file system since sync_fd_ was opened (before this driver wrote
  // anything), so a lost write of one object fails the batch as its
  // fdatasync would have; one of another file there fails it too, which
  // errs on the safe side.
  // Why: on a virtual disk every fdatasync and fsync ends in a cache flush
  // of about a millisecond even when the journal holds nothing new for it:
  // 6 000 objects of 8 KiB cost 12 000 of those. A batch costs two, at the
  // price of also writing back whatever else is dirty on that file system.
  for (PosixWriter* writer : writers) writer->StartWriteBack();
  SyncFileSystem("cannot sync the file system of");
  for (PosixWriter* writer : writers) writer->Close();
  std::vector<fs::path> targets;
  std::vector<fs::path> dirs;  // distinct, each prepared and checked once
  for (const auto& pending : batch) {
    targets.push_back(PathOf(pending.key));
    const fs::path dir = targets.back().parent_path();
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) {
      PrepareDirectory(root_, real_root_, dir);
      dirs.push_back(dir);
    }
  }
  for (size_t i = 0; i < writers.size(); ++i) writers[i]->RenameOnto(targets[i]);
  SyncFileSystem("cannot sync the file system of");
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
