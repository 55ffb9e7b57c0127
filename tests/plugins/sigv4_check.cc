// SigV4 verification for the test proxy (see sigv4_check.h), following
// the AWS documentation's canonical request: method, URI, query, headers,
// signed header names, payload hash.
#include "plugins/sigv4_check.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <utility>
#include <vector>

namespace s3_test {
namespace {

std::string Hex(const unsigned char* p, size_t n) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kDigits[p[i] >> 4];
    out += kDigits[p[i] & 15];
  }
  return out;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return Hex(md, len);
}

std::string Hmac(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(' ');
  const size_t b = s.find_last_not_of(' ');
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string Decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Encode(const std::string& s, bool keep_slash) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
        (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// The query as S3 canonicalises it: every name and value decoded and
// encoded again, pairs sorted.
std::string CanonicalQuery(const std::string& query) {
  std::vector<std::pair<std::string, std::string>> params;
  size_t from = 0;
  while (from < query.size()) {
    const size_t amp = std::min(query.find('&', from), query.size());
    const std::string pair = query.substr(from, amp - from);
    const size_t eq = pair.find('=');
    params.emplace_back(Encode(Decode(pair.substr(0, eq)), false),
                        eq == std::string::npos ? "" : Encode(Decode(pair.substr(eq + 1)), false));
    from = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) out += (out.empty() ? "" : "&") + name + "=" + value;
  return out;
}

std::string Field(const std::string& auth, const std::string& name) {
  const size_t at = auth.find(name + "=");
  if (at == std::string::npos) return "";
  const size_t from = at + name.size() + 1;
  return auth.substr(from, std::min(auth.find(',', from), auth.size()) - from);
}

}  // namespace

bool CheckSigV4(const std::string& head, const std::string& body, const std::string& secret,
                std::string* why) {
  std::map<std::string, std::string> headers;
  size_t from = head.find("\r\n") + 2;
  const std::string request_line = head.substr(0, from - 2);
  while (from < head.size()) {
    const size_t eol = head.find("\r\n", from);
    const std::string line = head.substr(from, eol - from);
    from = eol + 2;
    if (line.empty()) break;
    const size_t colon = line.find(':');
    headers[Lower(line.substr(0, colon))] = Trim(line.substr(colon + 1));
  }
  const std::string method = request_line.substr(0, request_line.find(' '));
  const size_t sp = request_line.find(' ') + 1;
  const std::string target = request_line.substr(sp, request_line.rfind(' ') - sp);
  const size_t q = target.find('?');
  const std::string path = target.substr(0, q);
  const std::string query = q == std::string::npos ? "" : target.substr(q + 1);

  const std::string auth = headers["authorization"];
  if (auth.rfind("AWS4-HMAC-SHA256 ", 0) != 0) {
    *why = "no AWS4-HMAC-SHA256 Authorization header";
    return false;
  }
  const std::string payload_hash = headers["x-amz-content-sha256"];
  if (payload_hash != Sha256Hex(body)) {
    *why = "x-amz-content-sha256 '" + payload_hash + "' is not the body's SHA-256";
    return false;
  }
  const std::string credential = Field(auth, "Credential");
  const std::string signed_names = Field(auth, "SignedHeaders");
  const std::string signature = Field(auth, "Signature");
  const size_t slash = credential.find('/');
  const std::string scope = credential.substr(slash + 1);  // date/region/s3/aws4_request
  const std::string date = scope.substr(0, scope.find('/'));
  const std::string region =
      scope.substr(date.size() + 1, scope.find('/', date.size() + 1) - date.size() - 1);

  std::string canonical_headers;
  size_t at = 0;
  while (at <= signed_names.size()) {
    const size_t semi = std::min(signed_names.find(';', at), signed_names.size());
    const std::string name = signed_names.substr(at, semi - at);
    canonical_headers += name + ":" + headers[name] + "\n";
    at = semi + 1;
  }
  if (signed_names.find("host") == std::string::npos ||
      signed_names.find("x-amz-content-sha256") == std::string::npos) {
    *why = "SignedHeaders '" + signed_names + "' leave out host or x-amz-content-sha256";
    return false;
  }
  const std::string canonical = method + "\n" + Encode(Decode(path), true) + "\n" +
                                CanonicalQuery(query) + "\n" + canonical_headers + "\n" +
                                signed_names + "\n" + payload_hash;
  const std::string to_sign =
      "AWS4-HMAC-SHA256\n" + headers["x-amz-date"] + "\n" + scope + "\n" + Sha256Hex(canonical);
  std::string key = Hmac("AWS4" + secret, date);
  key = Hmac(key, region);
  key = Hmac(key, "s3");
  key = Hmac(key, "aws4_request");
  const std::string mac = Hmac(key, to_sign);
  const std::string expected = Hex(reinterpret_cast<const unsigned char*>(mac.data()), mac.size());
  if (expected != signature) {
    *why = "signature " + signature + ", expected " + expected + " for canonical request:\n" +
           canonical;
    return false;
  }
  return true;
}

}  // namespace s3_test
