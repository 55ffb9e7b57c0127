// FaultyDirDriver (see faulty_dir_driver.h): plain POSIX files, fsync
// before rename and of the directory after it, so a committed object is
// whole and durable.
#include "faulty_dir_driver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "bkp/bkp_plugin.hpp"

namespace faulty_dir {
namespace {

constexpr const char* kTempDir = ".faulty-tmp";

bkp_status StatusOf(int error) {
  if (error == ENOSPC || error == EDQUOT) return BKP_E_NO_SPACE;
  if (error == ENOENT) return BKP_E_NOT_FOUND;
  return BKP_E_IO;
}

[[noreturn]] void ThrowErrno(int error, const std::string& what) {
  throw bkp::Error(StatusOf(error), what + ": " + std::strerror(error));
}

// A key names a file under the root: relative, no "." or ".." component,
// so no key reaches outside it.
void CheckKey(const std::string& root, const std::string& key) {
  bool bad = key.empty() || key.front() == '/' || key.back() == '/';
  for (size_t start = 0; !bad && start <= key.size();) {
    const size_t end = std::min(key.find('/', start), key.size());
    const std::string part = key.substr(start, end - start);
    bad = part.empty() || part == "." || part == ".." || (start == 0 && part == kTempDir);
    start = end + 1;
  }
  if (bad) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "key '" + key + "' does not name a file under faulty_dir:" + root);
  }
}

void MakeDirs(const std::string& path) {
  for (size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    const std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) {
      ThrowErrno(errno, "cannot create directory '" + dir + "'");
    }
    if (slash == std::string::npos) return;
  }
}

void SyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(errno, "cannot open directory '" + dir + "' to sync it");
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) ThrowErrno(error, "cannot sync directory '" + dir + "'");
}

class Writer final : public repo::ObjectWriter {
 public:
  explicit Writer(std::shared_ptr<DriverState> state) : state_(std::move(state)) {
    temp_ = state_->root + "/" + kTempDir + "/" + std::to_string(::getpid()) + "-" +
            std::to_string(state_->next_temp.fetch_add(1));
    fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0) ThrowErrno(errno, "cannot create '" + temp_ + "'");
  }
  ~Writer() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(temp_.c_str());  // nothing of an uncommitted object stays
  }

  void Append(const void* data, size_t len) override {
    const Faults& f = state_->faults;
    const uint64_t before = state_->bytes_written.fetch_add(len);
    size_t keep = len;
    if (f.kind != Faults::Kind::kNone && before + len > f.after) {
      if (f.kind == Faults::Kind::kNoSpace) {
        ThrowErrno(ENOSPC, "cannot write " + std::to_string(len) + " bytes to '" + temp_ +
                               "' (fault injected after " + std::to_string(f.after) + " bytes)");
      }
      if (f.kind == Faults::Kind::kShortWrite) keep = len / 2;
    }
    const char* p = static_cast<const char*>(data);
    for (size_t done = 0; done < keep;) {
      const ssize_t n = ::write(fd_, p + done, keep - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) ThrowErrno(errno, "cannot write to '" + temp_ + "'");
      done += static_cast<size_t>(n);
    }
    if (keep != len) {
      throw bkp::Error(BKP_E_IO, "short write to '" + temp_ + "': " + std::to_string(keep) +
                                     " of " + std::to_string(len) +
                                     " bytes stored (fault injected)");
    }
  }

  void Commit(const std::string& key) override {
    CheckKey(state_->root, key);
    if (::fsync(fd_) != 0) ThrowErrno(errno, "cannot sync '" + temp_ + "' for '" + key + "'");
    const uint64_t commit = state_->commits.fetch_add(1);
    if (state_->faults.kind == Faults::Kind::kTornRename && commit >= state_->faults.after) {
      throw bkp::Error(BKP_E_IO,
                       "rename of '" + temp_ + "' to '" + key + "' in faulty_dir:" + state_->root +
                           " was torn (fault injected at commit " + std::to_string(commit) + ")");
    }
    const std::string path = state_->root + "/" + key;
    const std::string dir = path.substr(0, path.rfind('/'));
    MakeDirs(dir);
    if (::rename(temp_.c_str(), path.c_str()) != 0) {
      ThrowErrno(errno, "cannot rename '" + temp_ + "' to '" + path + "'");
    }
    committed_ = true;
    SyncDir(dir);
  }

 private:
  std::shared_ptr<DriverState> state_;
  std::string temp_;
  int fd_ = -1;
  bool committed_ = false;
};

class Reader final : public repo::ObjectReader {
 public:
  Reader(int fd, uint64_t size, std::string path) : fd_(fd), size_(size), path_(std::move(path)) {}
  ~Reader() override { ::close(fd_); }
  size_t Read(void* buf, size_t len) override {
    for (;;) {
      const ssize_t n = ::read(fd_, buf, len);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) ThrowErrno(errno, "cannot read '" + path_ + "'");
    }
  }
  uint64_t size() const override { return size_; }

 private:
  int fd_;
  uint64_t size_;
  std::string path_;
};

int64_t ModifiedMs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
}

// Every file under root/dir, keys relative to root, skipping the temp folder.
void Walk(const std::string& root, const std::string& dir, std::vector<repo::ObjectInfo>* out) {
  const std::string path = dir.empty() ? root : root + "/" + dir;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) {
    if (errno == ENOENT || errno == ENOTDIR) return;
    ThrowErrno(errno, "cannot list '" + path + "'");
  }
  std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name == "." || name == ".." || (dir.empty() && name == kTempDir)) continue;
    const std::string key = dir.empty() ? name : dir + "/" + name;
    struct stat st {};
    if (::lstat((root + "/" + key).c_str(), &st) != 0) {
      if (errno == ENOENT) continue;  // removed while listing
      ThrowErrno(errno, "cannot stat '" + root + "/" + key + "'");
    }
    if (S_ISDIR(st.st_mode)) {
      Walk(root, key, out);
    } else if (S_ISREG(st.st_mode)) {
      out->push_back({key, static_cast<uint64_t>(st.st_size), ModifiedMs(st)});
    }
  }
}

}  // namespace

FaultyDirDriver::FaultyDirDriver(std::string root, Faults faults)
    : state_(std::make_shared<DriverState>()) {
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  state_->root = std::move(root);
  state_->faults = faults;
  MakeDirs(state_->root + "/" + kTempDir);
}

std::string FaultyDirDriver::Describe() const { return "faulty_dir:" + state_->root; }

std::unique_ptr<repo::ObjectWriter> FaultyDirDriver::Create() {
  return std::make_unique<Writer>(state_);
}

std::unique_ptr<repo::ObjectReader> FaultyDirDriver::Open(const std::string& key) {
  CheckKey(state_->root, key);
  const std::string path = state_->root + "/" + key;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno(errno, "cannot open '" + key + "' in " + Describe());
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    ::close(fd);
    ThrowErrno(error, "cannot stat '" + path + "'");
  }
  return std::make_unique<Reader>(fd, static_cast<uint64_t>(st.st_size), path);
}

std::optional<uint64_t> FaultyDirDriver::Stat(const std::string& key) {
  CheckKey(state_->root, key);
  struct stat st {};
  if (::stat((state_->root + "/" + key).c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    ThrowErrno(errno, "cannot stat '" + key + "' in " + Describe());
  }
  if (!S_ISREG(st.st_mode)) return std::nullopt;
  return static_cast<uint64_t>(st.st_size);
}

std::vector<repo::ObjectInfo> FaultyDirDriver::List(const std::string& prefix) {
  // Walk only the folder the prefix reaches into.
  const size_t slash = prefix.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : prefix.substr(0, slash);
  std::vector<repo::ObjectInfo> all;
  Walk(state_->root, dir, &all);
  std::vector<repo::ObjectInfo> out;
  for (auto& info : all) {
    if (info.key.compare(0, prefix.size(), prefix) == 0) out.push_back(std::move(info));
  }
  std::sort(out.begin(), out.end(),
            [](const repo::ObjectInfo& a, const repo::ObjectInfo& b) { return a.key < b.key; });
  return out;
}

void FaultyDirDriver::Remove(const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    CheckKey(state_->root, key);
    if (::unlink((state_->root + "/" + key).c_str()) != 0 && errno != ENOENT) {
      ThrowErrno(errno, "cannot remove '" + key + "' from " + Describe());
    }
  }
}

uint64_t FaultyDirDriver::RemoveAbandonedWrites(std::chrono::seconds idle) {
  std::vector<repo::ObjectInfo> temps;
  Walk(state_->root + "/" + kTempDir, "", &temps);
  const int64_t now_ms = static_cast<int64_t>(std::time(nullptr)) * 1000;
  uint64_t removed = 0;
  for (const auto& t : temps) {
    if (now_ms - t.modified_ms < idle.count() * 1000) continue;
    if (::unlink((state_->root + "/" + kTempDir + "/" + t.key).c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace faulty_dir
