// The age-encrypting storage driver (see encrypted_driver.h).
#include "repo/encrypted_driver.h"

#include <limits>
#include <optional>

#include "repo/crypto/age_file.h"

namespace repo {
namespace {

constexpr const char* kScheme = "age-v1-x25519";
constexpr const char* kNameKeyLabel = "eventstore-backup repository object names v1";
constexpr const char* kKeyCheckLabel = "eventstore-backup repository key check v1";
// An X25519 stanza's lines, and the version and MAC lines around them.
constexpr uint64_t kStanzaBytes = 98;
constexpr uint64_t kHeaderFrameBytes = 22 + 48;

std::string Hex(const uint8_t* bytes, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[bytes[i] >> 4];
    out += kDigits[bytes[i] & 15];
  }
  return out;
}

std::span<const uint8_t> Bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

class EncryptingWriter : public ObjectWriter {
 public:
  EncryptingWriter(std::unique_ptr<ObjectWriter> inner, const std::vector<age::Recipient>& to)
      : inner_(std::move(inner)),
        encryptor_(to, [this](const uint8_t* data, size_t len) { inner_->Append(data, len); }) {}

  void Append(const void* data, size_t len) override { encryptor_.Update(data, len); }

  void Commit(const std::string& key) override { Seal(key)->Commit(key); }

  // Writes the encryption's last bytes and hands back the inner writer,
  // ready to commit under `key` (EncryptedDriver::CommitBatch). This writer
  // is spent.
  std::unique_ptr<ObjectWriter> Seal(const std::string& key) {
    if (EncryptedDriver::IsPlainKey(key)) {
      throw bkp::Error(BKP_E_INTERNAL, "'" + key + "' is stored plain, not through an encryptor");
    }
    encryptor_.Finish();
    return std::move(inner_);
  }

  uint64_t StoredBytes(uint64_t appended) const override { return encryptor_.FileBytes(appended); }

 private:
  std::unique_ptr<ObjectWriter> inner_;  // before encryptor_: it takes the header at once
  age::Encryptor encryptor_;
};

class DecryptingReader : public ObjectReader {
 public:
  DecryptingReader(std::unique_ptr<ObjectReader> inner,
                   const std::vector<age::Identity>& identities, const std::string& what)
      : inner_(std::move(inner)),
        decryptor_(
            identities, [this](void* buf, size_t len) { return inner_->Read(buf, len); }, what) {
    const uint64_t stored = inner_->size();
    std::optional<uint64_t> plain;
    if (stored >= decryptor_.header_bytes()) {
      plain = age::PlainBytes(stored - decryptor_.header_bytes());
    }
    // Known before the first chunk, so GetSmall's size limit still applies.
    if (!plain) {
      throw bkp::Error(BKP_E_CORRUPT, what + " is " + std::to_string(stored) +
                                          " bytes, which no whole age file of its header is: "
                                          "truncated or extended");
    }
    size_ = *plain;
  }

  size_t Read(void* buf, size_t len) override { return decryptor_.Read(buf, len); }
  uint64_t size() const override { return size_; }

 private:
  std::unique_ptr<ObjectReader> inner_;  // before decryptor_: it reads the header at once
  age::Decryptor decryptor_;
  uint64_t size_ = 0;
};

}  // namespace

EncryptedDriver::EncryptedDriver(std::shared_ptr<StorageDriver> inner, age::Identity identity,
                                 std::vector<age::Recipient> extra_recipients)
    : inner_(std::move(inner)) {
  recipients_.push_back(identity.recipient);
  for (const auto& r : extra_recipients) {
    if (r != identity.recipient) recipients_.push_back(r);
  }
  name_key_ = age::HkdfSha256(identity.secret, {}, kNameKeyLabel);
  identities_.push_back(std::move(identity));
}

bool EncryptedDriver::IsPlainKey(const std::string& key) {
  return key == "format.json" || key.rfind("locks/", 0) == 0;
}

std::string EncryptedDriver::KeyCheck() const {
  const age::Key32 check = age::HmacSha256(name_key_, Bytes(kKeyCheckLabel));
  return Hex(check.data(), 16);
}

void EncryptedDriver::CommitBatch(std::vector<PendingObject>& batch) {
  // The inner driver commits what the encryptors wrote, as one batch. A
  // writer of a plain key (CreateAt) is the inner driver's already.
  for (auto& pending : batch) {
    if (auto* writer = dynamic_cast<EncryptingWriter*>(pending.writer.get())) {
      pending.writer = writer->Seal(pending.key);
    }
  }
  inner_->CommitBatch(batch);
}

std::string EncryptedDriver::Describe() const { return inner_->Describe(); }

std::string EncryptedDriver::ContentName(const std::string& xxh128_hex) const {
  const age::Key32 mac = age::HmacSha256(name_key_, Bytes(xxh128_hex));
  return Hex(mac.data(), 16);  // the same form as an XXH128: 32 hex digits
}

std::unique_ptr<ObjectWriter> EncryptedDriver::Create() {
  return std::make_unique<EncryptingWriter>(inner_->Create(), recipients_);
}

std::unique_ptr<ObjectWriter> EncryptedDriver::CreateAt(const std::string& key) {
  if (IsPlainKey(key)) return inner_->CreateAt(key);
  return std::make_unique<EncryptingWriter>(inner_->CreateAt(key), recipients_);
}

uint64_t EncryptedDriver::MaxUnnamedObjectSize() const {
  const uint64_t max = inner_->MaxUnnamedObjectSize();
  if (max == std::numeric_limits<uint64_t>::max()) return max;
  const uint64_t overhead =
      kHeaderFrameBytes + kStanzaBytes * recipients_.size() + age::PayloadBytes(max) - max;
  return max > overhead ? max - overhead : 0;
}

std::unique_ptr<ObjectReader> EncryptedDriver::Open(const std::string& key) {
  if (IsPlainKey(key)) return inner_->Open(key);
  return std::make_unique<DecryptingReader>(inner_->Open(key), identities_,
                                            "'" + key + "' in " + Describe());
}

std::shared_ptr<StorageDriver> WithEncryptionSettings(std::shared_ptr<StorageDriver> driver,
                                                      const bkp::Settings& settings,
                                                      RepositoryOptions* options) {
  const auto identity_path = settings.get_string("encryption_identity");
  const auto recipients_text = settings.get_string("encryption_recipients");
  if (!identity_path) {
    if (recipients_text) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                       "setting 'encryption_recipients' needs 'encryption_identity' too: the "
                       "provider reads what it writes");
    }
    return driver;
  }
  std::vector<age::Identity> identities;
  try {
    identities = age::ReadIdentityFile(*identity_path);
  } catch (const bkp::Error& e) {
    throw bkp::Error(e.status(), std::string("setting 'encryption_identity': ") + e.what());
  }
  std::vector<age::Recipient> extra;
  if (recipients_text) {
    std::string word;
    const std::string text = *recipients_text + " ";
    for (char c : text) {
      if (c == ' ' || c == ',' || c == '\t' || c == '\n') {
        if (!word.empty())
          extra.push_back(age::ParseRecipient(word, "setting 'encryption_recipients'"));
        word.clear();
      } else {
        word += c;
      }
    }
  }
  // The file's first identity writes and names; age-keygen writes one.
  auto encrypted =
      std::make_shared<EncryptedDriver>(std::move(driver), identities.front(), std::move(extra));
  options->encryption = kScheme;
  options->encryption_key_check = encrypted->KeyCheck();
  return encrypted;
}

}  // namespace repo
