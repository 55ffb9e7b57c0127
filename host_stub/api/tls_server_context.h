// TlsServerContext: the OpenSSL server context of the admin API, loaded from
// a PEM certificate (chain) and private key. TLS 1.2 and later only.
//
// Ownership: owns its SSL_CTX (freed on destruction); get() lends it.
// Thread-safety: once loaded, SSL_new on it may be called from any thread.
#pragma once

#include <filesystem>
#include <memory>

#include "util/status.h"

struct ssl_ctx_st;

namespace hoststub {

class TlsServerContext {
 public:
  // Errors name the file at fault and OpenSSL's reason (unreadable, not PEM,
  // key does not match the certificate).
  static Result<std::shared_ptr<TlsServerContext>> Load(const std::filesystem::path& cert,
                                                        const std::filesystem::path& key);
  ~TlsServerContext();
  TlsServerContext(const TlsServerContext&) = delete;
  TlsServerContext& operator=(const TlsServerContext&) = delete;

  ssl_ctx_st* get() const { return ctx_; }

 private:
  explicit TlsServerContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  ssl_ctx_st* ctx_;
};

// OpenSSL's queued errors as one line (and the queue emptied); "" if none.
std::string DrainOpenSslErrors();

}  // namespace hoststub
