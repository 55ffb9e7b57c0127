// AWS Signature Version 4 (Authorization header form), computed in the
// project with OpenSSL: the canonical request, the string to sign, the
// signing key and the Authorization header, after AWS's "Create a signed
// AWS API request" and the S3 variant of it (no path normalisation, no
// double encoding).
//
// Why not libcurl's CURLOPT_AWS_SIGV4: before 8.3.0 (Debian 12 ships
// 7.88.1) it signs an `Expect` header that it then does not send, and from
// 8.3.0 it re-canonicalises the query and signs "%20" where it sends
// "%2B"; either way a real server computes another signature and refuses
// every request. Here the caller builds the path and query once, in
// canonical form, sends exactly those bytes, and signs exactly the headers
// it sends.
//
// Errors: the functions throw bkp::Error(BKP_E_INTERNAL) only if OpenSSL
// fails to hash (which it does not on valid input), and std::bad_alloc.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace repo::s3 {

// The keys a request is signed with.
struct SigV4Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // "" when none; sent as x-amz-security-token
};

// Name/value pairs, in the order given.
using Pairs = std::vector<std::pair<std::string, std::string>>;

// RFC 3986 percent-encoding as SigV4 wants it: every byte but A-Z a-z 0-9
// '-' '_' '.' '~' becomes %XY (upper-case hex), and so does '/' unless
// `keep_slash` (object paths keep theirs).
std::string UriEncode(std::string_view text, bool keep_slash);

// The canonical query string of decoded name/value pairs: each name and
// value UriEncoded, pairs sorted by encoded name then encoded value, joined
// as "a=1&b=&c=3" (an empty value keeps its '='). Send this string as the
// URL's query so what is signed is what is sent.
std::string CanonicalQuery(const Pairs& params);

struct SigV4Request {
  std::string_view method;           // "GET", "PUT", ...
  std::string_view canonical_uri;    // the path as sent: already encoded, "/" at least
  std::string_view canonical_query;  // the query as sent (CanonicalQuery), "" for none
  // Every header to sign, exactly as sent, names in any case. Values are
  // trimmed and inner runs of spaces collapsed for signing (a sender
  // should send them that way); a name given twice is signed as
  // "v1,v2" in the given order.
  Pairs headers;
  std::string_view payload_hash;  // lowercase hex SHA-256 of the body
  std::string_view amz_date;      // "20150830T123600Z", also sent as x-amz-date
  std::string_view region;        // "us-east-1"
  std::string_view service;       // "s3"
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  // "host;x-amz-content-sha256;x-amz-date"
  std::string signature;       // lowercase hex
  std::string authorization;   // the Authorization header's value
};

SigV4Signature SignV4(const SigV4Request& request, const SigV4Credentials& credentials);

// "20150830T123600Z" for `when`, in UTC.
std::string AmzDate(std::chrono::system_clock::time_point when);

// Lowercase hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);

}  // namespace repo::s3
