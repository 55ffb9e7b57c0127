// HttpTransport: one HTTP exchange with an S3 endpoint through libcurl,
// signed with AWS Signature V4 by libcurl itself (CURLOPT_AWS_SIGV4), the
// body's SHA-256 in x-amz-content-sha256 (so the server rejects a body
// damaged on the way) and the session token, if any, in
// x-amz-security-token. No retries here: that is S3Client's concern.
//
// Connections are kept alive in a pool of curl handles that threads take
// and give back, so consecutive requests reuse a connection.
//
// Errors: Perform never throws for a network failure or an HTTP error; it
// reports both in HttpResponse. It throws std::bad_alloc, and
// bkp::Error(BKP_E_AUTH) when the config's credential source has no valid
// credentials (expired, and refreshing them failed).
// Thread-safety: Perform may be called from any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "s3_config.h"

namespace repo::s3 {

struct HttpRequest {
  std::string method;                // GET, HEAD, PUT, POST or DELETE
  std::string url;                   // absolute; path and query already canonical
  std::vector<std::string> headers;  // extra "Name: value" lines
  std::string_view body;             // sent as is; must stay valid during Perform
  // When set, a successful response's body goes here (at most `capacity`
  // bytes: more fails the exchange) instead of into HttpResponse::body.
  char* into = nullptr;
  size_t capacity = 0;
};

struct HttpResponse {
  // Not 0 (a CURLcode): there was no whole HTTP answer (refused, reset,
  // timed out, ...); `status` is then whatever arrived before, or 0.
  int transport = 0;
  std::string transport_error;
  long status = 0;
  std::string body;     // error documents and XML answers
  size_t received = 0;  // bytes written to HttpRequest::into
  std::string etag;     // the ETag header, quotes included
  std::optional<uint64_t> content_length;

  bool ok() const { return transport == 0 && status >= 200 && status < 300; }
};

class HttpTransport {
 public:
  explicit HttpTransport(const S3Config& config);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // One attempt at the exchange.
  HttpResponse Perform(const HttpRequest& request);

 private:
  struct Handle;
  std::unique_ptr<Handle> Take();
  void Give(std::unique_ptr<Handle> handle);

  const S3Config& config_;
  const std::string sigv4_;  // "aws:amz:<region>:s3"
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// Base64 of the MD5 of `data` (Content-MD5, which batch delete requires).
std::string Md5Base64(std::string_view data);

}  // namespace repo::s3
