// The default Env: util/file.h's File and std::filesystem, one virtual call
// per operation and nothing else on the append path.
#include <system_error>

#include <fmt/format.h>

#include "storage/env.h"

namespace fs = std::filesystem;

namespace hoststub {
namespace {

class PosixFile final : public EnvFile {
 public:
  explicit PosixFile(std::unique_ptr<File> file) : file_(std::move(file)) {}
  Status PWriteAll(const void* data, size_t size, uint64_t offset) override {
    return file_->PWriteAll(data, size, offset);
  }
  Status Sync() override { return file_->Sync(); }
  Status Truncate(uint64_t size) override { return file_->Truncate(size); }
  Result<uint64_t> Size() const override { return file_->Size(); }
  const fs::path& path() const override { return file_->path(); }

 private:
  std::unique_ptr<File> file_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<EnvFile>> Open(const fs::path& path, File::Mode mode) override {
    HOSTSTUB_ASSIGN_OR_RETURN(auto file, File::Open(path, mode));
    return std::unique_ptr<EnvFile>(new PosixFile(std::move(file)));
  }
  Status SyncDir(const fs::path& dir) override { return hoststub::SyncDir(dir); }
  Status Remove(const fs::path& path) override {
    std::error_code ec;
    fs::remove(path, ec);
    if (ec) {
      return Status::IOError(fmt::format("cannot remove '{}': {}", path.string(), ec.message()));
    }
    return Status::OK();
  }
  Status CreateDirs(const fs::path& dir) override {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      return Status::IOError(
          fmt::format("cannot create directory '{}': {}", dir.string(), ec.message()));
    }
    return Status::OK();
  }
};

}  // namespace

Env* Env::Default() {
  static PosixEnv env;
  return &env;
}

}  // namespace hoststub
