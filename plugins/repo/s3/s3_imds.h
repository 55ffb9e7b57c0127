// ImdsClient: the temporary credentials of an EC2 instance's IAM role from
// the instance metadata service, IMDSv2 only (the session-token protocol;
// the v1 fallback is not used, as AWS advises):
//   PUT /latest/api/token              X-aws-ec2-metadata-token-ttl-seconds
//   GET /latest/meta-data/iam/security-credentials/        -> the role name
//   GET /latest/meta-data/iam/security-credentials/<role>  -> JSON keys
// both GETs carrying X-aws-ec2-metadata-token. The session token is kept
// for its lifetime and fetched again when the service refuses it (401).
// Every request has short timeouts (1 s to connect, 3 s in all) and never
// goes through a proxy; a failed fetch is tried once more.
//
// Errors: Fetch throws bkp::Error(BKP_E_AUTH) naming the endpoint, the
// request and the HTTP status or network error. No message quotes a body
// from the service: a credentials document holds secrets.
// Thread-safety: Fetch may be called from several threads (serialised).
#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "repo/s3/s3_credentials.h"

namespace repo::s3 {

inline constexpr const char* kDefaultImdsEndpoint = "http://169.254.169.254";

class ImdsClient {
 public:
  // `endpoint`: scheme://host[:port], already validated.
  explicit ImdsClient(std::string endpoint);

  // The role's current credentials, with their expiration.
  S3Credentials Fetch();
  const std::string& endpoint() const { return endpoint_; }

 private:
  struct Answer {
    int transport = 0;  // a CURLcode: not 0 when no HTTP answer came
    std::string error;
    long status = 0;
    std::string body;
  };
  Answer Request(const char* method, const std::string& path,
                 const std::vector<std::string>& headers) const;
  std::string Token();  // mu_ held
  S3Credentials FetchOnce();
  [[noreturn]] void Fail(const std::string& what, const Answer& answer) const;

  const std::string endpoint_;
  std::mutex mu_;
  std::string token_;
  std::chrono::steady_clock::time_point token_until_;
};

}  // namespace repo::s3
