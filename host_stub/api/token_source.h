// TokenSource: the admin API's tokens file as it is now, so that adding or
// revoking a token needs no restart. Before each request the file is
// stat()ed (about a microsecond); when its device, inode, size, mtime or
// ctime differ from the copy in use (an edit, a replacement by rename, a
// chmod), it is read and checked again exactly as at start, permissions
// included (AuthTokens::Load).
//
// A file that no longer passes (malformed, shared with group or others,
// gone) fails closed: Current() returns its error, and the server answers
// every request 503 until the file is fixed, rather than keep honouring
// tokens the operator may just have revoked. Each change of state (reloaded,
// unusable) is reported once through the `note` callback.
//
// A file rewritten in place while it is read may be seen half written; the
// stamp is then taken again after the read, and a change during it makes the
// next request read the file once more.
//
// Thread-safety: Current may be called from any number of threads; reloads
// are serialised. Ownership: a returned AuthTokens stays valid for as long
// as its holder keeps the shared_ptr, a reload notwithstanding.
#pragma once

#include <sys/types.h>

#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "api/auth_tokens.h"
#include "util/status.h"

namespace hoststub {

class TokenSource {
 public:
  using Note = std::function<void(const std::string& line)>;

  // Loads `file`; its error (naming the file) if it does not pass. `note`
  // may be empty.
  static Result<std::unique_ptr<TokenSource>> Open(std::filesystem::path file, Note note);

  // The tokens in force now (re-read first if the file changed), or why the
  // file cannot be used.
  Result<std::shared_ptr<const AuthTokens>> Current();

  const std::filesystem::path& file() const { return file_; }

 private:
  // What identifies one version of the file.
  struct Stamp {
    dev_t device = 0;
    ino_t inode = 0;
    off_t size = -1;
    timespec mtime{};
    timespec ctime{};
    bool operator==(const Stamp& other) const;
  };
  static Stamp Take(const std::filesystem::path& file);

  TokenSource(std::filesystem::path file, Note note)
      : file_(std::move(file)), note_(std::move(note)) {}
  void Reload(const Stamp& seen);

  const std::filesystem::path file_;
  const Note note_;
  std::mutex mu_;
  Stamp stamp_;                               // guarded by mu_
  std::shared_ptr<const AuthTokens> tokens_;  // guarded by mu_; null while unusable
  Status error_;                              // guarded by mu_; why tokens_ is null
};

}  // namespace hoststub
