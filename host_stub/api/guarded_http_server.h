// GuardedHttpServer: cpp-httplib's server with its connection handling
// replaced, so that no client can hold the server's workers or memory:
//
//  * the request line and headers are read here first, whole, before
//    httplib parses them: they must arrive within header_timeout (408),
//    hold at most max_header_count lines and max_header_bytes bytes (431);
//  * a Content-Length above max_body_bytes is 413 before any of the body is
//    read; a chunked body is 411 (length required), a compressed one 415
//    (httplib would inflate it without bound);
//  * each client address may hold max_connections_per_client connections;
//    one more is answered 429;
//  * optionally TLS (OpenSSL), its handshake bounded by header_timeout too.
//
// Every refusal is a JSON {"error": ...} reply with `Connection: close`,
// after which the connection is closed (input drained for a moment first, so
// that the client reads the reply rather than a reset). A request whose body
// the handlers did not read (refused by the pre-routing handler) also ends
// its connection, since the unread body would be taken for the next request.
//
// Everything else (routing, handlers, keep-alive, body reads bounded per read
// by the read timeout) is httplib's: this class overrides only
// process_and_close_socket and calls httplib's own process_request.
//
// Thread-safety: as httplib::Server; configure (set_tls, routes) before
// listening. Connections are served concurrently on httplib's workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <httplib.h>

#include "api/tls_server_context.h"

namespace hoststub {

struct HttpLimits {
  uint64_t max_body_bytes = uint64_t{8} << 20;
  uint32_t max_header_count = 64;
  uint64_t max_header_bytes = uint64_t{16} << 10;
  std::chrono::milliseconds header_timeout{10'000};
  uint32_t max_connections_per_client = 8;
};

class GuardedHttpServer : public httplib::Server {
 public:
  explicit GuardedHttpServer(HttpLimits limits);

  // Serve HTTPS with `tls`; null (the default) serves plain HTTP.
  void set_tls(std::shared_ptr<TlsServerContext> tls) { tls_ = std::move(tls); }
  bool tls() const { return tls_ != nullptr; }
  const HttpLimits& limits() const { return limits_; }

 private:
  bool process_and_close_socket(socket_t sock) override;
  // Serves the requests of one accepted connection.
  void ServeConnection(int fd);

  // How many connections each client address holds.
  class ClientCounts {
   public:
    bool Acquire(const std::string& address, uint32_t cap);
    void Release(const std::string& address);

   private:
    std::mutex mu_;
    std::map<std::string, uint32_t> counts_;
  };

  const HttpLimits limits_;
  std::shared_ptr<TlsServerContext> tls_;
  ClientCounts clients_;
};

}  // namespace hoststub
