// FaultEnv: a storage Env (storage/env.h) over the real files that remembers
// what has been made durable and can fail on purpose, for crash tests of the
// real engine. Test-only: not linked into hostd.
//
// Its model of a disk: written bytes are durable once their file has been
// fsynced, a new file's name once its directory has been. A crash keeps the
// durable state plus, as a page cache that had written back part of the rest
// would, a random prefix of each file's unsynced tail; files whose names were
// never made durable vanish. After a failed fsync the bytes written before it
// are never durable, even if a later fsync succeeds: Linux may have dropped
// the dirty pages and marked them clean (PostgreSQL's "fsyncgate").
//
// Faults are armed by operation number (every write, fsync, truncate,
// directory fsync, removal and create counts): the n-th operation from now
// crashes (it and every later one fail; a write writes a random prefix
// first), or fails an fsync, or a write with ENOSPC, EIO or short. A fault
// armed for a kind of operation waits for the next operation of that kind.
//
// Thread-safety: every method may be called from any thread; operations are
// serialised by one mutex.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <system_error>

#include "storage/env.h"

namespace fault_env {

enum class Fault { kNone, kCrash, kFailSync, kNoSpace, kIOError, kShortWrite };

class FaultEnv final : public hoststub::Env {
 public:
  explicit FaultEnv(uint64_t seed) : rng_(seed) {}

  // The op-th operation from now (1 = the next) gets `fault`.
  void Arm(uint64_t op, Fault fault) {
    std::lock_guard lock(mu_);
    armed_at_ = ops_ + op;
    armed_ = fault;
  }
  // Crashes now: every later operation fails.
  void Crash() {
    std::lock_guard lock(mu_);
    crashed_ = true;
  }
  bool crashed() const {
    std::lock_guard lock(mu_);
    return crashed_;
  }
  // Whether an armed fault has fired.
  bool fired() const {
    std::lock_guard lock(mu_);
    return fired_;
  }
  uint64_t ops() const {
    std::lock_guard lock(mu_);
    return ops_;
  }

  // What the disk holds after the crash: applies the model above to the real
  // files and forgets them. Call once the store using this Env is gone.
  void DropUnsynced() {
    std::lock_guard lock(mu_);
    for (auto& [path, f] : files_) {
      std::error_code ec;
      if (!f.durable_name) {
        std::filesystem::remove(path, ec);
        continue;
      }
      const uint64_t size = std::filesystem::file_size(path, ec);
      if (ec || size <= f.synced) continue;
      const uint64_t keep = f.synced + Below(size - f.synced + 1);
      std::filesystem::resize_file(path, keep, ec);
    }
    files_.clear();
  }

  hoststub::Result<std::unique_ptr<hoststub::EnvFile>> Open(const std::filesystem::path& path,
                                                            hoststub::File::Mode mode) override {
    std::lock_guard lock(mu_);
    std::error_code ec;
    const bool existed = std::filesystem::exists(path, ec);
    if (mode != hoststub::File::Mode::kRead && mode != hoststub::File::Mode::kReadWrite) {
      HOSTSTUB_RETURN_IF_ERROR(Step(Op::kOther, path));
    }
    auto file = hoststub::File::Open(path, mode);
    if (!file.ok()) return file.status();
    State& s = Track(path);
    if (!existed) {
      s.synced = 0;
      s.durable_name = false;
    }
    return std::unique_ptr<hoststub::EnvFile>(new FaultFile(this, std::move(*file)));
  }
  hoststub::Status SyncDir(const std::filesystem::path& dir) override {
    std::lock_guard lock(mu_);
    HOSTSTUB_RETURN_IF_ERROR(Step(Op::kOther, dir));
    for (auto& [path, f] : files_) {
      if (path.parent_path() == dir) f.durable_name = true;
    }
    return hoststub::Status::OK();
  }
  hoststub::Status Remove(const std::filesystem::path& path) override {
    std::lock_guard lock(mu_);
    HOSTSTUB_RETURN_IF_ERROR(Step(Op::kOther, path));
    files_.erase(path);
    return hoststub::Env::Default()->Remove(path);
  }
  hoststub::Status CreateDirs(const std::filesystem::path& dir) override {
    std::lock_guard lock(mu_);
    if (crashed_) return Crashed(dir);
    return hoststub::Env::Default()->CreateDirs(dir);
  }

 private:
  using Status = hoststub::Status;
  enum class Op { kWrite, kSync, kOther };
  struct State {
    uint64_t synced = 0;       // bytes durable
    bool durable_name = true;  // the directory entry survives a crash
    bool sync_failed = false;  // `synced` is frozen for good
  };

  class FaultFile final : public hoststub::EnvFile {
   public:
    FaultFile(FaultEnv* env, std::unique_ptr<hoststub::File> file)
        : env_(env), file_(std::move(file)) {}
    Status PWriteAll(const void* data, size_t size, uint64_t offset) override {
      return env_->Write(*file_, data, size, offset);
    }
    Status Sync() override { return env_->SyncFile(*file_); }
    Status Truncate(uint64_t size) override { return env_->TruncateFile(*file_, size); }
    hoststub::Result<uint64_t> Size() const override { return file_->Size(); }
    const std::filesystem::path& path() const override { return file_->path(); }

   private:
    FaultEnv* env_;
    std::unique_ptr<hoststub::File> file_;
  };

  uint64_t Below(uint64_t n) {
    return n == 0 ? 0 : std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_);
  }

  State& Track(const std::filesystem::path& path) {
    auto it = files_.find(path);
    if (it != files_.end()) return it->second;
    std::error_code ec;
    const uint64_t size = std::filesystem::file_size(path, ec);
    return files_.emplace(path, State{.synced = ec ? 0 : size}).first->second;
  }

  static Status Crashed(const std::filesystem::path& path) {
    return Status::IOError("injected crash: cannot write '" + path.string() + "'");
  }

  // Counts one operation; the fault due now, if any, for the caller to act on.
  Fault Due(Op op) {
    ++ops_;
    if (armed_ == Fault::kNone || ops_ < armed_at_) return Fault::kNone;
    const bool fits = armed_ == Fault::kCrash || (armed_ == Fault::kFailSync && op == Op::kSync) ||
                      (armed_ != Fault::kFailSync && op == Op::kWrite);
    if (!fits) return Fault::kNone;  // waits for an operation of its kind
    const Fault f = armed_;
    armed_ = Fault::kNone;
    fired_ = true;
    if (f == Fault::kCrash) crashed_ = true;
    return f;
  }

  // For operations that only crash.
  Status Step(Op op, const std::filesystem::path& path) {
    if (crashed_) return Crashed(path);
    if (Due(op) == Fault::kCrash) return Crashed(path);
    return Status::OK();
  }

  Status Write(hoststub::File& file, const void* data, size_t size, uint64_t offset) {
    std::lock_guard lock(mu_);
    if (crashed_) return Crashed(file.path());
    Track(file.path());
    switch (Due(Op::kWrite)) {
      case Fault::kNone:
        return file.PWriteAll(data, size, offset);
      case Fault::kCrash:
      case Fault::kShortWrite: {
        const bool crash = crashed_;
        const size_t part = static_cast<size_t>(Below(size));
        if (part > 0) HOSTSTUB_RETURN_IF_ERROR(file.PWriteAll(data, part, offset));
        if (crash) return Crashed(file.path());
        return hoststub::ErrnoStatus("injected short write to", file.path(), ENOSPC);
      }
      case Fault::kNoSpace:
        return hoststub::ErrnoStatus("injected write to", file.path(), ENOSPC);
      case Fault::kIOError:
      case Fault::kFailSync:
        return hoststub::ErrnoStatus("injected write to", file.path(), EIO);
    }
    return Status::OK();
  }

  Status SyncFile(hoststub::File& file) {
    std::lock_guard lock(mu_);
    if (crashed_) return Crashed(file.path());
    State& s = Track(file.path());
    const Fault f = Due(Op::kSync);
    if (f == Fault::kCrash) return Crashed(file.path());
    if (f == Fault::kFailSync) {
      s.sync_failed = true;
      return hoststub::ErrnoStatus("injected fsync failure on", file.path(), EIO);
    }
    // No real fsync: the model decides what a crash keeps, and the test
    // runs thousands of rounds.
    auto size = file.Size();
    if (!size.ok()) return size.status();
    if (!s.sync_failed) s.synced = *size;
    return Status::OK();
  }

  Status TruncateFile(hoststub::File& file, uint64_t size) {
    std::lock_guard lock(mu_);
    HOSTSTUB_RETURN_IF_ERROR(Step(Op::kOther, file.path()));
    State& s = Track(file.path());
    HOSTSTUB_RETURN_IF_ERROR(file.Truncate(size));
    // Whether a crash keeps the old length or the new, the bytes past `size`
    // are gone from what the engine may rely on.
    s.synced = std::min(s.synced, size);
    return Status::OK();
  }

  mutable std::mutex mu_;
  std::mt19937_64 rng_;
  std::map<std::filesystem::path, State> files_;
  uint64_t ops_ = 0;
  uint64_t armed_at_ = 0;
  Fault armed_ = Fault::kNone;
  bool crashed_ = false;
  bool fired_ = false;
};

}  // namespace fault_env
