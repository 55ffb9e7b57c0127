// Connection handling of GuardedHttpServer (see guarded_http_server.h): a
// non-blocking socket (under TLS or not), every wait a poll() bounded by a
// deadline and cut into slices so that Stop() is noticed, the header read
// and checked here, then httplib's process_request on a Stream that first
// hands out the bytes already read.
#include "api/guarded_http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <functional>
#include <optional>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace hoststub {
namespace {

using Clock = std::chrono::steady_clock;
using StopCheck = std::function<bool()>;

constexpr std::chrono::milliseconds kPollSlice{100};
// How long a refused connection's input is drained before closing, so that
// the client reads the reply instead of a reset.
constexpr std::chrono::milliseconds kLingerTime{500};
constexpr size_t kReadChunk = 16 * 1024;

constexpr ssize_t kTimedOut = -2;

// Waits until `fd` is ready for `events`, `deadline` passes (false) or
// `stopping` says so (false).
bool WaitFor(int fd, short events, Clock::time_point deadline, const StopCheck* stopping) {
  for (;;) {
    const auto now = Clock::now();
    if (now >= deadline) return false;
    if (stopping != nullptr && (*stopping)()) return false;
    const auto slice = std::min<Clock::duration>(deadline - now, kPollSlice);
    pollfd p{fd, events, 0};
    const int ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(slice).count() + 1);
    const int ready = ::poll(&p, 1, ms);
    if (ready > 0) return true;
    if (ready < 0 && errno != EINTR) return false;
  }
}

}  // namespace

// Where one connection's bytes come from and go to: a socket (Transport) or,
// for fuzzing, memory (MemoryChannel).
class GuardedHttpServer::Channel {
 public:
  virtual ~Channel() = default;
  // Bytes read (> 0), 0 at end of stream, -1 on error, kTimedOut when
  // `deadline` passed or `stopping` said so first.
  virtual ssize_t Read(char* data, size_t size, Clock::time_point deadline,
                       const StopCheck* stopping) = 0;
  // Bytes written (> 0) or -1 (error, or nothing moved before `deadline`).
  virtual ssize_t Write(const char* data, size_t size, Clock::time_point deadline) = 0;
  virtual bool WaitReadable(Clock::time_point deadline, const StopCheck* stopping) = 0;
  virtual bool WaitWritable(Clock::time_point deadline) = 0;
  // Ends a connection whose client may still be sending (see Transport).
  virtual void LingeringClose() = 0;
  virtual void Address(bool peer, std::string& ip, int& port) const = 0;
  // The socket, or -1 without one.
  virtual int fd() const = 0;

  bool WriteAll(std::string_view data, Clock::time_point deadline) {
    while (!data.empty()) {
      const ssize_t n = Write(data.data(), data.size(), deadline);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
};

namespace {

using Channel = GuardedHttpServer::Channel;

// A non-blocking socket, under TLS when `ssl` is set (owned).
class Transport final : public Channel {
 public:
  Transport(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  ~Transport() override {
    if (ssl_ != nullptr) {
      if (!shut_) SSL_shutdown(ssl_);  // one close_notify, not waited for
      SSL_free(ssl_);
    }
  }
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  int fd() const override { return fd_; }

  bool Handshake(Clock::time_point deadline, const StopCheck* stopping) {
    if (ssl_ == nullptr) return true;
    for (;;) {
      ERR_clear_error();
      const int r = SSL_accept(ssl_);
      if (r == 1) return true;
      const int e = SSL_get_error(ssl_, r);
      short events = 0;
      if (e == SSL_ERROR_WANT_READ) {
        events = POLLIN;
      } else if (e == SSL_ERROR_WANT_WRITE) {
        events = POLLOUT;
      } else {
        ERR_clear_error();  // a client that does not speak TLS, or gives up
        return false;
      }
      if (!WaitFor(fd_, events, deadline, stopping)) return false;
    }
  }

  ssize_t Read(char* data, size_t size, Clock::time_point deadline,
               const StopCheck* stopping) override {
    size = std::min<size_t>(size, INT_MAX);
    for (;;) {
      short events = POLLIN;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int r = SSL_read(ssl_, data, static_cast<int>(size));
        if (r > 0) return r;
        const int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_ZERO_RETURN) return 0;
        if (e == SSL_ERROR_WANT_WRITE) {
          events = POLLOUT;
        } else if (e != SSL_ERROR_WANT_READ) {
          ERR_clear_error();
          return -1;
        }
      } else {
        const ssize_t r = ::recv(fd_, data, size, 0);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      }
      if (!WaitFor(fd_, events, deadline, stopping)) return kTimedOut;
    }
  }

  ssize_t Write(const char* data, size_t size, Clock::time_point deadline) override {
    size = std::min<size_t>(size, INT_MAX);
    for (;;) {
      short events = POLLOUT;
      if (ssl_ != nullptr) {
        ERR_clear_error();
        const int r = SSL_write(ssl_, data, static_cast<int>(size));
        if (r > 0) return r;
        const int e = SSL_get_error(ssl_, r);
        if (e == SSL_ERROR_WANT_READ) {
          events = POLLIN;
        } else if (e != SSL_ERROR_WANT_WRITE) {
          ERR_clear_error();
          return -1;
        }
      } else {
        const ssize_t r = ::send(fd_, data, size, MSG_NOSIGNAL);
        if (r >= 0) return r;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      }
      if (!WaitFor(fd_, events, deadline, nullptr)) return -1;
    }
  }

  // Decrypted bytes waiting inside OpenSSL, which poll() cannot see.
  bool HasPending() const { return ssl_ != nullptr && SSL_pending(ssl_) > 0; }

  bool WaitReadable(Clock::time_point deadline, const StopCheck* stopping) override {
    return HasPending() || WaitFor(fd_, POLLIN, deadline, stopping);
  }
  bool WaitWritable(Clock::time_point deadline) override {
    return WaitFor(fd_, POLLOUT, deadline, nullptr);
  }
  void Address(bool peer, std::string& ip, int& port) const override;

  // Ends a connection whose client may still be sending: our side is shut
  // for writing and what arrives is discarded for a moment, so that the
  // reply already sent is read rather than lost to a reset.
  void LingeringClose() override {
    if (ssl_ != nullptr && !shut_) SSL_shutdown(ssl_);
    shut_ = true;
    ::shutdown(fd_, SHUT_WR);
    const auto deadline = Clock::now() + kLingerTime;
    char sink[kReadChunk];
    while (WaitFor(fd_, POLLIN, deadline, nullptr)) {
      const ssize_t n = ::recv(fd_, sink, sizeof sink, 0);
      if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) break;
    }
  }

 private:
  const int fd_;
  SSL* const ssl_;
  bool shut_ = false;
};

void SocketAddress(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  const int r = peer ? ::getpeername(fd, sa, &len) : ::getsockname(fd, sa, &len);
  ip.clear();
  port = 0;
  if (r != 0) return;
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    port = ntohs(in6->sin6_port);
  }
  ip = text;
}

void Transport::Address(bool peer, std::string& ip, int& port) const {
  SocketAddress(fd_, peer, ip, port);
}

// One connection's input from memory, its output to memory: everything has
// arrived, so no read waits, and the input's end is the client's hanging up.
class MemoryChannel final : public Channel {
 public:
  MemoryChannel(std::string_view input, std::string& output) : input_(input), output_(output) {}

  ssize_t Read(char* data, size_t size, Clock::time_point, const StopCheck*) override {
    const size_t n = std::min(size, input_.size());
    std::copy_n(input_.data(), n, data);
    input_.remove_prefix(n);
    return static_cast<ssize_t>(n);
  }
  ssize_t Write(const char* data, size_t size, Clock::time_point) override {
    output_.append(data, size);
    return static_cast<ssize_t>(size);
  }
  bool WaitReadable(Clock::time_point, const StopCheck*) override { return !input_.empty(); }
  bool WaitWritable(Clock::time_point) override { return true; }
  void LingeringClose() override { input_ = {}; }
  void Address(bool, std::string& ip, int& port) const override {
    ip = "127.0.0.1";
    port = 40000;
  }
  int fd() const override { return -1; }

 private:
  std::string_view input_;
  std::string& output_;
};

// The Stream httplib parses a request from and writes its reply to: first
// the bytes the header check already read, then the transport, each read
// and write bounded by the server's read and write timeouts.
class GuardedStream final : public httplib::Stream {
 public:
  GuardedStream(Channel& transport, std::string& buffered, std::chrono::microseconds read_timeout,
                std::chrono::microseconds write_timeout, Clock::time_point body_deadline)
      : transport_(transport),
        buffered_(buffered),
        read_timeout_(read_timeout),
        write_timeout_(write_timeout),
        body_deadline_(body_deadline) {}

  bool is_readable() const override {
    return offset_ < buffered_.size() || transport_.WaitReadable(ReadDeadline(), nullptr);
  }
  bool is_writable() const override {
    return transport_.WaitWritable(Clock::now() + write_timeout_);
  }
  ssize_t read(char* ptr, size_t size) override {
    if (offset_ < buffered_.size()) {
      const size_t n = std::min(size, buffered_.size() - offset_);
      std::copy_n(buffered_.data() + offset_, n, ptr);
      offset_ += n;
      consumed_ += n;
      return static_cast<ssize_t>(n);
    }
    const ssize_t n = transport_.Read(ptr, size, ReadDeadline(), nullptr);
    if (n > 0) consumed_ += static_cast<uint64_t>(n);
    if (n == kTimedOut && Clock::now() >= body_deadline_) body_timed_out_ = true;
    return n >= 0 ? n : -1;
  }
  ssize_t write(const char* ptr, size_t size) override {
    // After a body timeout httplib answers its failed read with a 400 of its
    // own; the server sends a 408 instead, so this one is dropped.
    if (body_timed_out_) return static_cast<ssize_t>(size);
    return transport_.Write(ptr, size, Clock::now() + write_timeout_);
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    transport_.Address(true, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    transport_.Address(false, ip, port);
  }
  socket_t socket() const override { return transport_.fd(); }

  // Bytes handed to httplib so far.
  uint64_t consumed() const { return consumed_; }
  // Whether a read failed because the request's body deadline passed.
  bool body_timed_out() const { return body_timed_out_; }
  // Drops the buffered bytes httplib has taken; what remains (a pipelined
  // next request) stays for the next header read.
  void DiscardTaken() {
    buffered_.erase(0, offset_);
    offset_ = 0;
  }

 private:
  // Each read waits at most the read timeout, and never past the body
  // deadline: a client trickling its body byte by byte keeps every single
  // read short, so only an overall deadline bounds the request.
  Clock::time_point ReadDeadline() const {
    return std::min(Clock::now() + read_timeout_, body_deadline_);
  }

  Channel& transport_;
  std::string& buffered_;
  size_t offset_ = 0;
  uint64_t consumed_ = 0;
  bool body_timed_out_ = false;
  const std::chrono::microseconds read_timeout_;
  const std::chrono::microseconds write_timeout_;
  const Clock::time_point body_deadline_;
};

struct Refusal {
  int status = 0;
  std::string message;
};

// What the header check found.
struct HeaderCheck {
  bool closed = false;  // the client went away (or the server stops): no reply
  std::optional<Refusal> refusal;
  size_t header_bytes = 0;      // request line + headers + blank line
  uint64_t content_length = 0;  // 0 when absent
};

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view TrimHeaderValue(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Checks the complete header block `head` (request line first) against the
// limits and reads its body framing.
void CheckHeaderBlock(std::string_view head, const HttpLimits& limits, HeaderCheck& check) {
  uint32_t fields = 0;
  std::optional<uint64_t> length;
  bool first_line = true;
  while (!head.empty()) {
    const size_t end = head.find('\n');
    const std::string_view line = TrimHeaderValue(head.substr(0, end));
    head = end == std::string_view::npos ? std::string_view() : head.substr(end + 1);
    if (first_line) {
      first_line = false;
      continue;
    }
    if (line.empty()) break;
    if (++fields > limits.max_header_count) {
      check.refusal = Refusal{431, fmt::format("more than {} header fields (the server's "
                                               "[server] max_header_count)",
                                               limits.max_header_count)};
      return;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // httplib answers 400
    const std::string_view name = TrimHeaderValue(line.substr(0, colon));
    const std::string_view value = TrimHeaderValue(line.substr(colon + 1));
    if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
      check.refusal = Refusal{411,
                              "a request body must be sent with a Content-Length; "
                              "Transfer-Encoding (chunked) is not accepted"};
      return;
    }
    if (EqualsIgnoreCase(name, "Content-Encoding") && !EqualsIgnoreCase(value, "identity")) {
      check.refusal = Refusal{
          415,
          fmt::format("Content-Encoding '{}' is not accepted: send the body uncompressed", value)};
      return;
    }
    if (EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t n = 0;
      const auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (value.empty() || ec != std::errc() || ptr != value.data() + value.size() ||
          (length && *length != n)) {
        check.refusal = Refusal{400, fmt::format("bad Content-Length '{}'", value)};
        return;
      }
      length = n;
    }
  }
  check.content_length = length.value_or(0);
  if (check.content_length > limits.max_body_bytes) {
    check.refusal =
        Refusal{413, fmt::format("request body of {} bytes exceeds the limit of {} bytes ([server] "
                                 "max_body_size): send smaller batches",
                                 check.content_length, limits.max_body_bytes)};
  }
}

// Reads into `buffered` until it holds a whole header block, which is then
// checked. `first_request`: a silent connection is answered 408 too (it held
// a worker); later, silence until `deadline` just ends the connection.
HeaderCheck ReadHeader(Channel& transport, std::string& buffered, const HttpLimits& limits,
                       Clock::time_point deadline, bool first_request, const StopCheck& stopping) {
  HeaderCheck check;
  char chunk[kReadChunk];
  size_t searched = 0;
  for (;;) {
    // The end of the header: an empty line (CRLF CRLF, or bare LFs, which
    // httplib then refuses with a 400 of its own).
    size_t end = std::string::npos;
    for (size_t i = searched; i < buffered.size(); ++i) {
      if (buffered[i] != '\n') continue;
      if (i >= 1 && buffered[i - 1] == '\n') {
        end = i + 1;
        break;
      }
      if (i >= 2 && buffered[i - 1] == '\r' && buffered[i - 2] == '\n') {
        end = i + 1;
        break;
      }
    }
    searched = buffered.size();
    const size_t size = end == std::string::npos ? buffered.size() : end;
    if (size > limits.max_header_bytes) {
      check.refusal = Refusal{
          431, fmt::format("request line and headers exceed {} bytes ([server] max_header_size)",
                           limits.max_header_bytes)};
      return check;
    }
    if (end != std::string::npos) {
      check.header_bytes = end;
      CheckHeaderBlock(std::string_view(buffered).substr(0, end), limits, check);
      return check;
    }
    const ssize_t n = transport.Read(chunk, sizeof chunk, deadline, &stopping);
    if (n == kTimedOut && !stopping() && (first_request || !buffered.empty())) {
      check.refusal = Refusal{
          408, fmt::format("the request line and headers did not arrive within {} ms ([server] "
                           "header_timeout_ms)",
                           limits.header_timeout.count())};
      return check;
    }
    if (n <= 0) {
      check.closed = true;
      return check;
    }
    buffered.append(chunk, static_cast<size_t>(n));
  }
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 408:
      return "Request Timeout";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Error";
  }
}

void SendRefusal(Channel& transport, const Refusal& refusal,
                 std::chrono::microseconds write_timeout) {
  const std::string body = nlohmann::json({{"error", refusal.message}})
                               .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  const std::string reply = fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: "
      "close\r\n\r\n{}",
      refusal.status, ReasonPhrase(refusal.status), body.size(), body);
  transport.WriteAll(reply, Clock::now() + write_timeout);
}

std::chrono::microseconds Timeout(time_t sec, time_t usec) {
  return std::chrono::seconds(sec) + std::chrono::microseconds(usec);
}

}  // namespace

bool GuardedHttpServer::ClientCounts::Acquire(const std::string& address, uint32_t cap) {
  std::lock_guard<std::mutex> lock(mu_);
  uint32_t& count = counts_[address];
  if (count >= cap) {
    if (count == 0) counts_.erase(address);
    return false;
  }
  ++count;
  return true;
}

void GuardedHttpServer::ClientCounts::Release(const std::string& address) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = counts_.find(address);
  if (it != counts_.end() && --it->second == 0) counts_.erase(it);
}

GuardedHttpServer::GuardedHttpServer(HttpLimits limits) : limits_(limits) {
  // A backstop: the header check refuses larger bodies before httplib
  // would read them.
  set_payload_max_length(limits_.max_body_bytes);
}

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  ServeConnection(sock);
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return true;
}

void GuardedHttpServer::ServeConnection(int fd) {
  const auto accepted = Clock::now();
  const StopCheck stopping = [this] { return svr_sock_ == INVALID_SOCKET; };
  const auto write_timeout = Timeout(write_timeout_sec_, write_timeout_usec_);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  // Replies are small and latency-bound: no Nagle delay.
  int yes = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);

  SSL* ssl = nullptr;
  if (tls_ != nullptr) {
    ssl = SSL_new(tls_->get());
    if (ssl == nullptr || SSL_set_fd(ssl, fd) != 1) {
      if (ssl != nullptr) SSL_free(ssl);
      ERR_clear_error();
      return;
    }
  }
  Transport transport(fd, ssl);
  if (!transport.Handshake(accepted + limits_.header_timeout, &stopping)) return;

  std::string peer;
  int peer_port = 0;
  SocketAddress(fd, true, peer, peer_port);
  if (!clients_.Acquire(peer, limits_.max_connections_per_client)) {
    SendRefusal(transport,
                {429, fmt::format("client {} already holds {} connections, the most one client "
                                  "may ([server] max_connections_per_client)",
                                  peer, limits_.max_connections_per_client)},
                write_timeout);
    transport.LingeringClose();
    return;
  }
  struct Slot {
    ClientCounts& counts;
    const std::string& peer;
    ~Slot() { counts.Release(peer); }
  } slot{clients_, peer};

  ServeRequests(transport, accepted, stopping);
}

void GuardedHttpServer::ServeRequests(Channel& transport, Clock::time_point accepted,
                                      const StopCheck& stopping) {
  const auto read_timeout = Timeout(read_timeout_sec_, read_timeout_usec_);
  const auto write_timeout = Timeout(write_timeout_sec_, write_timeout_usec_);
  std::string buffered;
  for (size_t served = 0; served < keep_alive_max_count_ && !stopping(); ++served) {
    const bool first = served == 0;
    if (!first && buffered.empty()) {
      // Idle between requests: the keep-alive timeout, not the header one.
      const auto idle_deadline = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
      if (!transport.WaitReadable(idle_deadline, &stopping)) return;
    }
    const auto deadline = (first ? accepted : Clock::now()) + limits_.header_timeout;
    const HeaderCheck header = ReadHeader(transport, buffered, limits_, deadline, first, stopping);
    if (header.closed) return;
    if (header.refusal) {
      SendRefusal(transport, *header.refusal, write_timeout);
      transport.LingeringClose();
      return;
    }

    GuardedStream stream(transport, buffered, read_timeout, write_timeout,
                         Clock::now() + limits_.body_timeout);
    bool connection_closed = false;
    const bool last = served + 1 == keep_alive_max_count_;
    const bool ok = process_request(stream, last, connection_closed, nullptr);
    stream.DiscardTaken();
    if (stream.body_timed_out()) {
      // httplib's own reply to the failed read was not sent (see
      // GuardedStream::write): this one says what happened.
      SendRefusal(transport,
                  {408, fmt::format("the request body ({} bytes) did not arrive within {} ms of "
                                    "its headers ([server] body_timeout_ms)",
                                    header.content_length, limits_.body_timeout.count())},
                  write_timeout);
      transport.LingeringClose();
      return;
    }
    if (!ok || connection_closed) return;
    if (stream.consumed() < header.header_bytes + header.content_length) {
      // Refused before its body was read: the rest of the body is no request.
      transport.LingeringClose();
      return;
    }
  }
}

std::string GuardedHttpServer::ServeBytes(std::string_view input) {
  std::string output;
  MemoryChannel channel(input, output);
  const StopCheck never = [] { return false; };
  ServeRequests(channel, Clock::now(), never);
  return output;
}

}  // namespace hoststub
