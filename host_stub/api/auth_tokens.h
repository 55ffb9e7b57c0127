// AuthTokens: the bearer tokens the admin API accepts, each with a name (who
// it was given to, for the audit log) and a role.
//
// The tokens file (`[server] auth_tokens_file`) holds one token per line:
//
//     NAME ROLE sha256:SALT:HASH
//
// NAME is 1 to 64 of [A-Za-z0-9_.-], unique in the file; ROLE is read, write
// or admin; SALT is 16 random bytes and HASH the SHA-256 of SALT followed by
// the token, both in lower-case hex. Blank lines and lines starting with '#'
// are ignored. The plain token is never stored: it is printed once by
// `hostd token create` and then only its holder has it. A token is 32
// random bytes, so a fast salted hash suffices (there is no dictionary to
// try); a slow KDF would only slow every request down.
//
// Roles are ordered: read (status, listings, reading events) < write
// (appending) < admin (backups, verify, delete, expire, cancel, compact); a
// token may do what its role and every lower one may.
//
// The file must be private to its owner: a group or other permission bit set
// is refused, since whoever can write it can add a token and whoever can read
// it learns who holds which role.
//
// Thread-safety: a loaded AuthTokens is immutable; Authenticate may be called
// from any number of threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace hoststub {

enum class Role : uint8_t { kRead = 0, kWrite = 1, kAdmin = 2 };

// "read", "write", "admin".
const char* RoleName(Role role);
// The Role for a name; InvalidArgument naming the accepted ones otherwise.
Result<Role> ParseRole(std::string_view name);

// Whether `name` is a valid token name (1 to 64 of [A-Za-z0-9_.-]).
bool IsValidTokenName(std::string_view name);

struct TokenEntry {
  std::string name;
  Role role = Role::kRead;
  std::string salt;  // raw bytes
  std::string hash;  // raw SHA-256 of salt + token
};

class AuthTokens {
 public:
  // Reads and checks `file`: permissions (no group/other bits), then each
  // line. Errors name the file (and line); a file with no token at all is an
  // error too, as it would lock every client out.
  static Result<AuthTokens> Load(const std::filesystem::path& file);
  // Parses the text of a tokens file; `source` names it in errors.
  static Result<AuthTokens> Parse(std::string_view text, std::string_view source);

  // The entry whose token `presented` is, or nullptr. Every entry is hashed
  // and compared in constant time, whichever matches, so the time taken
  // does not tell how much of a guess was right or which entry it was near.
  const TokenEntry* Authenticate(std::string_view presented) const;

  const std::vector<TokenEntry>& entries() const { return entries_; }

 private:
  std::vector<TokenEntry> entries_;
};

// A new token: "hst_" and 64 hex digits of 32 random bytes from OpenSSL's
// CSPRNG. IOError if the generator fails.
Result<std::string> GenerateToken();

// The tokens-file line (without newline) for `token`, with a fresh salt.
Result<std::string> TokenFileLine(std::string_view name, Role role, std::string_view token);

// Refuses a file that group or others may read or write, naming its mode.
Status CheckPrivateFile(const std::filesystem::path& file, std::string_view what);

}  // namespace hoststub
