// age X25519 keys and stanzas (see age_keys.h).
#include "repo/crypto/age_keys.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bkp/bkp_plugin.hpp"
#include "repo/crypto/age_encoding.h"

namespace age {
namespace {

constexpr char kRecipientHrp[] = "age";
constexpr char kIdentityHrp[] = "AGE-SECRET-KEY-";
constexpr char kX25519Label[] = "age-encryption.org/v1/X25519";
constexpr char kStanzaType[] = "X25519";

// The wrap key of the stanza between `share` and `recipient`.
Key32 WrapKey(const Key32& shared, const Key32& share, const Key32& recipient) {
  std::array<uint8_t, 64> salt{};
  std::memcpy(salt.data(), share.data(), 32);
  std::memcpy(salt.data() + 32, recipient.data(), 32);
  return HkdfSha256(shared, salt, kX25519Label);
}

std::string TrimKeyLine(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

}  // namespace

std::string Recipient::ToString() const { return Bech32Encode(kRecipientHrp, key); }

std::string Identity::ToString() const { return Bech32Encode(kIdentityHrp, secret); }

Identity Identity::FromSecret(const Key32& secret) {
  Identity id;
  id.secret = secret;
  id.recipient.key = X25519Public(secret);
  return id;
}

Identity Identity::Generate() {
  Key32 secret{};
  RandomBytes(secret);
  return FromSecret(secret);
}

Recipient ParseRecipient(const std::string& text, const std::string& what) {
  const auto decoded = Bech32Decode(text);
  if (!decoded || decoded->hrp != kRecipientHrp || decoded->bytes.size() != 32 ||
      text.rfind("age1", 0) != 0) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     what + ": '" + text + "' is not an age X25519 recipient (age1...)");
  }
  Recipient r;
  std::memcpy(r.key.data(), decoded->bytes.data(), 32);
  return r;
}

std::vector<Identity> ParseIdentities(const std::string& text, const std::string& what) {
  std::vector<Identity> out;
  std::istringstream lines(text);
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    line = TrimKeyLine(line);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("AGE-SECRET-KEY-PQ-1", 0) == 0 || line.rfind("AGE-PLUGIN-", 0) == 0) {
      throw bkp::Error(BKP_E_UNSUPPORTED,
                       what + " line " + std::to_string(number) +
                           (line[4] == 'P' ? " is an age plugin identity"
                                           : " is a post-quantum hybrid (ML-KEM-768 + X25519) "
                                             "age identity") +
                           ", which is not supported here: use an X25519 one (age-keygen's "
                           "default, AGE-SECRET-KEY-1...)");
    }
    const auto decoded = Bech32Decode(line);
    // The line is a secret: the message names its place, never its text.
    if (!decoded || decoded->hrp != "age-secret-key-" || decoded->bytes.size() != 32 ||
        line.rfind("AGE-SECRET-KEY-1", 0) != 0) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                       what + " line " + std::to_string(number) +
                           " is not an age X25519 identity (AGE-SECRET-KEY-1..., as age-keygen "
                           "writes it)");
    }
    Key32 secret{};
    std::memcpy(secret.data(), decoded->bytes.data(), 32);
    out.push_back(Identity::FromSecret(secret));
  }
  if (out.empty()) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT, what + " holds no age identity (AGE-SECRET-KEY-1...)");
  }
  return out;
}

std::vector<Identity> ReadIdentityFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int err = errno;
    throw bkp::Error(err == ENOENT ? BKP_E_NOT_FOUND : BKP_E_IO,
                     "cannot read age identity file '" + path + "': " + std::strerror(err));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return ParseIdentities(text.str(), "age identity file '" + path + "'");
}

Stanza WrapFileKey(const FileKey& file_key, const Recipient& to) {
  const Identity ephemeral = Identity::Generate();
  Key32 shared{};
  if (!X25519Shared(ephemeral.secret, to.key, &shared)) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "recipient " + to.ToString() + " is a low-order point: not a usable key");
  }
  const Key32 share = ephemeral.recipient.key;
  ChaChaPoly aead(WrapKey(shared, share, to.key));
  const std::array<uint8_t, ChaChaPoly::kNonceBytes> nonce{};
  Stanza s;
  s.args = {kStanzaType, Base64Encode(share)};
  s.body.resize(file_key.size() + ChaChaPoly::kTagBytes);
  aead.Seal(nonce.data(), file_key.data(), file_key.size(), s.body.data());
  return s;
}

std::optional<FileKey> UnwrapFileKey(const Stanza& stanza, const Identity& identity) {
  if (stanza.args.empty() || stanza.args[0] != kStanzaType) return std::nullopt;
  if (stanza.args.size() != 2) {
    throw bkp::Error(BKP_E_CORRUPT, "an X25519 stanza has " + std::to_string(stanza.args.size()) +
                                        " arguments, not 2");
  }
  const auto share = Base64Decode(stanza.args[1]);
  if (!share || share->size() != 32) {
    throw bkp::Error(BKP_E_CORRUPT, "an X25519 stanza's share is not 32 bytes of base64");
  }
  if (stanza.body.size() != sizeof(FileKey) + ChaChaPoly::kTagBytes) {
    throw bkp::Error(BKP_E_CORRUPT, "an X25519 stanza's body is " +
                                        std::to_string(stanza.body.size()) + " bytes, not 32");
  }
  Key32 share_key{};
  std::memcpy(share_key.data(), share->data(), 32);
  Key32 shared{};
  if (!X25519Shared(identity.secret, share_key, &shared)) {
    throw bkp::Error(BKP_E_CORRUPT, "an X25519 stanza's share is a low-order point");
  }
  ChaChaPoly aead(WrapKey(shared, share_key, identity.recipient.key));
  const std::array<uint8_t, ChaChaPoly::kNonceBytes> nonce{};
  FileKey key{};
  if (!aead.Open(nonce.data(), stanza.body.data(), stanza.body.size(), key.data())) {
    return std::nullopt;  // for another recipient
  }
  return key;
}

}  // namespace age
