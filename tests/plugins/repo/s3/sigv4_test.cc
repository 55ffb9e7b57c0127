// AWS Signature V4, both sides, against AWS's own numbers: the driver's
// signer (plugins/repo/s3/s3_sigv4) must reproduce every published
// canonical request, string to sign and signature, and the tests'
// independent verifier (sigv4_check) must accept every published signed
// request and refuse each kind of damage a server refuses. The vectors are
// data from AWS (see sigv4_vectors/README.md); neither side is checked
// only against the other.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plugins/plugins_test_util.h"
#include "plugins/sigv4_check.h"
#include "repo/s3/s3_sigv4.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::Contains;
using repo::s3::Pairs;

namespace {

const fs::path kSigv4Vectors = BKP_SIGV4_VECTORS_DIR;

// One request of the test suite: its request line, headers (continuation
// lines folded into their header) and body.
struct SuiteRequest {
  std::string method, path, query, body;
  Pairs headers;
};

std::string Decoded(const std::string& s) {
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

SuiteRequest ParseSuiteRequest(const std::string& text) {
  SuiteRequest r;
  size_t from = 0;
  std::vector<std::string> lines;
  while (from <= text.size()) {
    const size_t eol = std::min(text.find('\n', from), text.size());
    lines.push_back(text.substr(from, eol - from));
    from = eol + 1;
    if (lines.back().empty() && lines.size() > 1) break;  // the head's end
  }
  r.body = from < text.size() ? text.substr(from) : "";
  const std::string& first = lines[0];
  r.method = first.substr(0, first.find(' '));
  const std::string target =
      first.substr(r.method.size() + 1, first.rfind(' ') - r.method.size() - 1);
  r.path = target.substr(0, target.find('?'));
  r.query = target.find('?') == std::string::npos ? "" : target.substr(target.find('?') + 1);
  for (size_t i = 1; i < lines.size() && !lines[i].empty(); ++i) {
    if (lines[i][0] == ' ') {
      r.headers.back().second += " " + lines[i];
      continue;
    }
    const size_t colon = lines[i].find(':');
    r.headers.emplace_back(lines[i].substr(0, colon), lines[i].substr(colon + 1));
  }
  return r;
}

// A header-signed-request.txt as it goes on the wire: "\r\n" line ends.
std::pair<std::string, std::string> WireRequest(const std::string& text) {
  const size_t end = text.find("\n\n");
  std::string head = text.substr(0, end + 2);
  const std::string body = text.substr(end + 2);
  std::string wire;
  for (char c : head) wire += c == '\n' ? std::string("\r\n") : std::string(1, c);
  return {wire, body};
}

std::vector<fs::path> VectorDirs() {
  std::vector<fs::path> dirs;
  for (const auto& entry : fs::directory_iterator(kSigv4Vectors)) {
    if (entry.is_directory()) dirs.push_back(entry.path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::string Read(const fs::path& file) { return testing_support::ReadFile(file); }

s3_test::SigV4Expectation SuiteExpectation(const nlohmann::json& context) {
  s3_test::SigV4Expectation e;
  e.secret_access_key = context["credentials"]["secret_access_key"];
  e.access_key_id = context["credentials"]["access_key_id"];
  e.region = context["region"];
  e.service = context["service"];
  e.s3 = false;
  return e;
}

std::string Replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, from);
  return text.replace(at, from.size(), to);
}

// The S3 documentation's examples ("Signature Calculations for the
// Authorization Header: Transferring Payload in a Single Chunk"): bucket
// examplebucket, 2013-05-24, AWS's example keys.
constexpr const char* kS3ExampleKeyId = "AKIAIOSFODNN7EXAMPLE";
constexpr const char* kS3ExampleSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* kEmptyHash =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

}  // namespace

TEST_CASE("sigv4: the driver's signer reproduces every AWS test-suite vector") {
  const auto dirs = VectorDirs();
  REQUIRE(dirs.size() >= 30);
  for (const auto& dir : dirs) {
    CAPTURE(dir.filename().string());
    const auto context = nlohmann::json::parse(Read(dir / "context.json"));
    const SuiteRequest req = ParseSuiteRequest(Read(dir / "request.txt"));
    const std::string amz_date = "20150830T123600Z";  // context timestamp 2015-08-30T12:36:00Z
    REQUIRE(context["timestamp"] == "2015-08-30T12:36:00Z");

    // The suite's signer adds X-Amz-Date, the session token (unless the
    // vector adds it after signing) and, when it signs the body, its hash.
    Pairs headers = req.headers;
    headers.emplace_back("X-Amz-Date", amz_date);
    const std::string token = context["credentials"].value("token", "");
    if (!token.empty() && !context.value("omit_session_token", false)) {
      headers.emplace_back("X-Amz-Security-Token", token);
    }
    const std::string payload_hash = repo::s3::Sha256Hex(req.body);
    if (context["sign_body"] == true) headers.emplace_back("x-amz-content-sha256", payload_hash);

    // The path and query as the driver builds them: from their decoded
    // text, encoded once.
    Pairs params;
    if (!req.query.empty()) {
      size_t from = 0;
      while (from <= req.query.size()) {
        const size_t amp = std::min(req.query.find('&', from), req.query.size());
        const std::string pair = req.query.substr(from, amp - from);
        const size_t eq = pair.find('=');
        params.emplace_back(Decoded(pair.substr(0, eq)),
                            eq == std::string::npos ? "" : Decoded(pair.substr(eq + 1)));
        from = amp + 1;
      }
    }
    const std::string uri = repo::s3::UriEncode(Decoded(req.path), true);
    const std::string query = repo::s3::CanonicalQuery(params);
    const std::string region = context["region"];
    const std::string service = context["service"];
    repo::s3::SigV4Request sign{req.method,   uri,      query,  headers,
                                payload_hash, amz_date, region, service};
    const repo::s3::SigV4Credentials keys{context["credentials"]["access_key_id"],
                                          context["credentials"]["secret_access_key"], token};
    const auto got = repo::s3::SignV4(sign, keys);
    CHECK(got.canonical_request == Read(dir / "header-canonical-request.txt"));
    CHECK(got.string_to_sign == Read(dir / "header-string-to-sign.txt"));
    CHECK(got.signature == Read(dir / "header-signature.txt"));
    CHECK(Contains(Read(dir / "header-signed-request.txt"), "Authorization:" + got.authorization));
  }
}

TEST_CASE("sigv4: the driver's signer reproduces the S3 documentation's examples") {
  const repo::s3::SigV4Credentials keys{kS3ExampleKeyId, kS3ExampleSecret, ""};
  const std::string date = "20130524T000000Z";
  const std::string host = "examplebucket.s3.amazonaws.com";
  auto sign = [&](const char* method, const std::string& uri, const Pairs& query, Pairs headers,
                  const std::string& hash) {
    headers.emplace_back("Host", host);
    headers.emplace_back("x-amz-date", date);
    headers.emplace_back("x-amz-content-sha256", hash);
    const std::string q = repo::s3::CanonicalQuery(query);
    return repo::s3::SignV4({method, uri, q, headers, hash, date, "us-east-1", "s3"}, keys);
  };
  SUBCASE("GET Object with a Range") {
    const auto s = sign("GET", "/test.txt", {}, {{"Range", "bytes=0-9"}}, kEmptyHash);
    CHECK(s.signed_headers == "host;range;x-amz-content-sha256;x-amz-date");
    CHECK(s.signature == "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  }
  SUBCASE("PUT Object: a key with '$', a body") {
    const std::string body = "Welcome to Amazon S3.";
    const std::string hash = repo::s3::Sha256Hex(body);
    CHECK(hash == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    const auto s = sign(
        "PUT", "/" + repo::s3::UriEncode("test$file.text", true), {},
        {{"Date", "Fri, 24 May 2013 00:00:00 GMT"}, {"x-amz-storage-class", "REDUCED_REDUNDANCY"}},
        hash);
    CHECK(s.canonical_request.rfind("PUT\n/test%24file.text\n\n", 0) == 0);
    CHECK(s.signature == "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  }
  SUBCASE("GET Bucket lifecycle: a query name without a value") {
    const auto s = sign("GET", "/", {{"lifecycle", ""}}, {}, kEmptyHash);
    CHECK(s.signature == "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
  }
  SUBCASE("List objects: query parameters sorted") {
    const auto s = sign("GET", "/", {{"prefix", "J"}, {"max-keys", "2"}}, {}, kEmptyHash);
    CHECK(s.canonical_request.find("\nmax-keys=2&prefix=J\n") != std::string::npos);
    CHECK(s.signature == "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
  }
}

TEST_CASE("sigv4: keys with reserved characters are encoded the way servers re-encode them") {
  using repo::s3::UriEncode;
  CHECK(UriEncode("a b=c;d&e+f/g", true) == "a%20b%3Dc%3Bd%26e%2Bf/g");
  CHECK(UriEncode("a b=c;d&e+f/g", false) == "a%20b%3Dc%3Bd%26e%2Bf%2Fg");
  CHECK(UriEncode("\xc3\xa9t\xc3\xa9", true) == "%C3%A9t%C3%A9");  // "été"
  CHECK(UriEncode("-._~AZaz09", false) == "-._~AZaz09");
  CHECK(UriEncode("*!'()%", false) == "%2A%21%27%28%29%25");
  // '+' is never left bare: some servers read a bare '+' in a query as a space.
  CHECK(repo::s3::CanonicalQuery({{"prefix", "a+b c/"}, {"list-type", "2"}}) ==
        "list-type=2&prefix=a%2Bb%20c%2F");
  // A repeated name: sorted by value too.
  CHECK(repo::s3::CanonicalQuery({{"a", "2"}, {"a", "1"}, {"B", ""}}) == "B=&a=1&a=2");
}

TEST_CASE("sigv4_check: accepts every AWS test-suite signed request") {
  for (const auto& dir : VectorDirs()) {
    CAPTURE(dir.filename().string());
    const auto context = nlohmann::json::parse(Read(dir / "context.json"));
    const auto [head, body] = WireRequest(Read(dir / "header-signed-request.txt"));
    std::string why;
    CHECK_MESSAGE(s3_test::CheckSigV4(head, body, SuiteExpectation(context), &why), why);
  }
}

TEST_CASE("sigv4_check: refuses what a server refuses") {
  const auto context =
      nlohmann::json::parse(Read(kSigv4Vectors / "post-sts-header-before/context.json"));
  const auto expect = SuiteExpectation(context);
  const auto [good, body] =
      WireRequest(Read(kSigv4Vectors / "post-sts-header-before/header-signed-request.txt"));
  std::string why;
  REQUIRE_MESSAGE(s3_test::CheckSigV4(good, body, expect, &why), why);
  auto refused = [&](const std::string& head, const s3_test::SigV4Expectation& e,
                     const std::string& reason) {
    std::string because;
    CHECK_FALSE(s3_test::CheckSigV4(head, body, e, &because));
    CHECK_MESSAGE(Contains(because, reason), because);
  };

  SUBCASE("a signed header the request does not carry (libcurl < 8.3's Expect)") {
    // The token line removed: it is signed, so its absence is no empty value.
    const size_t at = good.find("X-Amz-Security-Token:");
    std::string head = good;
    head.erase(at, good.find("\r\n", at) + 2 - at);
    refused(head, expect, "signed header 'x-amz-security-token' is not in the request");
  }
  SUBCASE("a signed header's value changed") {
    refused(Replaced(good, "Host:example.amazonaws.com", "Host:example.amazonaws.org"), expect,
            "signature");
  }
  SUBCASE("the path or the method changed") {
    refused(Replaced(good, "POST / HTTP", "POST /x HTTP"), expect, "signature");
    refused(Replaced(good, "POST / HTTP", "PUT / HTTP"), expect, "signature");
    refused(Replaced(good, "POST / HTTP", "POST /?a=b HTTP"), expect, "signature");
  }
  SUBCASE("another secret") {
    auto e = expect;
    e.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    refused(good, e, "signature");
  }
  SUBCASE("another access key") {
    auto e = expect;
    e.access_key_id = "AKIDOTHER";
    refused(good, e, "access key 'AKIDEXAMPLE'");
  }
  SUBCASE("another region or service") {
    auto e = expect;
    e.region = "eu-west-1";
    refused(good, e, "region 'us-east-1'");
    e = expect;
    e.service = "s3";
    refused(good, e, "service 'service'");
  }
  SUBCASE("another date") {
    // Another day than the scope's, and the same day at another time.
    refused(Replaced(good, "X-Amz-Date:20150830T123600Z", "X-Amz-Date:20150831T123600Z"), expect,
            "the scope's day 20150830");
    refused(Replaced(good, "X-Amz-Date:20150830T123600Z", "X-Amz-Date:20150830T123601Z"), expect,
            "signature");
    auto e = expect;
    e.max_skew = std::chrono::minutes(15);  // it is not 2015 any more
    refused(good, e, "too far from the clock");
  }
  SUBCASE("SignedHeaders without host") {
    refused(Replaced(good, "SignedHeaders=host;", "SignedHeaders="), expect, "leave out host");
  }
}

TEST_CASE(
    "sigv4_check: S3 mode refuses a wrong payload hash, an unsigned x-amz-*, a loose target") {
  // A request signed by the driver's signer as the driver sends it, then
  // spoilt one way at a time.
  const repo::s3::SigV4Credentials keys{"AKIDEXAMPLE", "secret", ""};
  const std::string date = repo::s3::AmzDate(std::chrono::system_clock::now());
  const std::string body = "some bytes";
  const std::string hash = repo::s3::Sha256Hex(body);
  const std::string path = "/backups/" + repo::s3::UriEncode("a b+c/é=;&.lz4", true);
  const std::string query = repo::s3::CanonicalQuery({{"partNumber", "1"}, {"uploadId", "x+y"}});
  const Pairs headers = {{"Host", "127.0.0.1:9000"},
                         {"x-amz-date", date},
                         {"x-amz-content-sha256", hash},
                         {"x-amz-server-side-encryption", "AES256"}};
  const auto s =
      repo::s3::SignV4({"PUT", path, query, headers, hash, date, "us-east-1", "s3"}, keys);
  std::string head = "PUT " + path + "?" + query + " HTTP/1.1\r\n";
  for (const auto& [name, value] : headers) head += name + ": " + value + "\r\n";
  head += "Authorization: " + s.authorization + "\r\nContent-Length: 10\r\n\r\n";
  s3_test::SigV4Expectation e;
  e.secret_access_key = "secret";
  e.max_skew = std::chrono::minutes(15);
  std::string why;
  REQUIRE_MESSAGE(s3_test::CheckSigV4(head, body, e, &why), why);

  CHECK_FALSE(s3_test::CheckSigV4(head, "other bytes", e, &why));
  CHECK_MESSAGE(Contains(why, "is not the body's SHA-256"), why);
  CHECK_FALSE(s3_test::CheckSigV4(
      Replaced(head, "Content-Length", "x-amz-acl: private\r\nContent-Length"), body, e, &why));
  CHECK_MESSAGE(Contains(why, "header 'x-amz-acl' is sent but not signed"), why);
  // What libcurl >= 8.3 does to a '+': the same bytes a server decodes,
  // but not the canonical ones that were signed.
  CHECK_FALSE(s3_test::CheckSigV4(Replaced(head, "x%2By", "x+y"), body, e, &why));
  CHECK_MESSAGE(Contains(why, "is not in canonical form"), why);
  CHECK_FALSE(s3_test::CheckSigV4(Replaced(head, "a%20b", "a b"), body, e, &why));
  CHECK_MESSAGE(Contains(why, "is not in canonical form"), why);
  // An SSE header removed after signing.
  CHECK_FALSE(s3_test::CheckSigV4(Replaced(head, "x-amz-server-side-encryption: AES256\r\n", ""),
                                  body, e, &why));
  CHECK_MESSAGE(Contains(why, "signed header 'x-amz-server-side-encryption' is not in the request"),
                why);
}
