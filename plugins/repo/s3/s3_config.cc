// Reading and validating the S3 settings (see s3_config.h).
#include "repo/s3/s3_config.h"

#include <arpa/inet.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "repo/s3/s3_credential_chain.h"

namespace repo::s3 {
namespace {

[[noreturn]] void Bad(const std::string& setting, const std::string& why) {
  throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting '" + setting + "' " + why);
}

int64_t IntInRange(const bkp::Settings& settings, const char* key, int64_t fallback, int64_t min,
                   int64_t max, const char* unit) {
  const int64_t value = settings.get_int(key).value_or(fallback);
  if (value < min || value > max) {
    Bad(key, "is " + std::to_string(value) + ", must be " + std::to_string(min) + "-" +
                 std::to_string(max) + " " + unit);
  }
  return value;
}

// The host of "scheme://host[:port]", without brackets for IPv6.
std::string HostOf(const std::string& endpoint) {
  std::string rest = endpoint.substr(endpoint.find("://") + 3);
  if (!rest.empty() && rest[0] == '[') return rest.substr(1, rest.find(']') - 1);
  return rest.substr(0, rest.find(':'));
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string ValidEndpoint(std::string endpoint) {
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const bool http = endpoint.rfind("http://", 0) == 0;
  const bool https = endpoint.rfind("https://", 0) == 0;
  if (!http && !https) {
    Bad("endpoint", "is '" + endpoint + "': it must start with http:// or https://");
  }
  const std::string authority = endpoint.substr(endpoint.find("://") + 3);
  if (authority.empty() || authority.find_first_of("/?#@ ") != std::string::npos) {
    Bad("endpoint", "is '" + endpoint +
                        "': it must be scheme://host[:port] only (the bucket and prefix are "
                        "settings of their own)");
  }
  return endpoint;
}

std::string ValidPrefix(std::string prefix) {
  while (!prefix.empty() && prefix.front() == '/') prefix.erase(prefix.begin());
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (prefix.find("//") != std::string::npos) Bad("prefix", "must not contain '//'");
  return prefix.empty() ? prefix : prefix + "/";
}

// A readable file, or a clear refusal: libcurl would otherwise fail every
// request later with a TLS error that names no setting.
std::string ValidCaFile(std::string path, const std::string& endpoint) {
  if (path.empty()) return path;
  if (endpoint.rfind("https://", 0) != 0) {
    Bad("ca_file", "is set but endpoint '" + endpoint + "' is not https://");
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    Bad("ca_file", "is '" + path + "': no such file (give a PEM file of CA certificates)");
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    Bad("ca_file", "is '" + path + "': not a file (give a PEM file of CA certificates)");
  }
  if (::access(path.c_str(), R_OK) != 0) {
    Bad("ca_file", "is '" + path + "': the file cannot be read (" + std::strerror(errno) + ")");
  }
  return path;
}

}  // namespace

std::string S3Config::Describe() const { return "s3:" + endpoint + "/" + bucket + "/" + prefix; }

std::string S3Config::Redact(std::string text) const {
  for (const std::string* secret : {&secret_access_key, &session_token}) {
    if (secret->empty()) continue;
    for (size_t at; (at = text.find(*secret)) != std::string::npos;) {
      text.replace(at, secret->size(), "***");
    }
  }
  return credentials ? credentials->Redact(std::move(text)) : text;
}

S3Config ReadS3Config(const bkp::Settings& settings, WarnFn warn) {
  S3Config c;
  c.endpoint = ValidEndpoint(settings.get_string("endpoint").value_or(""));
  c.region = settings.get_string("region").value_or(c.region);
  if (c.region.empty() || c.region.find_first_of("/: ") != std::string::npos) {
    Bad("region", "is '" + c.region + "': name a region such as us-east-1");
  }
  c.bucket = settings.get_string("bucket").value_or("");
  if (c.bucket.empty() || c.bucket.find_first_of("/: ") != std::string::npos) {
    Bad("bucket", "is '" + c.bucket + "': name an existing bucket (no '/', ':' or spaces)");
  }
  c.prefix = ValidPrefix(settings.get_string("prefix").value_or(""));
  c.path_style = settings.get_bool("path_style").value_or(false);
  if (!c.path_style && IsIpLiteral(HostOf(c.endpoint))) {
    Bad("path_style", "is false but endpoint '" + c.endpoint +
                          "' is an IP address, which cannot carry the bucket in its host "
                          "name: set path_style = true");
  }
  // The bucket becomes a label of the host name: DNS allows lower-case
  // letters, digits, '-' and '.' only.
  if (!c.path_style &&
      c.bucket.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") != std::string::npos) {
    Bad("path_style", "is false but bucket '" + c.bucket +
                          "' cannot be part of a host name (only a-z, 0-9, '-' and '.'): set "
                          "path_style = true");
  }

  c.ca_file = ValidCaFile(settings.get_string("ca_file").value_or(""), c.endpoint);
  c.sse = settings.get_string("sse").value_or("");
  if (!c.sse.empty() && c.sse != "AES256" && c.sse != "aws:kms") {
    Bad("sse", "is '" + c.sse + "': it must be \"AES256\" or \"aws:kms\" (or absent)");
  }
  c.sse_kms_key_id = settings.get_string("sse_kms_key_id").value_or("");
  if (!c.sse_kms_key_id.empty() && c.sse != "aws:kms") {
    Bad("sse_kms_key_id", "is set but setting 'sse' is not \"aws:kms\"");
  }
  if (c.sse_kms_key_id.find_first_of(" \t\r\n") != std::string::npos) {
    Bad("sse_kms_key_id", "must not contain white space");
  }

  c.min_part_size = static_cast<uint64_t>(IntInRange(
      settings, "min_part_size", static_cast<int64_t>(kS3MinPartSize), 1024, 5ll << 30, "bytes"));
  c.part_size = static_cast<uint64_t>(IntInRange(
      settings, "part_size", static_cast<int64_t>(c.part_size), 1024, 5ll << 30, "bytes"));
  if (c.part_size < c.min_part_size) {
    Bad("part_size", "is " + std::to_string(c.part_size) +
                         " bytes, below the server's minimum part size (min_part_size = " +
                         std::to_string(c.min_part_size) + "; S3 needs 5 MiB)");
  }
  c.parallel_parts =
      static_cast<uint32_t>(IntInRange(settings, "parallel_parts", c.parallel_parts, 1, 64, ""));
  c.retry_deadline =
      std::chrono::seconds(IntInRange(settings, "retry_deadline", 120, 1, 24 * 3600, "seconds"));
  c.stall_timeout =
      std::chrono::seconds(IntInRange(settings, "stall_timeout", 30, 1, 3600, "seconds"));

  CredentialOptions options;
  options.source = settings.get_string("credentials").value_or("auto");
  options.access_key_id = settings.get_string("access_key_id").value_or("");
  options.secret_access_key = settings.get_string("secret_access_key").value_or("");
  options.session_token = settings.get_string("session_token").value_or("");
  options.profile = settings.get_string("profile").value_or("");
  options.imds_endpoint = settings.get_string("imds_endpoint").value_or("");
  options.warn = std::move(warn);
  try {
    c.credentials = MakeCredentialSource(options);
  } catch (const bkp::Error& e) {
    throw bkp::Error(e.status(), std::string(e.what()) + " (repository " + c.Describe() + ")");
  }
  return c;
}

}  // namespace repo::s3
