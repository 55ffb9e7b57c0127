// Test support for the remote provider: a real S3-compatible server
// (s3rver, installed by scripts/setup.sh) on a free loopback port, and a
// deterministic fault-injecting HTTP proxy to put between the driver and
// it. Both stop on destruction.
//
// Thread-safety: S3Server is used from the test's thread. FaultProxy's
// methods may be called while it serves (its plan and log are locked).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

namespace s3_test {

// A certificate and key (PEM files) for s3rver to serve https with.
struct ServerTls {
  std::filesystem::path cert;
  std::filesystem::path key;
};

// The credentials s3rver accepts (its built-in account).
inline constexpr const char* kAccessKey = "S3RVER";
inline constexpr const char* kSecretKey = "S3RVER";

// s3rver on 127.0.0.1 and a free port, storing under a scratch directory,
// with `buckets` created. A missing Node.js or s3rver FAILs the test with
// what to run; the server exits when this object is destroyed (or when the
// test process dies: it watches its standard input). It also takes
// virtual-host requests for "<bucket>.s3.localhost" (libcurl resolves
// every *.localhost name to loopback), and serves https if given `tls`.
class S3Server {
 public:
  explicit S3Server(const std::vector<std::string>& buckets = {"backups"},
                    const ServerTls& tls = {});
  ~S3Server();
  S3Server(const S3Server&) = delete;
  S3Server& operator=(const S3Server&) = delete;

  uint16_t port() const { return port_; }
  std::string endpoint() const {
    return (tls_ ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(port_);
  }
  // The file in which s3rver keeps the bytes of `key` in `bucket` (to plant
  // damage the way a failing disk under the server would).
  std::filesystem::path ObjectFile(const std::string& bucket, const std::string& key) const;

 private:
  testing_support::TempDir dir_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  uint16_t port_ = 0;
  bool tls_ = false;
};

// What the proxy does to one request.
struct Fault {
  enum class Kind {
    kNone,           // forward it
    kAnswer,         // answer `status` with `body` (XML) instead of forwarding it
    kResetRequest,   // read `after_bytes` of its body, then reset the connection
    kResetResponse,  // forward it, pass `after_bytes` of the answer, then reset
    kDelay,          // forward it after `delay`
  };
  Kind kind = Kind::kNone;
  int status = 0;
  std::string body;
  size_t after_bytes = 0;
  std::chrono::milliseconds delay{0};

  static Fault Answer(int status, std::string body) {
    return {Kind::kAnswer, status, std::move(body), 0, {}};
  }
  // An S3 error document of `code`.
  static Fault Status(int status, const std::string& code) {
    return Answer(status, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code +
                              "</Code><Message>injected by the test proxy</Message></Error>");
  }
  static Fault ResetRequest(size_t after) { return {Kind::kResetRequest, 0, "", after, {}}; }
  static Fault ResetResponse(size_t after) { return {Kind::kResetResponse, 0, "", after, {}}; }
  static Fault Delay(std::chrono::milliseconds d) { return {Kind::kDelay, 0, "", 0, d}; }
};

struct ProxiedRequest {
  uint64_t seq = 0;    // 1 for the first request the proxy saw
  std::string method;  // GET, PUT, ...
  std::string target;  // path and query as sent
  size_t body_bytes = 0;
  Fault::Kind fault = Fault::Kind::kNone;
  int status = 0;          // the status the server (or the fault) answered; 0 if none
  bool signed_ok = false;  // its SigV4 signature and payload hash check out
  std::string why;         // when not signed_ok: what sigv4_check found
  std::string head;        // its request line and headers as received ("\r\n" line ends)
};

// An HTTP/1.1 proxy on 127.0.0.1 in front of the server at `upstream_port`:
// one request per connection, each decided by the plan. It also checks
// every request's AWS Signature V4 against s3rver's secret, and its
// x-amz-content-sha256 against the body, as S3 does (s3rver checks
// neither): a request that fails is answered 403 SignatureDoesNotMatch (or
// 400 XAmzContentSHA256Mismatch) instead of being forwarded.
class FaultProxy {
 public:
  using Plan = std::function<Fault(const ProxiedRequest&)>;
  explicit FaultProxy(uint16_t upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Replaces the plan (default: forward everything).
  void SetPlan(Plan plan);
  // Every request seen so far, in arrival order.
  std::vector<ProxiedRequest> Requests() const;
  void ClearRequests();
  // The most requests it has had in hand at once.
  size_t MaxInFlight() const { return max_in_flight_.load(); }

 private:
  void Accept();
  void Serve(int client);
  void Record(const ProxiedRequest& r);

  const uint16_t upstream_port_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<size_t> in_flight_{0};
  std::atomic<size_t> max_in_flight_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  Plan plan_;
  uint64_t seq_ = 0;
  std::vector<ProxiedRequest> requests_;
  std::set<int> open_fds_;
  std::vector<std::thread> workers_;
};

// The settings TOML lines of a `remote` provider on `endpoint`, bucket
// "backups", key prefix `prefix`, path-style, s3rver's credentials, small
// parts (64 KiB; s3rver takes parts of any size), 2 workers, a 20 s retry
// deadline and a 5 s stall timeout; `overrides` (name -> TOML value) replace
// or add settings.
std::string RemoteSettings(const std::string& endpoint, const std::string& prefix,
                           const std::map<std::string, std::string>& overrides = {});

// Runs the stock AWS CLI (Debian's awscli) against `endpoint` with s3rver's
// credentials; FAILs the test if it is not installed.
testing_support::CommandResult RunAws(const std::string& endpoint,
                                      const std::vector<std::string>& args);

}  // namespace s3_test
