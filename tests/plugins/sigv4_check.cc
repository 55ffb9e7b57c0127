// SigV4 verification for the tests (see sigv4_check.h), following AWS's
// "Create a canonical request for Signature Version 4" and its S3 variant:
// method, URI, query, headers, signed header names, payload hash; the
// string to sign; the key derived from the secret, day, region, service.
#include "plugins/sigv4_check.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <map>
#include <optional>
#include <utility>
#include <vector>

namespace s3_test {
namespace {

std::string ToHex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::string Sha256(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Mac(const std::string& key, const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

std::string Lowered(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Trimmed, each inner run of white space one space.
std::string Squeezed(const std::string& s) {
  std::string out;
  for (char c : s) {
    const bool white = c == ' ' || c == '\t';
    if (white && (out.empty() || out.back() == ' ')) continue;
    out += white ? ' ' : c;
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t from = 0;
  while (true) {
    const size_t at = s.find(sep, from);
    parts.push_back(s.substr(from, at == std::string::npos ? std::string::npos : at - from));
    if (at == std::string::npos) return parts;
    from = at + 1;
  }
}

// %XY decoded; nullopt for a '%' not followed by two hex digits.
std::optional<std::string> PercentDecoded(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      return std::nullopt;
    }
    out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

bool Unreserved(unsigned char c) {
  return std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

std::string PercentEncoded(const std::string& s, bool slash_too) {
  std::string out;
  char buf[4];
  for (unsigned char c : s) {
    if (Unreserved(c) || (c == '/' && !slash_too)) {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

struct Parsed {
  std::string method, path, query;
  // Lower-cased name -> its values in arrival order.
  std::map<std::string, std::vector<std::string>> headers;
};

bool Parse(const std::string& head, Parsed* p, std::string* why) {
  std::vector<std::string> lines;
  size_t from = 0;
  while (from < head.size()) {
    size_t eol = head.find("\r\n", from);
    if (eol == std::string::npos) eol = head.size();
    lines.push_back(head.substr(from, eol - from));
    from = eol + 2;
  }
  if (lines.empty()) {
    *why = "no request line";
    return false;
  }
  const std::string& first = lines[0];
  const size_t sp1 = first.find(' ');
  const size_t sp2 = first.rfind(' ');
  if (sp1 == std::string::npos || sp2 <= sp1) {
    *why = "a malformed request line '" + first + "'";
    return false;
  }
  p->method = first.substr(0, sp1);
  const std::string target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  const size_t q = target.find('?');
  p->path = target.substr(0, q);
  p->query = q == std::string::npos ? "" : target.substr(q + 1);
  std::string* last = nullptr;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string& line = lines[i];
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && last != nullptr) {
      *last += " " + line;  // an obsolete folded continuation
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      *why = "a malformed header line '" + line + "'";
      return false;
    }
    auto& values = p->headers[Lowered(line.substr(0, colon))];
    values.push_back(line.substr(colon + 1));
    last = &values.back();
  }
  return true;
}

std::string HeaderValue(const Parsed& p, const std::string& name) {
  const auto it = p.headers.find(name);
  if (it == p.headers.end()) return "";
  std::string out;
  for (const auto& v : it->second) out += (out.empty() ? "" : ",") + Squeezed(v);
  return out;
}

// "Credential=..., SignedHeaders=..., Signature=..." -> its fields.
std::map<std::string, std::string> AuthFields(const std::string& text) {
  std::map<std::string, std::string> fields;
  for (const std::string& part : Split(text, ',')) {
    const std::string item = Squeezed(part);
    const size_t eq = item.find('=');
    if (eq != std::string::npos) fields[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return fields;
}

std::optional<std::string> CanonicalQueryOf(const std::string& query) {
  if (query.empty()) return std::string();
  std::vector<std::pair<std::string, std::string>> params;
  for (const std::string& pair : Split(query, '&')) {
    const size_t eq = pair.find('=');
    const auto name = PercentDecoded(pair.substr(0, eq));
    const auto value = PercentDecoded(eq == std::string::npos ? "" : pair.substr(eq + 1));
    if (!name || !value) return std::nullopt;
    params.emplace_back(PercentEncoded(*name, true), PercentEncoded(*value, true));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [name, value] : params) {
    if (!out.empty()) out += "&";
    out += name + "=" + value;
  }
  return out;
}

// Seconds since the epoch of "20150830T123600Z"; nullopt if malformed.
std::optional<int64_t> ParseAmzDate(const std::string& text) {
  std::tm tm{};
  if (text.size() != 16 || text[8] != 'T' || text[15] != 'Z') return std::nullopt;
  if (std::sscanf(text.c_str(), "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6) {
    return std::nullopt;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm));
}

bool Fail(std::string* why, std::string text) {
  *why = std::move(text);
  return false;
}

}  // namespace

bool CheckSigV4(const std::string& head, const std::string& body, const SigV4Expectation& expect,
                std::string* why) {
  Parsed req;
  if (!Parse(head, &req, why)) return false;

  const std::string auth = HeaderValue(req, "authorization");
  const std::string kScheme = "AWS4-HMAC-SHA256 ";
  if (auth.rfind(kScheme, 0) != 0) return Fail(why, "no AWS4-HMAC-SHA256 Authorization header");
  auto fields = AuthFields(auth.substr(kScheme.size()));
  for (const char* field : {"Credential", "SignedHeaders", "Signature"}) {
    if (fields[field].empty()) return Fail(why, std::string("the Authorization has no ") + field);
  }

  // Credential: key id / day / region / service / aws4_request.
  const auto scope_parts = Split(fields["Credential"], '/');
  if (scope_parts.size() != 5 || scope_parts[4] != "aws4_request") {
    return Fail(why, "a malformed Credential '" + fields["Credential"] + "'");
  }
  const std::string& key_id = scope_parts[0];
  const std::string& day = scope_parts[1];
  const std::string& region = scope_parts[2];
  const std::string& service = scope_parts[3];
  if (!expect.access_key_id.empty() && key_id != expect.access_key_id) {
    return Fail(why, "access key '" + key_id + "' is not '" + expect.access_key_id + "'");
  }
  if (region != expect.region) {
    return Fail(why, "the scope's region '" + region + "' is not '" + expect.region + "'");
  }
  if (service != expect.service) {
    return Fail(why, "the scope's service '" + service + "' is not '" + expect.service + "'");
  }
  const std::string amz_date = HeaderValue(req, "x-amz-date");
  const auto when = ParseAmzDate(amz_date);
  if (!when) return Fail(why, "x-amz-date '" + amz_date + "' is missing or malformed");
  if (amz_date.substr(0, 8) != day) {
    return Fail(why, "the scope's day " + day + " is not x-amz-date's " + amz_date);
  }
  if (expect.max_skew.count() > 0) {
    const int64_t now = static_cast<int64_t>(std::time(nullptr));
    if (std::llabs(now - *when) > expect.max_skew.count()) {
      return Fail(why, "x-amz-date " + amz_date + " is too far from the clock");
    }
  }

  // Every signed header must be in the request: a server reads the value
  // it signs from the request, and an absent one is no empty one.
  const std::string signed_names = fields["SignedHeaders"];
  const auto names = Split(signed_names, ';');
  std::string canonical_headers;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (name.empty() || name != Lowered(name) || (i > 0 && name <= names[i - 1])) {
      return Fail(why, "SignedHeaders '" + signed_names + "' are not sorted lower-case names");
    }
    if (req.headers.count(name) == 0) {
      return Fail(why, "signed header '" + name + "' is not in the request");
    }
    canonical_headers += name + ":" + HeaderValue(req, name) + "\n";
  }
  auto is_signed = [&](const std::string& name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  if (!is_signed("host")) return Fail(why, "SignedHeaders '" + signed_names + "' leave out host");

  std::string payload_hash = ToHex(Sha256(body));
  std::string canonical_uri, canonical_query;
  const auto decoded_path = PercentDecoded(req.path);
  const auto query = CanonicalQueryOf(req.query);
  if (!decoded_path || !query) return Fail(why, "a malformed %-escape in the request target");
  canonical_uri = PercentEncoded(*decoded_path, false);
  canonical_query = *query;
  if (expect.s3) {
    const std::string sent_hash = HeaderValue(req, "x-amz-content-sha256");
    if (sent_hash != payload_hash) {
      return Fail(why, "x-amz-content-sha256 '" + sent_hash + "' is not the body's SHA-256");
    }
    for (const auto& [name, values] : req.headers) {
      if (name.rfind("x-amz-", 0) == 0 && !is_signed(name)) {
        return Fail(why, "header '" + name + "' is sent but not signed (S3 wants every x-amz-*)");
      }
    }
    if (req.path != canonical_uri || req.query != canonical_query) {
      return Fail(why, "the request target '" + req.path + (req.query.empty() ? "" : "?") +
                           req.query + "' is not in canonical form '" + canonical_uri +
                           (canonical_query.empty() ? "" : "?") + canonical_query + "'");
    }
  } else if (req.headers.count("x-amz-content-sha256") != 0) {
    payload_hash = HeaderValue(req, "x-amz-content-sha256");
  }

  const std::string canonical = req.method + "\n" + canonical_uri + "\n" + canonical_query + "\n" +
                                canonical_headers + "\n" + signed_names + "\n" + payload_hash;
  const std::string scope = day + "/" + region + "/" + service + "/aws4_request";
  const std::string to_sign =
      "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" + ToHex(Sha256(canonical));
  const std::string k_date = Mac("AWS4" + expect.secret_access_key, day);
  const std::string k_signing = Mac(Mac(Mac(k_date, region), service), "aws4_request");
  const std::string expected = ToHex(Mac(k_signing, to_sign));
  if (expected != fields["Signature"]) {
    return Fail(why, "signature " + fields["Signature"] + ", expected " + expected +
                         " for canonical request:\n" + canonical);
  }
  return true;
}

bool CheckSigV4(const std::string& head, const std::string& body, const std::string& secret,
                std::string* why) {
  SigV4Expectation expect;
  expect.secret_access_key = secret;
  expect.max_skew = std::chrono::minutes(15);
  return CheckSigV4(head, body, expect, why);
}

}  // namespace s3_test
