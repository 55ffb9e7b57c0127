// GuardedHttpServer: cpp-httplib's server with its connection handling
// replaced, so that no client can hold the server's workers or memory:
//
//  * the request line and headers are read here first, whole, before
//    httplib parses them: they must arrive within header_timeout (408),
//    hold at most max_header_count lines and max_header_bytes bytes (431);
//  * a Content-Length above max_body_bytes is 413 before any of the body is
//    read; a chunked body is 411 (length required), a compressed one 415
//    (httplib would inflate it without bound);
//  * the whole body must arrive within body_timeout of the end of the
//    headers (408, sent at most one poll slice, 100 ms, after the deadline),
//    however steadily it trickles in: the read timeout bounds each read only;
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
// Everything else (routing, handlers, keep-alive) is httplib's: this class overrides only
// process_and_close_socket and calls httplib's own process_request.
//
// Thread-safety: as httplib::Server; configure (set_tls, routes) before
// listening. Connections are served concurrently on httplib's workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include <httplib.h>

#include "api/tls_server_context.h"

namespace hoststub {

struct HttpLimits {
  uint64_t max_body_bytes = uint64_t{8} << 20;
  uint32_t max_header_count = 64;
  uint64_t max_header_bytes = uint64_t{16} << 10;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  uint32_t max_connections_per_client = 8;
};

class GuardedHttpServer : public httplib::Server {
 public:
  explicit GuardedHttpServer(HttpLimits limits);

  // Serve HTTPS with `tls`; null (the default) serves plain HTTP.
  void set_tls(std::shared_ptr<TlsServerContext> tls) { tls_ = std::move(tls); }
  bool tls() const { return tls_ != nullptr; }
  const HttpLimits& limits() const { return limits_; }

  // Serves `input` as the bytes one client sent on one connection before
  // hanging up, and returns every byte the server sent back: the same
  // header checks, routing and handlers as a socket gets, minus TLS, the
  // per-client cap and the timeouts (everything has arrived). No socket is
  // needed, nor a listening server: for fuzzing the request handling
  // (tests/fuzz). May run concurrently with itself and with listening.
  std::string ServeBytes(std::string_view input);

  class Channel;  // a connection's byte source and sink (see the .cc)

 private:
  using Clock = std::chrono::steady_clock;
  using StopCheck = std::function<bool()>;

  bool process_and_close_socket(socket_t sock) override;
  // Serves the requests of one accepted connection.
  void ServeConnection(int fd);
  // Serves requests from `channel` until it ends, fails, is refused or
  // `stopping` says so. `accepted`: when the connection opened.
  void ServeRequests(Channel& channel, Clock::time_point accepted, const StopCheck& stopping);

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
