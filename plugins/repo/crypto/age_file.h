// Streaming encryption and decryption of age v1 files
// (age-encryption.org/v1): a text header that wraps a fresh 128-bit file
// key for each X25519 recipient and ends in an HMAC-SHA-256 of itself, then
// the payload in 64 KiB ChaCha20-Poly1305 chunks (STREAM: a chunk counter
// and a last-chunk flag in each nonce, so truncation, reordering and
// appending are all detected). What is written here, the stock `age -d`
// reads, and the other way round.
//
// Memory is bounded whatever the file's size: the encryptor holds one
// chunk (~64 KiB), the decryptor one chunk and ~1 MiB of sealed bytes read
// ahead (so the source is read in large pieces).
//
// Errors: a file that is not age v1, is damaged, truncated, tampered with
// or not encrypted to any of the given identities throws
// bkp::Error(BKP_E_CORRUPT) naming `what`; a valid age file of a kind not
// read here (ASCII armor, an scrypt passphrase, a post-quantum hybrid
// recipient) throws BKP_E_UNSUPPORTED saying which; errors of the sink or
// source pass through.
// Thread-safety: an Encryptor or Decryptor belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "repo/crypto/age_keys.h"

namespace age {

inline constexpr size_t kChunkBytes = 64 * 1024;
inline constexpr size_t kSealedChunkBytes = kChunkBytes + ChaChaPoly::kTagBytes;
inline constexpr size_t kPayloadNonceBytes = 16;

// The payload's size (the nonce and every sealed chunk) for `plain` bytes.
uint64_t PayloadBytes(uint64_t plain);
// The inverse: the plaintext size a payload of `payload` bytes holds, or
// nullopt if no plaintext gives that size (a truncated or padded file).
std::optional<uint64_t> PlainBytes(uint64_t payload);

class Encryptor {
 public:
  using Sink = std::function<void(const uint8_t* data, size_t len)>;
  // Writes the header to `sink` at once. `to` must not be empty.
  Encryptor(const std::vector<Recipient>& to, Sink sink);
  ~Encryptor();
  Encryptor(const Encryptor&) = delete;
  Encryptor& operator=(const Encryptor&) = delete;

  void Update(const void* data, size_t len);
  // Seals the final chunk. Nothing may be written after.
  void Finish();

  uint64_t header_bytes() const { return header_bytes_; }
  // The file's whole size once `plain` bytes are written and it is finished.
  uint64_t FileBytes(uint64_t plain) const { return header_bytes_ + PayloadBytes(plain); }

 private:
  void Seal(bool last);
  Sink sink_;
  uint64_t header_bytes_ = 0;
  std::unique_ptr<ChaChaPoly> aead_;
  std::unique_ptr<uint8_t[]> chunk_;  // kSealedChunkBytes
  size_t chunk_len_ = 0;
  uint64_t counter_ = 0;
  bool finished_ = false;
};

class Decryptor {
 public:
  // Up to `len` bytes of the file; 0 only at its end.
  using Source = std::function<size_t(void* buf, size_t len)>;
  // Reads and authenticates the header with the first identity that opens
  // one of its stanzas.
  Decryptor(const std::vector<Identity>& identities, Source source, std::string what);
  ~Decryptor();
  Decryptor(const Decryptor&) = delete;
  Decryptor& operator=(const Decryptor&) = delete;

  // Up to `len` bytes of plaintext, each chunk authenticated before any of
  // it is returned; 0 only after the final chunk checked out and nothing
  // followed it. A chunk that fails after others were read into `buf`
  // throws on the next call, so those are never lost to it.
  size_t Read(void* buf, size_t len);

  uint64_t header_bytes() const { return header_bytes_; }

 private:
  size_t Fill(size_t want);  // reads until in_len_ >= want or the end
  // Authenticates the next chunk into `into` (kChunkBytes of room);
  // returns its plaintext's length.
  size_t OpenChunk(uint8_t* into);
  Source source_;
  std::string what_;
  uint64_t header_bytes_ = 0;
  std::unique_ptr<ChaChaPoly> aead_;
  std::unique_ptr<uint8_t[]> in_;  // sealed bytes read ahead
  size_t in_at_ = 0;               // where the unread ones start
  size_t in_len_ = 0;              // how many there are
  bool source_done_ = false;
  std::unique_ptr<uint8_t[]> plain_;  // the current chunk's plaintext
  size_t plain_len_ = 0;
  size_t plain_at_ = 0;
  uint64_t counter_ = 0;
  bool done_ = false;
  bool trailing_ = false;       // the final chunk opened, but bytes follow it
  std::exception_ptr pending_;  // a chunk's failure, for the next Read
};

// Whole-buffer helpers for small files (manifests, records, tests).
std::string EncryptString(const std::vector<Recipient>& to, const std::string& plain);
std::string DecryptString(const std::vector<Identity>& identities, const std::string& file,
                          const std::string& what);

}  // namespace age
