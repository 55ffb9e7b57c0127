// HttpTransport: one HTTP exchange with an S3 endpoint through libcurl,
// signed with AWS Signature V4 by s3_sigv4 (not by libcurl: see there
// why), the body's SHA-256 in x-amz-content-sha256 (so the server rejects a
// body damaged on the way) and the session token, if any, in
// x-amz-security-token. libcurl sends the path and query exactly as given
// (no dot-segment removal, no re-encoding) and the headers exactly as
// signed. No retries here: that is S3Client's concern.
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

#include "repo/s3/s3_config.h"
#include "repo/s3/s3_sigv4.h"

namespace repo::s3 {

struct HttpRequest {
  std::string method;  // GET, HEAD, PUT, POST or DELETE
  // The authority the request goes to, also its Host header:
  // "bucket.s3.example.com:9000" or (path style) "s3.example.com:9000".
  std::string host;
  std::string path;       // URI-encoded (UriEncode), starting with '/': sent and signed as is
  std::string query;      // CanonicalQuery's output, "" for none: sent and signed as is
  Pairs headers;          // extra headers ("Range", "Content-MD5", ...), each sent and signed
  std::string_view body;  // sent as is; must stay valid during Perform
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
  // The keys one attempt is signed with, read when it is built: the one
  // place the transport takes credentials from, so a source that refreshes
  // temporary ones takes effect on the next attempt.
  SigV4Credentials SigningKeys() const;
  std::unique_ptr<Handle> Take();
  void Give(std::unique_ptr<Handle> handle);

  const S3Config& config_;
  const std::string scheme_;  // "http" or "https"
  std::mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_;
};

// Base64 of the MD5 of `data` (Content-MD5, which batch delete requires).
std::string Md5Base64(std::string_view data);

}  // namespace repo::s3
