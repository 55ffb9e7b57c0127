// Classifying S3 failures (see s3_errors.h).
#include "repo/s3/s3_errors.h"

#include <curl/curl.h>

#include <cstdio>

#include "repo/s3/s3_xml.h"

namespace repo::s3 {
namespace {

bool ConnectionFailure(int code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return true;
    default:
      return false;
  }
}

// The server's certificate is not trusted (or the CA file is unusable):
// no retry fixes that, the setting ca_file does.
bool TlsTrustFailure(int code) {
  switch (code) {
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_CERTPROBLEM:
      return true;
    default:
      return false;
  }
}

// Failures of the way, not of the request: another connection may succeed.
bool TransientTransport(int code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

std::string Code(const HttpResponse& r) { return XmlText(r.body, "Code").value_or(""); }

std::string Tried(int attempts, std::chrono::milliseconds elapsed) {
  if (attempts <= 1) return "";
  char buf[128];
  std::snprintf(buf, sizeof buf, " (gave up after %d attempts in %.1f s: setting retry_deadline)",
                attempts, static_cast<double>(elapsed.count()) / 1000.0);
  return buf;
}

}  // namespace

bool Retryable(const HttpResponse& r) {
  if (r.transport != 0) return TransientTransport(r.transport);
  if (r.status >= 500 || r.status == 429) return true;
  const std::string code = Code(r);
  return code == "SlowDown" || code == "RequestTimeout" || code == "InternalError";
}

bkp::Error ToError(const S3Config& config, const std::string& what, const HttpResponse& r,
                   int attempts, std::chrono::milliseconds elapsed) {
  const std::string where = " in bucket '" + config.bucket + "' at " + config.endpoint;
  const std::string tried = Tried(attempts, elapsed);
  auto error = [&](bkp_status status, const std::string& text) {
    return bkp::Error(status, config.Redact(text));
  };
  if (r.transport != 0) {
    if (TlsTrustFailure(r.transport)) {
      const std::string trusted = config.ca_file.empty()
                                      ? "the system's CA certificates"
                                      : "the CA certificates of ca_file '" + config.ca_file + "'";
      return error(BKP_E_UNREACHABLE,
                   "the TLS certificate of the S3 endpoint " + config.endpoint + " (bucket '" +
                       config.bucket + "', " + what + ") is not trusted by " + trusted + ": " +
                       r.transport_error +
                       "; set 'ca_file' to the PEM file of the CA that signed it, or correct "
                       "setting 'endpoint'");
    }
    if (ConnectionFailure(r.transport)) {
      return error(BKP_E_UNREACHABLE, "cannot reach the S3 endpoint " + config.endpoint +
                                          " (bucket '" + config.bucket + "') for " + what + ": " +
                                          r.transport_error + tried +
                                          "; check setting 'endpoint' and the network");
    }
    return error(BKP_E_IO, what + where + " failed: " + r.transport_error + tried);
  }
  const std::string code = Code(r);
  const std::string message = XmlText(r.body, "Message").value_or("");
  const std::string answer = "HTTP " + std::to_string(r.status) + (code.empty() ? "" : " " + code) +
                             (message.empty() ? "" : ": " + message);
  if (code == "NoSuchBucket") {
    return error(BKP_E_NOT_FOUND, "bucket '" + config.bucket + "' does not exist at " +
                                      config.endpoint + " (" + what + ": " + answer +
                                      "): create it, or correct setting 'bucket'");
  }
  if (code == "RequestTimeTooSkewed") {
    return error(BKP_E_AUTH, what + where + " refused: this machine's clock is too far off (" +
                                 answer + "); synchronise it (NTP)");
  }
  if (r.status == 403 || code == "InvalidAccessKeyId" || code == "SignatureDoesNotMatch" ||
      code == "ExpiredToken" || code == "InvalidToken") {
    const std::string source =
        config.credentials ? config.credentials->Describe() : "access_key_id";
    return error(BKP_E_AUTH, "S3 refused the credentials (" + source + ") for " + what + where +
                                 " (" + answer +
                                 "): check them (settings access_key_id, secret_access_key, "
                                 "session_token, profile, credentials), and that they may use "
                                 "this bucket");
  }
  if (r.status == 301 || code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed") {
    return error(BKP_E_INVALID_ARGUMENT, what + where + " refused (" + answer +
                                             "): the bucket is not in region '" + config.region +
                                             "' or not at this endpoint; correct setting "
                                             "'region' or 'endpoint'");
  }
  if (code == "InvalidRequest" && !config.sse.empty() && config.endpoint.rfind("http://", 0) == 0) {
    // Ceph RGW (rgw_crypt_require_ssl) and AWS (aws:kms) refuse server-side
    // encryption asked for in clear text, with no word on why.
    return error(BKP_E_INVALID_ARGUMENT,
                 what + where + " refused (" + answer + "): setting 'sse' is '" + config.sse +
                     "' and servers refuse server-side encryption over http: use an https "
                     "endpoint, or remove 'sse'");
  }
  if (r.status == 404) {
    return error(BKP_E_NOT_FOUND, what + where + ": not found (" + answer + ")");
  }
  return error(BKP_E_IO, what + where + " failed (" + answer + ")" + tried);
}

}  // namespace repo::s3
