// S3Config: where an S3 repository lives and how the driver talks to it,
// read from the provider's settings (and, for credentials, the environment,
// a credentials file or instance metadata: s3_credential_chain.h). Every
// field is validated here, so the driver never starts on a bad one.
//
// Secrets: secret_access_key and session_token never appear in Describe(),
// in any message built from a config, or in logs; Redact() removes them
// (and those the credential source handed out) from any text that might
// have picked them up.
// Thread-safety: an S3Config is immutable after ReadS3Config (its
// credential source is itself thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/s3/s3_credentials.h"

namespace repo::s3 {

// S3's own limit on the size of every part but the last.
inline constexpr uint64_t kS3MinPartSize = 5ull << 20;
// S3's limit on the parts of one upload.
inline constexpr uint64_t kS3MaxParts = 10000;

struct S3Config {
  std::string endpoint;  // "https://s3.eu-west-1.amazonaws.com", no trailing '/'
  std::string region = "us-east-1";
  std::string bucket;
  std::string prefix;       // "" or "some/path/" (always ends in '/')
  bool path_style = false;  // endpoint/bucket/key instead of bucket.endpoint/key
  // An object larger than one part goes up as a multipart upload of parts of
  // this size; part_size x parallel_parts bounds the memory of uploads.
  uint64_t part_size = 16ull << 20;
  uint64_t min_part_size = kS3MinPartSize;  // what the server accepts
  uint32_t parallel_parts = 4;
  // The static keys of a config built by hand (tests); ReadS3Config leaves
  // them empty and sets `credentials`.
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
  // What signs each request; S3Client makes a static source of the keys
  // above when this is null.
  std::shared_ptr<CredentialSource> credentials;
  // A PEM bundle of the CAs that https endpoints are checked against,
  // instead of the system's; "" for the system's. libcurl ignores the CA
  // environment variables, so this is the only way to a private CA.
  std::string ca_file;
  // Server-side encryption asked for on every object written: "" (the
  // bucket's default), "AES256" or "aws:kms" (then sse_kms_key_id, if not
  // "", names the key; else the account's default KMS key).
  std::string sse;
  std::string sse_kms_key_id;
  // Retries of one request stop once this much time has passed since its
  // first attempt.
  std::chrono::milliseconds retry_deadline{std::chrono::seconds(120)};
  // A request that moves no byte for this long is abandoned and retried.
  std::chrono::seconds stall_timeout{30};

  // "s3:http://host:port/bucket/prefix/", for messages: no secret in it.
  std::string Describe() const;
  // The host[:port] of `endpoint`.
  std::string Authority() const { return endpoint.substr(endpoint.find("://") + 3); }
  // `text` with every secret of this config replaced by "***".
  std::string Redact(std::string text) const;
};

// Reads and validates the settings (see plugins/remote for their names and
// docs/operations.md) and finds the credentials (s3_credential_chain.h);
// `warn` gets the credential source's warnings (a failed refresh). Throws
// bkp::Error(BKP_E_INVALID_ARGUMENT) naming the setting and what is wrong,
// or BKP_E_AUTH when no credentials can be found.
S3Config ReadS3Config(const bkp::Settings& settings, WarnFn warn = nullptr);

}  // namespace repo::s3
