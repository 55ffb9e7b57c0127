// Re-reading the tokens file when it changes (see token_source.h).
#include "api/token_source.h"

#include <sys/stat.h>

#include <fmt/format.h>

namespace hoststub {
namespace {

bool SameTime(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

}  // namespace

bool TokenSource::Stamp::operator==(const Stamp& other) const {
  return device == other.device && inode == other.inode && size == other.size &&
         SameTime(mtime, other.mtime) && SameTime(ctime, other.ctime);
}

TokenSource::Stamp TokenSource::Take(const std::filesystem::path& file) {
  Stamp stamp;
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return stamp;  // size -1: missing
  stamp.device = st.st_dev;
  stamp.inode = st.st_ino;
  stamp.size = st.st_size;
  stamp.mtime = st.st_mtim;
  stamp.ctime = st.st_ctim;
  return stamp;
}

Result<std::unique_ptr<TokenSource>> TokenSource::Open(std::filesystem::path file, Note note) {
  std::unique_ptr<TokenSource> source(new TokenSource(std::move(file), std::move(note)));
  source->Reload(Take(source->file_));
  if (source->tokens_ == nullptr) return source->error_;
  return source;
}

Result<std::shared_ptr<const AuthTokens>> TokenSource::Current() {
  const Stamp now = Take(file_);
  std::lock_guard<std::mutex> lock(mu_);
  if (!(now == stamp_)) {
    const bool was_usable = tokens_ != nullptr;
    const Status was_error = error_;
    Reload(now);
    if (note_) {
      if (tokens_ != nullptr) {
        note_(fmt::format("tokens file '{}' changed: reloaded, {} token(s) in force",
                          file_.string(), tokens_->entries().size()));
      } else if (was_usable || was_error.message() != error_.message()) {
        note_(
            fmt::format("tokens file changed and cannot be used, so every request is refused "
                        "until it is fixed: {}",
                        error_.message()));
      }
    }
  }
  if (tokens_ == nullptr) return error_;
  return tokens_;
}

void TokenSource::Reload(const Stamp& seen) {
  Result<AuthTokens> loaded = AuthTokens::Load(file_);
  // Changed while it was read: keep the stamp of before, so that the next
  // request reads the file again.
  const Stamp after = Take(file_);
  if (after == seen) {
    stamp_ = seen;
  } else {
    stamp_ = Stamp{};
    stamp_.size = -2;  // matches no file
  }
  if (!loaded.ok()) {
    tokens_ = nullptr;
    error_ = loaded.status();
    return;
  }
  tokens_ = std::make_shared<const AuthTokens>(std::move(loaded).value());
  error_ = Status::OK();
}

}  // namespace hoststub
