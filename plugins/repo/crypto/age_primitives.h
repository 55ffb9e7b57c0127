// The cryptographic primitives the age format (age_file.h) is built from,
// each a thin call into OpenSSL 3's libcrypto: X25519, HKDF-SHA-256,
// HMAC-SHA-256, ChaCha20-Poly1305 and its CSPRNG. Nothing below these is
// written here; the age construction on top of them is.
//
// Errors: a libcrypto failure throws bkp::Error(BKP_E_INTERNAL) naming the
// call; a failed authentication is a return value, not an exception.
// Thread-safety: every function is reentrant; a ChaChaPoly belongs to one
// thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

struct evp_cipher_ctx_st;

namespace age {

using Key32 = std::array<uint8_t, 32>;

// Fills `out` from OpenSSL's CSPRNG.
void RandomBytes(std::span<uint8_t> out);

// X25519(scalar, basepoint): the public key of a secret.
Key32 X25519Public(const Key32& secret);
// X25519(scalar, point) per RFC 7748. Returns false when the result is all
// zero (a low-order point), which age requires refusing.
bool X25519Shared(const Key32& secret, const Key32& peer, Key32* shared);

// HKDF-SHA-256 (RFC 5869), extract then expand, 32 bytes of output.
Key32 HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                 std::string_view info);

Key32 HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// Constant-time equality, for MACs.
bool EqualConstantTime(std::span<const uint8_t> a, std::span<const uint8_t> b);

// ChaCha20-Poly1305 (RFC 7539) under one key, many nonces: the key
// schedule is set once per key, each chunk only resets the nonce.
class ChaChaPoly {
 public:
  static constexpr size_t kTagBytes = 16;
  static constexpr size_t kNonceBytes = 12;
  explicit ChaChaPoly(const Key32& key);
  ~ChaChaPoly();
  ChaChaPoly(const ChaChaPoly&) = delete;
  ChaChaPoly& operator=(const ChaChaPoly&) = delete;

  // Encrypts `plain` into `out` (plain.size() + kTagBytes long, the tag
  // last). `out` may be `plain`'s own memory.
  void Seal(const uint8_t* nonce, const uint8_t* plain, size_t len, uint8_t* out);
  // Decrypts `sealed` (len bytes, the tag last) into `out` (len - kTagBytes
  // bytes). False if it does not authenticate; `out` then holds garbage.
  bool Open(const uint8_t* nonce, const uint8_t* sealed, size_t len, uint8_t* out);

 private:
  evp_cipher_ctx_st* enc_ = nullptr;
  evp_cipher_ctx_st* dec_ = nullptr;
};

}  // namespace age
