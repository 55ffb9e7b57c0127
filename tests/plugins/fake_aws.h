// FakeAws: tests/plugins/fake_aws.py, a fake EC2 instance metadata service
// (IMDSv2, tokens required, credentials that expire after `lifetime`) and
// a validating S3 proxy in front of an s3rver (every request signed by a
// known, unexpired key with its secret and token), both on 127.0.0.1 and
// free ports, written in Python apart from the C++ under test. The process
// exits when this object is destroyed (or when the test process dies: it
// watches its standard input).
//
// Thread-safety: use from the test's thread only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace s3_test {

struct FakeAwsOptions {
  uint16_t upstream_port = 0;  // the s3rver behind the proxy
  double lifetime_s = 2.0;     // of the credentials the fake IMDS hands out
  int delay_ms = 0;            // added to every request the proxy forwards
  // Static keys the proxy accepts besides the IMDS's: "ID:SECRET[:TOKEN]".
  std::vector<std::string> keys;
};

class FakeAws {
 public:
  explicit FakeAws(const FakeAwsOptions& options);
  ~FakeAws();
  FakeAws(const FakeAws&) = delete;
  FakeAws& operator=(const FakeAws&) = delete;

  std::string imds_endpoint() const { return "http://127.0.0.1:" + std::to_string(imds_port_); }
  std::string s3_endpoint() const { return "http://127.0.0.1:" + std::to_string(s3_port_); }
  // Every request either side saw, in arrival order: objects with
  // "server" ("imds" or "s3"), "method", "path", "status" and, for s3,
  // "key" (the access key id), "ok", "why", "received" and "expires"
  // (epoch seconds); for imds "token_sent", "token_ok" (GET), "ttl" (PUT).
  nlohmann::json Log();
  // The IMDS's credential GETs answer 503 after `good` more good ones.
  void FailImdsAfter(int good);
  // Every IMDS session token issued so far is refused from now on.
  void RevokeTokens();

 private:
  std::string Command(const std::string& line);
  std::string ReadLine(int timeout_ms);

  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int stdout_fd_ = -1;
  std::string buffered_;
  uint16_t imds_port_ = 0;
  uint16_t s3_port_ = 0;
};

}  // namespace s3_test
