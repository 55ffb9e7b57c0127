// age X25519 keys: identities ("AGE-SECRET-KEY-1...", the secret a host
// keeps) and recipients ("age1...", the public key files are encrypted
// to), their Bech32 text forms, identity files as age-keygen writes them,
// and the wrapping of a file key into (and out of) an X25519 recipient
// stanza (age-encryption.org/v1, "The X25519 recipient type").
//
// Errors: bad key text throws bkp::Error(BKP_E_INVALID_ARGUMENT) naming
// where it came from but never quoting a secret (a post-quantum hybrid or
// plugin identity: BKP_E_UNSUPPORTED); an unreadable identity
// file throws BKP_E_IO / BKP_E_NOT_FOUND.
// Thread-safety: reentrant; keys are values.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "repo/crypto/age_primitives.h"

namespace age {

using FileKey = std::array<uint8_t, 16>;

struct Recipient {
  Key32 key{};
  std::string ToString() const;  // age1...
  bool operator==(const Recipient&) const = default;
};

struct Identity {
  Key32 secret{};
  Recipient recipient;           // derived from secret
  std::string ToString() const;  // AGE-SECRET-KEY-1..., a secret: never log it
  static Identity Generate();
  static Identity FromSecret(const Key32& secret);
};

// Parses "age1..."; `what` names its origin for the error.
Recipient ParseRecipient(const std::string& text, const std::string& what);
// Every identity in an identity file's text: one per line, blank lines and
// '#' comments ignored (the format age-keygen writes). At least one.
std::vector<Identity> ParseIdentities(const std::string& text, const std::string& what);
// Reads and parses the identity file at `path`.
std::vector<Identity> ReadIdentityFile(const std::string& path);

// One recipient stanza of a header: its arguments and its decoded body.
struct Stanza {
  std::vector<std::string> args;
  std::vector<uint8_t> body;
};

// The X25519 stanza wrapping `file_key` for `to` (a fresh ephemeral key).
Stanza WrapFileKey(const FileKey& file_key, const Recipient& to);
// The file key if `stanza` is an X25519 stanza addressed to `identity`;
// nullopt if it is of another type or for another key. Throws
// bkp::Error(BKP_E_CORRUPT) for an X25519 stanza that is malformed (the
// specification's MUST-reject cases).
std::optional<FileKey> UnwrapFileKey(const Stanza& stanza, const Identity& identity);

}  // namespace age
