// An independent check of AWS Signature Version 4 (Authorization header
// form) as a server computes it, for the tests: s3rver verifies no
// signature, so without this a wrongly signed request would pass every test
// and fail only against a real server. Written from AWS's documentation,
// apart from the driver's signer (plugins/repo/s3/s3_sigv4), and checked
// against AWS's published test vectors (sigv4_check_test.cc).
//
// It refuses what a server refuses: a signed header the request does not
// carry (libcurl < 8.3 signs an `Expect` it never sends), a scope whose
// day is not x-amz-date's, another region, service or access key, a wrong
// secret, any changed byte of a signed part. In S3 mode it also refuses
// what S3 refuses and what would make servers disagree: a payload hash
// that is not the body's, an x-amz-* header left unsigned, and a request
// target not already in canonical form (then a server that decodes and
// re-encodes it, as Ceph RGW and AWS do, signs other bytes than were
// sent).
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>

namespace s3_test {

struct SigV4Expectation {
  std::string secret_access_key;
  std::string access_key_id;  // "" accepts any
  std::string region = "us-east-1";
  std::string service = "s3";
  // S3's rules (see above); false for AWS's generic test-suite requests,
  // whose payload hash is the body's SHA-256 whether sent or not.
  bool s3 = true;
  // When not zero, x-amz-date must lie within this of the clock (S3: 15
  // minutes).
  std::chrono::seconds max_skew{0};
};

// Whether the request (its head as received, with "\r\n" line ends, and
// its body) carries a valid signature for `expect`. On false, `why` says
// what is off (and, for a signature mismatch, the canonical request).
bool CheckSigV4(const std::string& head, const std::string& body, const SigV4Expectation& expect,
                std::string* why);

// S3 mode, region us-east-1, any access key, 15 minutes of skew.
bool CheckSigV4(const std::string& head, const std::string& body, const std::string& secret,
                std::string* why);

}  // namespace s3_test
