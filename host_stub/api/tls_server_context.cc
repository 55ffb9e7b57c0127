// Loading the admin API's certificate and key into an SSL_CTX.
#include "api/tls_server_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <string>

#include <fmt/format.h>

namespace hoststub {

std::string DrainOpenSslErrors() {
  std::string text;
  while (const unsigned long code = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text;
}

Result<std::shared_ptr<TlsServerContext>> TlsServerContext::Load(const std::filesystem::path& cert,
                                                                 const std::filesystem::path& key) {
  ERR_clear_error();
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) {
    return Status::IOError("cannot create a TLS context: " + DrainOpenSslErrors());
  }
  std::shared_ptr<TlsServerContext> owner(new TlsServerContext(ctx));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // The server's reads and writes are non-blocking and may be partial.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    return Status::InvalidArgument(
        fmt::format("[server] tls_cert '{}' is not a readable PEM certificate: {}", cert.string(),
                    DrainOpenSslErrors()));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status::InvalidArgument(
        fmt::format("[server] tls_key '{}' is not a readable PEM private key (unencrypted): {}",
                    key.string(), DrainOpenSslErrors()));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status::InvalidArgument(
        fmt::format("[server] tls_key '{}' does not belong to the certificate in tls_cert '{}': {}",
                    key.string(), cert.string(), DrainOpenSslErrors()));
  }
  return owner;
}

TlsServerContext::~TlsServerContext() { SSL_CTX_free(ctx_); }

}  // namespace hoststub
