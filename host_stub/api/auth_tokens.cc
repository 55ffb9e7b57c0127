// Tokens file parsing, salted hashing and constant-time matching (see
// auth_tokens.h), on OpenSSL's SHA-256, CSPRNG and CRYPTO_memcmp.
#include "api/auth_tokens.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace hoststub {
namespace {

constexpr size_t kTokenBytes = 32;
constexpr size_t kSaltBytes = 16;
constexpr size_t kHashBytes = 32;
constexpr std::string_view kTokenPrefix = "hst_";
constexpr std::string_view kHashScheme = "sha256";

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 0xf];
  }
  return out;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::optional<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexDigit(hex[i]);
    const int lo = HexDigit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

// SHA-256(salt || token); empty only if OpenSSL fails.
std::string SaltedHash(std::string_view salt, std::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (ctx == nullptr) return {};
  const bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
                  EVP_DigestUpdate(ctx, token.data(), token.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, &length) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || length != kHashBytes) return {};
  return std::string(reinterpret_cast<const char*>(digest), length);
}

Result<std::string> RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::IOError("OpenSSL's random generator failed; no token was made");
  }
  return out;
}

std::vector<std::string_view> SplitFields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

}  // namespace

const char* RoleName(Role role) {
  switch (role) {
    case Role::kRead:
      return "read";
    case Role::kWrite:
      return "write";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

Result<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kRead, Role::kWrite, Role::kAdmin}) {
    if (name == RoleName(role)) return role;
  }
  return Status::InvalidArgument(
      fmt::format("unknown role '{}' (accepted: read, write, admin)", name));
}

bool IsValidTokenName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

Status CheckPrivateFile(const std::filesystem::path& file, std::string_view what) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) {
    const int err = errno;
    std::string message =
        fmt::format("cannot read {} '{}': {}", what, file.string(), std::strerror(err));
    return err == ENOENT ? Status::NotFound(std::move(message))
                         : Status::IOError(std::move(message));
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Status::InvalidArgument(fmt::format(
        "{} '{}' has mode {:04o}: group or others may read or write it; make it private to its "
        "owner (chmod 600 '{}')",
        what, file.string(), st.st_mode & 07777, file.string()));
  }
  return Status::OK();
}

Result<AuthTokens> AuthTokens::Load(const std::filesystem::path& file) {
  HOSTSTUB_RETURN_IF_ERROR(CheckPrivateFile(file, "tokens file"));
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    return Status::IOError(
        fmt::format("cannot read tokens file '{}': {}", file.string(), std::strerror(errno)));
  }
  return Parse(text.str(), file.string());
}

Result<AuthTokens> AuthTokens::Parse(std::string_view text, std::string_view source) {
  AuthTokens tokens;
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const std::vector<std::string_view> fields = SplitFields(line);
    if (fields.empty() || fields[0].front() == '#') continue;
    auto error = [&](const std::string& what) {
      return Status::InvalidArgument(fmt::format("{}:{}: {}", source, line_number, what));
    };
    if (fields.size() != 3) {
      return error(fmt::format(
          "expected NAME ROLE sha256:SALT:HASH (as `hostd token create` writes), got {} fields",
          fields.size()));
    }
    TokenEntry entry;
    if (!IsValidTokenName(fields[0])) {
      return error(fmt::format("token name '{}' must be 1 to 64 of A-Z a-z 0-9 _ . -", fields[0]));
    }
    entry.name = std::string(fields[0]);
    Result<Role> role = ParseRole(fields[1]);
    if (!role.ok()) return error(role.status().message());
    entry.role = *role;
    const std::string_view hash = fields[2];
    const size_t colon1 = hash.find(':');
    const size_t colon2 = colon1 == std::string_view::npos ? colon1 : hash.find(':', colon1 + 1);
    std::optional<std::string> salt;
    std::optional<std::string> digest;
    if (colon2 != std::string_view::npos && hash.substr(0, colon1) == kHashScheme) {
      salt = FromHex(hash.substr(colon1 + 1, colon2 - colon1 - 1));
      digest = FromHex(hash.substr(colon2 + 1));
    }
    if (!salt || !digest || salt->empty() || digest->size() != kHashBytes) {
      return error(fmt::format(
          "the hash of token '{}' is not sha256:SALT:HASH in lower-case hex (a plain token "
          "does not belong in this file: add tokens with `hostd token create`)",
          entry.name));
    }
    entry.salt = std::move(*salt);
    entry.hash = std::move(*digest);
    for (const TokenEntry& earlier : tokens.entries_) {
      if (earlier.name == entry.name) {
        return error(fmt::format("token name '{}' is used twice", entry.name));
      }
    }
    tokens.entries_.push_back(std::move(entry));
  }
  if (tokens.entries_.empty()) {
    return Status::InvalidArgument(fmt::format(
        "tokens file '{}' holds no token, so no client could get in; add one with `hostd token "
        "create`",
        source));
  }
  return tokens;
}

const TokenEntry* AuthTokens::Authenticate(std::string_view presented) const {
  const TokenEntry* found = nullptr;
  for (const TokenEntry& entry : entries_) {
    const std::string hash = SaltedHash(entry.salt, presented);
    const bool match =
        hash.size() == kHashBytes && CRYPTO_memcmp(hash.data(), entry.hash.data(), kHashBytes) == 0;
    if (match) found = &entry;
  }
  return found;
}

Result<std::string> GenerateToken() {
  HOSTSTUB_ASSIGN_OR_RETURN(auto bytes, RandomBytes(kTokenBytes));
  return std::string(kTokenPrefix) + ToHex(bytes);
}

Result<std::string> TokenFileLine(std::string_view name, Role role, std::string_view token) {
  if (!IsValidTokenName(name)) {
    return Status::InvalidArgument(
        fmt::format("token name '{}' must be 1 to 64 of A-Z a-z 0-9 _ . -", name));
  }
  HOSTSTUB_ASSIGN_OR_RETURN(auto salt, RandomBytes(kSaltBytes));
  const std::string hash = SaltedHash(salt, token);
  if (hash.empty()) return Status::IOError("OpenSSL's SHA-256 failed; no token was added");
  return fmt::format("{} {} {}:{}:{}", name, RoleName(role), kHashScheme, ToHex(salt), ToHex(hash));
}

}  // namespace hoststub
