// AWS Signature Version 4 with OpenSSL (see s3_sigv4.h).
#include "repo/s3/s3_sigv4.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <ctime>

#include "bkp/bkp_plugin.hpp"

namespace repo::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

std::string Hex(const unsigned char* data, size_t len) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (size_t i = 0; i < len; ++i) {
    out += kDigits[data[i] >> 4];
    out += kDigits[data[i] & 15];
  }
  return out;
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac,
           &len) == nullptr) {
    throw bkp::Error(BKP_E_INTERNAL, "OpenSSL cannot compute an HMAC-SHA256");
  }
  return std::string(reinterpret_cast<const char*>(mac), len);
}

char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// A header value as SigV4 signs it: no spaces or tabs at either end, each
// inner run of them one space (so a folded value's line breaks, too).
std::string SignedValue(std::string_view value) {
  std::string out;
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr) != 1) {
    throw bkp::Error(BKP_E_INTERNAL, "OpenSSL cannot compute a SHA-256");
  }
  return Hex(digest, len);
}

std::string UriEncode(std::string_view text, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string CanonicalQuery(const Pairs& params) {
  Pairs encoded;
  encoded.reserve(params.size());
  for (const auto& [name, value] : params) {
    encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  }
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

SigV4Signature SignV4(const SigV4Request& request, const SigV4Credentials& credentials) {
  // LowerAscii-cased names, sorted; a repeated name's values joined by commas in
  // the order given (a stable sort keeps it).
  Pairs headers;
  headers.reserve(request.headers.size());
  for (const auto& [name, value] : request.headers) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), LowerAscii);
    headers.emplace_back(std::move(lower), SignedValue(value));
  }
  std::stable_sort(headers.begin(), headers.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });

  SigV4Signature out;
  std::string canonical_headers;
  for (size_t i = 0; i < headers.size(); ++i) {
    if (i > 0 && headers[i].first == headers[i - 1].first) {
      canonical_headers.back() = ',';  // replaces the previous line's '\n'
      canonical_headers += headers[i].second + "\n";
      continue;
    }
    if (!out.signed_headers.empty()) out.signed_headers += ';';
    out.signed_headers += headers[i].first;
    canonical_headers += headers[i].first + ":" + headers[i].second + "\n";
  }

  out.canonical_request.append(request.method)
      .append("\n")
      .append(request.canonical_uri)
      .append("\n")
      .append(request.canonical_query)
      .append("\n")
      .append(canonical_headers)
      .append("\n")
      .append(out.signed_headers)
      .append("\n")
      .append(request.payload_hash);

  const std::string_view date = request.amz_date.substr(0, 8);
  std::string scope;
  scope.append(date).append("/").append(request.region).append("/");
  scope.append(request.service).append("/aws4_request");
  out.string_to_sign.append(kAlgorithm).append("\n").append(request.amz_date).append("\n");
  out.string_to_sign.append(scope).append("\n").append(Sha256Hex(out.canonical_request));

  std::string key = HmacSha256("AWS4" + credentials.secret_access_key, date);
  key = HmacSha256(key, request.region);
  key = HmacSha256(key, request.service);
  key = HmacSha256(key, "aws4_request");
  const std::string mac = HmacSha256(key, out.string_to_sign);
  out.signature = Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());

  out.authorization.append(kAlgorithm).append(" Credential=").append(credentials.access_key_id);
  out.authorization.append("/").append(scope).append(", SignedHeaders=");
  out.authorization.append(out.signed_headers).append(", Signature=").append(out.signature);
  return out;
}

std::string AmzDate(std::chrono::system_clock::time_point when) {
  const std::time_t t = std::chrono::system_clock::to_time_t(when);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace repo::s3
