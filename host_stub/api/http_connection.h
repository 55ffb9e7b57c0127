// HttpConnection: the HTTP/1.1 client transport under AdminClient. One
// keep-alive TCP connection to one host and port, opened on first use and
// again after a failed call, a `Connection: close` reply, a Close(), or when
// the server closed it while idle. Each exchange is synchronous and bounded
// by timeouts: connect_timeout for connecting, io_timeout for each read or
// write on the socket (so a large reply may take longer in total, as long as
// it keeps arriving).
//
// Knows nothing of the admin API: the target is sent byte for byte as given
// (the caller percent-encodes), the body is passed through as JSON, and a
// reply of any status is a reply. Errors are the transport's only.
//
// Boost.Beast stays behind this header (pimpl), so code that includes
// admin_client.h does not compile Asio.
//
// Thread-safety: not thread-safe; one connection, one exchange at a time.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace hoststub {

struct HttpConnectionOptions {
  // A host name ("localhost"), an IPv4 literal, or an IPv6 literal without
  // brackets ("::1").
  std::string host = "127.0.0.1";
  uint16_t port = 8124;  // the admin API's default
  std::chrono::milliseconds connect_timeout{5'000};
  // Per read/write on the socket; an append under fsync may take a while.
  std::chrono::milliseconds io_timeout{60'000};
  // HTTPS: TLS 1.2 or later, the server's certificate checked against
  // `ca_file` (PEM; empty: the system's trusted CAs) and against `host`.
  bool tls = false;
  std::string ca_file{};
  // Sent as `Authorization: Bearer TOKEN` with every request when set.
  std::string bearer_token{};
};

// "HOST:PORT", an IPv6 literal in brackets: as a URL and the Host header
// write it.
std::string HostPort(const HttpConnectionOptions& options);

struct HttpRequest {
  std::string_view method;  // "GET", "POST", "DELETE", ...
  std::string_view target;  // path and query, already percent-encoded
  // Sent with Content-Type: application/json when set; not owned.
  const std::string* json_body = nullptr;
};

struct HttpReply {
  int status = 0;
  std::string body;  // chunked replies arrive joined
};

// Why no reply arrived.
struct HttpTransportError {
  enum class Kind {
    kResolve,         // the host name did not resolve
    kConnect,         // refused, unreachable, ... (detail says which)
    kConnectTimeout,  // no connection within connect_timeout
    kWrite,           // sending the request failed or timed out
    kRead,            // the connection closed or timed out before a full reply
    kTls,             // the TLS handshake failed (certificate not trusted, ...)
  };
  Kind kind = Kind::kConnect;
  std::string detail;  // the system's words, e.g. "Connection refused"
};

class HttpConnection {
 public:
  explicit HttpConnection(HttpConnectionOptions options);
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends `request` and waits for the whole reply. On success fills `reply`
  // and returns nullopt; otherwise returns the error, leaves `reply` empty
  // and closes the connection (the next call opens a new one). A request
  // that failed while reading may or may not have been applied: it is not
  // retried here.
  std::optional<HttpTransportError> Exchange(const HttpRequest& request, HttpReply& reply);

  // Drops the connection, if open; the next Exchange opens a new one.
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hoststub
