// HttpConnection against a scripted loopback server that answers each
// request with the next canned reply, byte for byte: what goes on the wire,
// keep-alive and when a new connection is opened, chunked replies, and the
// transport errors. The server runs on its own thread; the test thread only
// reads what it recorded, under its mutex.
#include "api/http_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

using hoststub::HttpConnection;
using hoststub::HttpConnectionOptions;
using hoststub::HttpReply;
using hoststub::HttpRequest;
using hoststub::HttpTransportError;
using Kind = HttpTransportError::Kind;

namespace {

struct CannedReply {
  std::string raw;           // sent as is; empty: send nothing, wait for the client to go
  bool close_after = false;  // the server closes the connection after sending it
};

// Serves one connection at a time on 127.0.0.1, each request getting the
// next canned reply.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<CannedReply> replies) : replies_(std::move(replies)) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listen_fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(listen(listen_fd_, 8) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }

  uint16_t port() const { return port_; }
  int connections() const { return connections_; }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  // Blocks until the server has closed the connection it was serving (a
  // `close_after` reply), so the client's kernel has the FIN.
  void WaitUntilClosed(int count) {
    std::unique_lock<std::mutex> lock(mu_);
    REQUIRE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return closed_ >= count; }));
  }

 private:
  // Waits for `fd` to be readable, checking stop_ every 50 ms.
  bool Readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) > 0) return true;
    }
    return false;
  }

  // One request, head and Content-Length body; nullopt when the client left.
  std::optional<std::string> ReadRequest(int fd, std::string& pending) {
    auto body_size = [](const std::string& head) -> size_t {
      const size_t at = head.find("Content-Length: ");
      return at == std::string::npos ? 0 : std::stoul(head.substr(at + 16));
    };
    for (;;) {
      const size_t end = pending.find("\r\n\r\n");
      if (end != std::string::npos) {
        const size_t total = end + 4 + body_size(pending.substr(0, end));
        if (pending.size() >= total) {
          std::string request = pending.substr(0, total);
          pending.erase(0, total);
          return request;
        }
      }
      if (!Readable(fd)) return std::nullopt;
      char buf[4096];
      const ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      pending.append(buf, static_cast<size_t>(n));
    }
  }

  void Serve() {
    size_t next = 0;
    while (Readable(listen_fd_)) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      std::string pending;
      bool closed = false;
      while (std::optional<std::string> request = ReadRequest(fd, pending)) {
        {
          std::lock_guard<std::mutex> lock(mu_);
          requests_.push_back(*request);
        }
        const CannedReply reply = next < replies_.size() ? replies_[next++] : CannedReply{};
        // (No doctest assertion here: this is not the test's thread. A
        // short write shows as the client's error.)
        if (!reply.raw.empty() && write(fd, reply.raw.data(), reply.raw.size()) < 0) break;
        if (reply.close_after) {
          closed = true;
          break;
        }
      }
      close(fd);
      if (closed) {
        std::lock_guard<std::mutex> lock(mu_);
        ++closed_;
        cv_.notify_all();
      }
    }
  }

  std::vector<CannedReply> replies_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> requests_;
  int closed_ = 0;
  std::thread thread_;
};

std::string Ok(const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

HttpConnectionOptions Options(uint16_t port) {
  HttpConnectionOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.connect_timeout = std::chrono::seconds(5);
  options.io_timeout = std::chrono::seconds(5);
  return options;
}

bool ContainsText(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("http connection: keep-alive, the target as given, Host and JSON headers") {
  ScriptedServer server({{Ok("{\"a\":1}")}, {Ok("{}")}, {Ok("[]")}});
  HttpConnection http(Options(server.port()));
  HttpReply reply;
  REQUIRE_FALSE(
      http.Exchange({.method = "GET", .target = "/v1/contexts/a%2Fb/events?from=1"}, reply));
  CHECK(reply.status == 200);
  CHECK(reply.body == "{\"a\":1}");
  const std::string body = "{\"events\":[\"x\"]}";
  REQUIRE_FALSE(http.Exchange({.method = "POST", .target = "/v1/x", .json_body = &body}, reply));
  CHECK(reply.body == "{}");
  REQUIRE_FALSE(http.Exchange({.method = "DELETE", .target = "/v1/backups/b%201"}, reply));
  CHECK(reply.body == "[]");

  CHECK(server.connections() == 1);
  const std::vector<std::string> requests = server.requests();
  REQUIRE(requests.size() == 3);
  const std::string host = "Host: 127.0.0.1:" + std::to_string(server.port()) + "\r\n";
  CHECK(requests[0].starts_with("GET /v1/contexts/a%2Fb/events?from=1 HTTP/1.1\r\n"));
  CHECK(ContainsText(requests[0], host));
  CHECK_FALSE(ContainsText(requests[0], "Content-Type"));
  CHECK(requests[1].starts_with("POST /v1/x HTTP/1.1\r\n"));
  CHECK(ContainsText(requests[1], "Content-Type: application/json\r\n"));
  CHECK(requests[1].ends_with("\r\n\r\n" + body));
  CHECK(requests[2].starts_with("DELETE /v1/backups/b%201 HTTP/1.1\r\n"));
}

TEST_CASE("http connection: a chunked reply arrives joined, and Connection: close reconnects") {
  const std::string chunked =
      "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
      "5\r\n{\"err\r\n8\r\nor\":\"x\"}\r\n0\r\n\r\n";
  ScriptedServer server({{chunked, true}, {Ok("{}")}});
  HttpConnection http(Options(server.port()));
  HttpReply reply;
  REQUIRE_FALSE(http.Exchange({.method = "GET", .target = "/a"}, reply));
  CHECK(reply.status == 404);
  CHECK(reply.body == "{\"error\":\"x\"}");
  REQUIRE_FALSE(http.Exchange({.method = "GET", .target = "/b"}, reply));
  CHECK(reply.body == "{}");
  CHECK(server.connections() == 2);
}

TEST_CASE("http connection: a reply larger than Beast's default body limit arrives whole") {
  // Beast's parser refuses bodies over 8 MiB unless told otherwise; a
  // listing of many backups can be that large.
  std::string big(9 << 20, 'x');
  big.front() = '"';
  big.back() = '"';
  ScriptedServer server({{Ok(big)}, {Ok("{}")}});
  HttpConnection http(Options(server.port()));
  HttpReply reply;
  REQUIRE_FALSE(http.Exchange({.method = "GET", .target = "/v1/backups"}, reply));
  CHECK(reply.status == 200);
  CHECK(reply.body == big);
  REQUIRE_FALSE(http.Exchange({.method = "GET", .target = "/b"}, reply));
  CHECK(reply.body == "{}");
  CHECK(server.connections() == 1);
}

TEST_CASE("http connection: a connection the server closed while idle is replaced, not failed") {
  // No `Connection: close`: the server just drops the connection afterwards,
  // as hostd does with one idle for 2 s.
  ScriptedServer server({{Ok("{}"), true}, {Ok("[]")}});
  HttpConnection http(Options(server.port()));
  HttpReply reply;
  REQUIRE_FALSE(http.Exchange({.method = "GET", .target = "/a"}, reply));
  server.WaitUntilClosed(1);
  const std::optional<HttpTransportError> error =
      http.Exchange({.method = "GET", .target = "/b"}, reply);
  CHECK_MESSAGE(!error, (error ? error->detail : ""));
  CHECK(reply.body == "[]");
  CHECK(server.connections() == 2);
}

TEST_CASE("http connection: no reply within io_timeout is a read error, and the next call works") {
  ScriptedServer server({{""}, {Ok("{}")}});
  HttpConnectionOptions options = Options(server.port());
  options.io_timeout = std::chrono::milliseconds(200);
  HttpConnection http(options);
  HttpReply reply;
  const auto start = std::chrono::steady_clock::now();
  const std::optional<HttpTransportError> error =
      http.Exchange({.method = "GET", .target = "/a"}, reply);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(error);
  CHECK(error->kind == Kind::kRead);
  CHECK(ContainsText(error->detail, "200 ms"));
  CHECK(reply.status == 0);
  CHECK(took >= std::chrono::milliseconds(200));
  CHECK(took < std::chrono::seconds(5));

  REQUIRE_FALSE(http.Exchange({.method = "GET", .target = "/b"}, reply));
  CHECK(reply.body == "{}");
  CHECK(server.connections() == 2);
}

TEST_CASE("http connection: refused and unresolvable are told apart") {
  // A port nothing listens on: a server bound to it, then gone.
  uint16_t port = 0;
  {
    ScriptedServer gone({});
    port = gone.port();
  }
  HttpConnection refused(Options(port));
  HttpReply reply;
  std::optional<HttpTransportError> error =
      refused.Exchange({.method = "GET", .target = "/"}, reply);
  REQUIRE(error);
  CHECK(error->kind == Kind::kConnect);
  CHECK(ContainsText(error->detail, "refused"));

  HttpConnectionOptions options = Options(port);
  options.host = "no-such-host.invalid";
  HttpConnection unresolvable(options);
  error = unresolvable.Exchange({.method = "GET", .target = "/"}, reply);
  REQUIRE(error);
  CHECK(error->kind == Kind::kResolve);
}
