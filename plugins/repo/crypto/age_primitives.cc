// OpenSSL 3 calls behind the age primitives (see age_primitives.h).
#include "repo/crypto/age_primitives.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <memory>
#include <string>

#include "bkp/bkp_plugin.hpp"

namespace age {
namespace {

[[noreturn]] void Fail(const char* call) {
  throw bkp::Error(BKP_E_INTERNAL, std::string("OpenSSL ") + call + " failed");
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct KdfCtxFree {
  void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

Pkey PrivateKey(const Key32& secret) {
  Pkey key(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, secret.data(), secret.size()));
  if (!key) Fail("EVP_PKEY_new_raw_private_key(X25519)");
  return key;
}

// Fetched once: a fetch per call would cost a lock and a lookup every chunk.
EVP_KDF* Hkdf() {
  static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) Fail("EVP_KDF_fetch(HKDF)");
  return kdf;
}

}  // namespace

void RandomBytes(std::span<uint8_t> out) {
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) Fail("RAND_bytes");
}

Key32 X25519Public(const Key32& secret) {
  const Pkey key = PrivateKey(secret);
  Key32 out{};
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), out.data(), &len) != 1 || len != out.size()) {
    Fail("EVP_PKEY_get_raw_public_key(X25519)");
  }
  return out;
}

bool X25519Shared(const Key32& secret, const Key32& peer, Key32* shared) {
  const Pkey mine = PrivateKey(secret);
  const Pkey theirs(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, peer.data(), peer.size()));
  if (!theirs) Fail("EVP_PKEY_new_raw_public_key(X25519)");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(mine.get(), nullptr));
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) Fail("EVP_PKEY_derive_init(X25519)");
  // OpenSSL itself refuses a low-order peer (an all-zero result): that is
  // the refusal age asks for, reported as such rather than as a failure.
  if (EVP_PKEY_derive_set_peer(ctx.get(), theirs.get()) != 1) return false;
  size_t len = shared->size();
  if (EVP_PKEY_derive(ctx.get(), shared->data(), &len) != 1) return false;
  const Key32 zero{};
  return len == shared->size() && !EqualConstantTime(*shared, zero);
}

Key32 HkdfSha256(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                 std::string_view info) {
  std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(Hkdf()));
  if (!ctx) Fail("EVP_KDF_CTX_new(HKDF)");
  char digest[] = "SHA256";
  // An empty salt must still be passed as a (zero-length) parameter.
  static const uint8_t kNoSalt = 0;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
                                        const_cast<uint8_t*>(salt.empty() ? &kNoSalt : salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  Key32 out{};
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) Fail("EVP_KDF_derive(HKDF)");
  return out;
}

Key32 HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  Key32 out{};
  size_t len = 0;
  if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.data(), key.size(), data.data(),
                data.size(), out.data(), out.size(), &len) == nullptr ||
      len != out.size()) {
    Fail("EVP_Q_mac(HMAC-SHA256)");
  }
  return out;
}

bool EqualConstantTime(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

ChaChaPoly::ChaChaPoly(const Key32& key) : enc_(EVP_CIPHER_CTX_new()), dec_(EVP_CIPHER_CTX_new()) {
  if (enc_ == nullptr || dec_ == nullptr ||
      EVP_EncryptInit_ex(enc_, EVP_chacha20_poly1305(), nullptr, key.data(), nullptr) != 1 ||
      EVP_DecryptInit_ex(dec_, EVP_chacha20_poly1305(), nullptr, key.data(), nullptr) != 1) {
    EVP_CIPHER_CTX_free(enc_);
    EVP_CIPHER_CTX_free(dec_);
    Fail("EVP_CipherInit_ex(ChaCha20-Poly1305)");
  }
}

ChaChaPoly::~ChaChaPoly() {
  EVP_CIPHER_CTX_free(enc_);
  EVP_CIPHER_CTX_free(dec_);
}

void ChaChaPoly::Seal(const uint8_t* nonce, const uint8_t* plain, size_t len, uint8_t* out) {
  int n = 0;
  int tail = 0;
  if (EVP_EncryptInit_ex(enc_, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_EncryptUpdate(enc_, out, &n, plain, static_cast<int>(len)) != 1 ||
      EVP_EncryptFinal_ex(enc_, out + n, &tail) != 1 ||
      EVP_CIPHER_CTX_ctrl(enc_, EVP_CTRL_AEAD_GET_TAG, kTagBytes, out + len) != 1) {
    Fail("ChaCha20-Poly1305 encryption");
  }
}

bool ChaChaPoly::Open(const uint8_t* nonce, const uint8_t* sealed, size_t len, uint8_t* out) {
  if (len < kTagBytes) return false;
  const size_t plain = len - kTagBytes;
  int n = 0;
  int tail = 0;
  if (EVP_DecryptInit_ex(dec_, nullptr, nullptr, nullptr, nonce) != 1 ||
      EVP_CIPHER_CTX_ctrl(dec_, EVP_CTRL_AEAD_SET_TAG, kTagBytes,
                          const_cast<uint8_t*>(sealed + plain)) != 1 ||
      EVP_DecryptUpdate(dec_, out, &n, sealed, static_cast<int>(plain)) != 1) {
    Fail("ChaCha20-Poly1305 decryption");
  }
  return EVP_DecryptFinal_ex(dec_, out + n, &tail) == 1;
}

}  // namespace age
