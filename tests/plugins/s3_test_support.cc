// s3rver and the fault-injecting proxy (see s3_test_support.h).
#include "plugins/s3_test_support.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "plugins/sigv4_check.h"

namespace fs = std::filesystem;

namespace s3_test {
namespace {

constexpr int kStartTimeoutMs = 30000;

bool OnPath(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "";
  size_t from = 0;
  while (from <= dirs.size()) {
    const size_t colon = std::min(dirs.find(':', from), dirs.size());
    const fs::path candidate = fs::path(dirs.substr(from, colon - from)) / tool;
    if (::access(candidate.c_str(), X_OK) == 0) return true;
    from = colon + 1;
  }
  return false;
}

// Reads one line from `fd` within `timeout_ms`; "" on timeout or EOF.
std::string ReadLine(int fd, int timeout_ms) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n <= 0) return "";
    if (c == '\n') return line;
    line += c;
  }
}

void SendAll(int fd, const char* data, size_t len) {
  while (len > 0) {
    const ssize_t n = ::send(fd, data, len, MSG_NOSIGNAL);
    if (n <= 0) throw std::runtime_error("send failed");
    data += n;
    len -= static_cast<size_t>(n);
  }
}

// Closes with a TCP reset instead of an orderly FIN.
void Reset(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

int ConnectLoopback(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// A request head and the bytes after it that arrived with it.
struct Head {
  std::string method, target, text;
  size_t content_length = 0;
  std::string rest;
};

bool ReadHead(int fd, Head* head) {
  std::string buf;
  char chunk[8192];
  size_t end;
  while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
    const ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buf.append(chunk, static_cast<size_t>(n));
  }
  head->text = buf.substr(0, end + 4);
  head->rest = buf.substr(end + 4);
  const size_t sp1 = head->text.find(' ');
  const size_t sp2 = head->text.find(' ', sp1 + 1);
  head->method = head->text.substr(0, sp1);
  head->target = head->text.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string lower = head->text;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t cl = lower.find("\r\ncontent-length:");
  if (cl != std::string::npos) head->content_length = std::stoull(lower.substr(cl + 17));
  return true;
}

// The head with "Connection: close" instead of whatever the client asked.
std::string ClosingHead(const std::string& text) {
  std::string out;
  size_t from = 0;
  while (true) {
    const size_t eol = text.find("\r\n", from);
    const std::string line = text.substr(from, eol - from);
    from = eol + 2;
    if (line.empty()) break;
    if (strncasecmp(line.c_str(), "connection:", 11) == 0) continue;
    out += line + "\r\n";
  }
  return out + "Connection: close\r\n\r\n";
}

}  // namespace

S3Server::S3Server(const std::vector<std::string>& buckets, const ServerTls& tls)
    : tls_(!tls.cert.empty()) {
  const fs::path dir = BKP_S3RVER_DIR;
  REQUIRE_MESSAGE(OnPath("node"), "Node.js ('node') is not installed: run scripts/setup.sh");
  REQUIRE_MESSAGE(fs::exists(dir / "node_modules" / "s3rver"),
                  "s3rver is not installed in " << dir << ": run scripts/setup.sh");
  int in[2], out[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  std::vector<std::string> argv = {"node", (dir / "launch.js").string()};
  if (tls_) argv.insert(argv.end(), {"--tls", tls.key.string(), tls.cert.string()});
  argv.push_back(dir_.path().string());
  argv.insert(argv.end(), buckets.begin(), buckets.end());
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  stdin_fd_ = in[1];
  const std::string line = ReadLine(out[0], kStartTimeoutMs);
  ::close(out[0]);
  REQUIRE_MESSAGE(!line.empty(), "s3rver did not start within " << kStartTimeoutMs / 1000
                                                                << " s (see its stderr above)");
  port_ = nlohmann::json::parse(line).at("port").get<uint16_t>();
}

S3Server::~S3Server() {
  ::close(stdin_fd_);  // it exits when its stdin closes
  for (int i = 0; i < 500; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

fs::path S3Server::ObjectFile(const std::string& bucket, const std::string& key) const {
  const fs::path k(key);
  return dir_.path() / bucket / k.parent_path() / (k.filename().string() + "._S3rver_object");
}

FaultProxy::FaultProxy(uint16_t upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(listen_fd_ >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(listen_fd_, 64) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { Accept(); });
}

FaultProxy::~FaultProxy() {
  stopping_ = true;
  ::shutdown(listen_fd_, SHUT_RDWR);
  acceptor_.join();
  ::close(listen_fd_);
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  for (auto& t : workers_) t.join();
}

void FaultProxy::SetPlan(Plan plan) {
  std::lock_guard lock(mu_);
  plan_ = std::move(plan);
}

std::vector<ProxiedRequest> FaultProxy::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

void FaultProxy::ClearRequests() {
  std::lock_guard lock(mu_);
  requests_.clear();
}

void FaultProxy::Record(const ProxiedRequest& r) {
  std::lock_guard lock(mu_);
  requests_.push_back(r);
}

void FaultProxy::Accept() {
  while (!stopping_) {
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) {
      if (stopping_) return;
      continue;
    }
    std::lock_guard lock(mu_);
    open_fds_.insert(client);
    workers_.emplace_back([this, client] { Serve(client); });
  }
}

void FaultProxy::Serve(int client) {
  int upstream = -1;
  bool closed = false;
  try {
    Head head;
    if (!ReadHead(client, &head)) throw std::runtime_error("no request");
    // Counted from the request's head until its answer is decided, a span
    // that lies wholly inside the client's wait for it.
    struct InFlight {
      FaultProxy& proxy;
      bool done = false;
      explicit InFlight(FaultProxy& p) : proxy(p) {
        const size_t now = ++proxy.in_flight_;
        size_t seen = proxy.max_in_flight_.load();
        while (now > seen && !proxy.max_in_flight_.compare_exchange_weak(seen, now)) {
        }
      }
      void End() {
        if (!done) --proxy.in_flight_;
        done = true;
      }
      ~InFlight() { End(); }
    } in_flight(*this);
    ProxiedRequest r;
    r.method = head.method;
    r.target = head.target;
    r.body_bytes = head.content_length;
    r.head = head.text;
    Fault fault;
    {
      std::lock_guard lock(mu_);
      r.seq = ++seq_;
      if (plan_) fault = plan_(r);
    }
    // Recorded before the client can see the answer, so a test that got
    // one finds its request in the log.
    auto decided = [&](int status) {
      r.status = status;
      in_flight.End();
      Record(r);
    };
    // The body (the part that came with the head, then the rest).
    std::string body = std::move(head.rest);
    const size_t want = fault.kind == Fault::Kind::kResetRequest
                            ? std::min(fault.after_bytes, head.content_length)
                            : head.content_length;
    char chunk[65536];
    while (body.size() < want) {
      const ssize_t n = ::recv(client, chunk, std::min(sizeof chunk, want - body.size()), 0);
      if (n <= 0) throw std::runtime_error("request cut short");
      body.append(chunk, static_cast<size_t>(n));
    }
    // As S3 would: a request that is not signed right goes no further.
    if (fault.kind != Fault::Kind::kResetRequest) {
      std::string why;
      r.signed_ok = CheckSigV4(head.text, body, kSecretKey, &why);
      r.why = why;
      if (!r.signed_ok) {
        const bool hash = why.rfind("x-amz-content-sha256", 0) == 0;
        fault = hash ? Fault::Status(400, "XAmzContentSHA256Mismatch")
                     : Fault::Status(403, "SignatureDoesNotMatch");
        fault.body.insert(fault.body.find("</Message>"), ": " + why);
      }
    }
    r.fault = fault.kind;
    if (fault.kind == Fault::Kind::kResetRequest) {
      decided(0);
      {
        std::lock_guard lock(mu_);
        open_fds_.erase(client);
      }
      Reset(client);
      closed = true;
    } else if (fault.kind == Fault::Kind::kAnswer) {
      const std::string answer = "HTTP/1.1 " + std::to_string(fault.status) +
                                 " Injected\r\nContent-Type: application/xml\r\nContent-Length: " +
                                 std::to_string(fault.body.size()) +
                                 "\r\nConnection: close\r\n\r\n" + fault.body;
      decided(fault.status);
      SendAll(client, answer.data(), answer.size());
    } else {
      if (fault.kind == Fault::Kind::kDelay) std::this_thread::sleep_for(fault.delay);
      upstream = ConnectLoopback(upstream_port_);
      if (upstream < 0) throw std::runtime_error("upstream refused");
      const std::string out_head = ClosingHead(head.text);
      SendAll(upstream, out_head.data(), out_head.size());
      SendAll(upstream, body.data(), body.size());
      size_t passed = 0;
      std::string first;
      ssize_t n;
      while ((n = ::recv(upstream, chunk, sizeof chunk, 0)) > 0) {
        size_t len = static_cast<size_t>(n);
        if (first.size() < 12) {
          first.append(chunk, std::min<size_t>(len, 12 - first.size()));
          if (first.size() >= 12) decided(std::atoi(first.c_str() + 9));
        }
        if (fault.kind == Fault::Kind::kResetResponse && passed + len > fault.after_bytes) {
          len = fault.after_bytes - passed;
        }
        SendAll(client, chunk, len);
        passed += len;
        if (fault.kind == Fault::Kind::kResetResponse && passed >= fault.after_bytes) break;
      }
      if (first.size() < 12) decided(0);
      if (fault.kind == Fault::Kind::kResetResponse) {
        {
          std::lock_guard lock(mu_);
          open_fds_.erase(client);
        }
        Reset(client);
        closed = true;
      }
    }
  } catch (const std::exception&) {
    // The client or the server went away: nothing to answer.
  }
  if (upstream >= 0) ::close(upstream);
  if (!closed) {
    std::lock_guard lock(mu_);
    open_fds_.erase(client);
    ::close(client);
  }
}

std::string RemoteSettings(const std::string& endpoint, const std::string& prefix,
                           const std::map<std::string, std::string>& overrides) {
  std::map<std::string, std::string> settings = {
      {"endpoint", "'" + endpoint + "'"},
      {"bucket", "'backups'"},
      {"prefix", "'" + prefix + "'"},
      {"path_style", "true"},
      {"access_key_id", std::string("'") + kAccessKey + "'"},
      {"secret_access_key", std::string("'") + kSecretKey + "'"},
      {"part_size", "65536"},
      {"min_part_size", "65536"},
      {"parallel_parts", "3"},
      {"retry_deadline", "20"},
      {"stall_timeout", "5"},
      {"workers", "2"},
  };
  for (const auto& [name, value] : overrides) settings[name] = value;
  std::string toml;
  for (const auto& [name, value] : settings) toml += name + " = " + value + "\n";
  return toml;
}

testing_support::CommandResult RunAws(const std::string& endpoint,
                                      const std::vector<std::string>& args) {
  REQUIRE_MESSAGE(OnPath("aws"),
                  "the AWS CLI ('aws', Debian's awscli) is not installed: run "
                  "scripts/setup.sh");
  std::vector<std::string> argv = {"env",
                                   std::string("AWS_ACCESS_KEY_ID=") + kAccessKey,
                                   std::string("AWS_SECRET_ACCESS_KEY=") + kSecretKey,
                                   "AWS_DEFAULT_REGION=us-east-1",
                                   "AWS_EC2_METADATA_DISABLED=true",
                                   "aws",
                                   "--endpoint-url",
                                   endpoint};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing_support::RunCommand(argv);
}

}  // namespace s3_test
