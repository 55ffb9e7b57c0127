// EncryptedDriver: a StorageDriver over another that stores every object as
// an age v1 file (crypto/age_file.h), so the stock `age -d -i KEY` opens
// any of them and finds inside what an unencrypted repository stores (an
// LZ4 frame, a JSON manifest or record). Only format.json (which says the
// repository is encrypted, never with what key) and locks/ (who works on
// it) stay plain: they are read before, or without, any key.
//
// Files are encrypted to the identity's recipient plus any extra recipients
// (an offline recovery key); they are read with the identity. Object names
// are a keyed hash (HMAC-SHA-256 of the XXH128 the engine computes anyway,
// under a key derived from the identity by HKDF), so a name cannot be
// checked against a guessed file, while equal content still gets one name
// (deduplication and reuse keep working).
//
// Errors: a file that does not decrypt (damaged, truncated, swapped,
// encrypted to another key) is bkp::Error(BKP_E_CORRUPT) naming its key;
// the inner driver's errors pass through.
// Thread-safety: as the inner driver's; the keys are read-only after
// construction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "bkp/bkp_plugin.hpp"
#include "repo/crypto/age_keys.h"
#include "repo/repository.h"
#include "repo/storage_driver.h"

namespace repo {

class EncryptedDriver : public StorageDriver {
 public:
  // `identity` reads and names; files are encrypted to its recipient and
  // `extra_recipients`.
  EncryptedDriver(std::shared_ptr<StorageDriver> inner, age::Identity identity,
                  std::vector<age::Recipient> extra_recipients);

  // Whether `key` is stored plain (format.json, locks/).
  static bool IsPlainKey(const std::string& key);
  // What format.json records of this encryption: a check value of the
  // naming key (HMAC of a fixed label), which tells a wrong identity from
  // the right one and reveals nothing of either key.
  std::string KeyCheck() const;

  std::string Describe() const override;
  std::string ContentName(const std::string& xxh128_hex) const override;
  std::unique_ptr<ObjectWriter> Create() override;
  std::unique_ptr<ObjectWriter> CreateAt(const std::string& key) override;
  uint64_t MaxUnnamedObjectSize() const override;
  bool CommitWaitsOnStorage() const override { return inner_->CommitWaitsOnStorage(); }
  void CommitBatch(std::vector<PendingObject>& batch) override;
  std::unique_ptr<ObjectReader> Open(const std::string& key) override;
  void Prefetch(const std::string& key) override { inner_->Prefetch(key); }
  std::optional<uint64_t> Stat(const std::string& key) override { return inner_->Stat(key); }
  std::vector<ObjectInfo> List(const std::string& prefix) override { return inner_->List(prefix); }
  void Remove(const std::vector<std::string>& keys) override { inner_->Remove(keys); }
  uint64_t RemoveAbandonedWrites(std::chrono::seconds idle) override {
    return inner_->RemoveAbandonedWrites(idle);
  }

 private:
  std::shared_ptr<StorageDriver> inner_;
  std::vector<age::Identity> identities_;   // the one identity, as the decryptor takes them
  std::vector<age::Recipient> recipients_;  // the identity's first
  age::Key32 name_key_{};
};

// Reads `encryption_identity` and `encryption_recipients`: with an
// identity, returns `driver` wrapped in an EncryptedDriver and sets
// `options`'s encryption fields; without, returns `driver` as it is.
// Throws bkp::Error naming the setting: BKP_E_INVALID_ARGUMENT for
// recipients without an identity or a malformed key, BKP_E_NOT_FOUND /
// BKP_E_IO for an unreadable identity file.
std::shared_ptr<StorageDriver> WithEncryptionSettings(std::shared_ptr<StorageDriver> driver,
                                                      const bkp::Settings& settings,
                                                      RepositoryOptions* options);

}  // namespace repo
