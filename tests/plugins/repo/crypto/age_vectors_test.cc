// The age v1 decoder (plugins/repo/crypto/age_file) against every test
// vector of the specification's suite (C2SP/CCTV age/testdata, copied in
// age_vectors/, see its README.md). The expected outcome and the payload's
// SHA-256 come from the vectors' authors, not from our encoder, so the
// decoder is never checked only against itself.
#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bkp/bkp_plugin.hpp"
#include "repo/crypto/age_file.h"
#include "repo/crypto/age_keys.h"
#include "test_support.h"

namespace fs = std::filesystem;
using testing_support::Contains;
using testing_support::ReadFile;

namespace {

const fs::path kAgeVectors = BKP_AGE_VECTORS_DIR;

// The features the engine deliberately does not read, and why. A vector
// that needs one must be refused with BKP_E_UNSUPPORTED (if it is
// otherwise valid) and never decrypted.
const std::map<std::string, std::string> kUnsupported = {
    {"armor",
     "ASCII armor: the repository only ever writes binary age files, and the stock `age -d` "
     "reads armored ones"},
    {"scrypt",
     "scrypt passphrase stanzas: a repository is encrypted to X25519 recipients from identity "
     "files, never to a passphrase"},
    {"hybrid",
     "ML-KEM-768 + X25519 hybrid keys: OpenSSL 3.0, the project's only crypto, has no ML-KEM"},
};

struct Vector {
  std::string name;
  std::string expect;
  std::string payload_sha256;
  std::vector<std::string> identities;
  bool passphrase = false;
  bool armored = false;
  std::string file;  // the age file, decompressed
};

std::string Inflate(const std::string& in, const std::string& name) {
  std::string out;
  z_stream z{};
  REQUIRE(inflateInit(&z) == Z_OK);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[65536];
  int rc = Z_OK;
  while (rc == Z_OK) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  inflateEnd(&z);
  REQUIRE_MESSAGE(rc == Z_STREAM_END, name << ": bad zlib data");
  return out;
}

Vector ParseVector(const fs::path& path) {
  Vector v;
  v.name = path.filename().string();
  const std::string text = ReadFile(path);
  const size_t head_end = text.find("\n\n");
  REQUIRE_MESSAGE(head_end != std::string::npos, v.name << ": no head");
  bool zlib = false;
  size_t at = 0;
  while (at <= head_end) {
    const size_t eol = text.find('\n', at);
    const std::string line = text.substr(at, eol - at);
    at = eol + 1;
    const size_t colon = line.find(": ");
    REQUIRE_MESSAGE(colon != std::string::npos, v.name << ": head line '" << line << "'");
    const std::string key = line.substr(0, colon);
    const std::string value = line.substr(colon + 2);
    if (key == "expect") v.expect = value;
    if (key == "payload") v.payload_sha256 = value;
    if (key == "identity") v.identities.push_back(value);
    if (key == "passphrase") v.passphrase = true;
    if (key == "armored") v.armored = value == "yes";
    if (key == "compressed") {
      REQUIRE_MESSAGE(value == "zlib", v.name << ": compressed: " << value);
      zlib = true;
    }
  }
  v.file = text.substr(head_end + 2);
  if (zlib) v.file = Inflate(v.file, v.name);
  return v;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  REQUIRE(EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) == 1);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// What the decoder did with a vector: the plaintext it released (every
// byte an application would have seen) and, if it refused, where and why.
struct Outcome {
  bool refused = false;
  bool in_header = false;  // refused before the payload (keys, header, MAC)
  int status = BKP_OK;
  std::string message;
  std::string released;
};

// `buffer`: how much each Read asks for (less than a chunk, or many).
Outcome Decrypt(const Vector& v, size_t buffer) {
  Outcome o;
  o.in_header = true;
  try {
    std::vector<age::Identity> ids;
    for (const auto& text : v.identities) {
      const auto parsed = age::ParseIdentities(text, "the vector's identity");
      ids.insert(ids.end(), parsed.begin(), parsed.end());
    }
    size_t at = 0;
    age::Decryptor dec(
        ids,
        [&](void* buf, size_t len) {
          const size_t n = std::min(len, v.file.size() - at);
          std::memcpy(buf, v.file.data() + at, n);
          at += n;
          return n;
        },
        "vector '" + v.name + "'");
    o.in_header = false;
    std::string buf(buffer, '\0');
    while (size_t n = dec.Read(buf.data(), buf.size())) o.released.append(buf.data(), n);
  } catch (const bkp::Error& e) {
    o.refused = true;
    o.status = e.status();
    o.message = e.what();
  }
  return o;
}

// The unsupported feature a vector needs, or "".
// The unsupported feature a vector needs first (identities are read
// before the file, the armor before the header), or "".
std::string FeatureOf(const Vector& v) {
  for (const auto& id : v.identities) {
    if (id.rfind("AGE-SECRET-KEY-PQ-", 0) == 0) return "hybrid";
  }
  if (v.armored) return "armor";
  if (v.passphrase) return "scrypt";
  return "";
}

}  // namespace

TEST_CASE("age vectors: every vector of the specification's suite gives its expected outcome") {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(kAgeVectors)) {
    const std::string name = entry.path().filename().string();
    if (name != "README.md" && name != "LICENSE") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  // Every file of the suite is here; a lost file must not pass unnoticed.
  REQUIRE(files.size() == 143);

  std::map<std::string, int> tally;
  for (const auto& path : files) {
    const Vector v = ParseVector(path);
    // Reads of part of a chunk, and of many at once (the decoder then
    // opens chunks straight into the caller's buffer).
    const Outcome o = Decrypt(v, 16 * 1024);
    const Outcome whole = Decrypt(v, 1 << 20);
    CHECK(whole.refused == o.refused);
    CHECK(whole.in_header == o.in_header);
    CHECK(whole.status == o.status);
    CHECK(whole.released == o.released);
    const std::string feature = FeatureOf(v);
    CAPTURE(v.name);
    CAPTURE(v.expect);
    CAPTURE(o.message);
    REQUIRE_FALSE(v.expect.empty());
    if (!feature.empty()) {
      INFO("unsupported by design: " << kUnsupported.at(feature));
      // Never decrypted. A valid file is refused as unsupported, naming
      // the feature; a broken one may be refused as corrupt first.
      CHECK(o.refused);
      CHECK(o.released.empty());
      if (v.expect == "success") CHECK(o.status == BKP_E_UNSUPPORTED);
      CHECK((o.status == BKP_E_UNSUPPORTED || o.status == BKP_E_CORRUPT));
      if (o.status == BKP_E_UNSUPPORTED) {
        CHECK(Contains(o.message, feature == "hybrid" ? "ML-KEM" : feature));
        CHECK(Contains(o.message, "not supported"));
      }
      ++tally["unsupported " + feature];
      continue;
    }
    if (v.expect == "success") {
      CHECK_FALSE(o.refused);
      CHECK(Sha256Hex(o.released) == v.payload_sha256);
    } else if (v.expect == "payload failure") {
      // Refused in the payload, after releasing exactly the chunks that
      // authenticated: what the vector's hash covers.
      CHECK(o.refused);
      CHECK_FALSE(o.in_header);
      CHECK(o.status == BKP_E_CORRUPT);
      CHECK(Sha256Hex(o.released) == v.payload_sha256);
    } else {
      CHECK(o.refused);
      CHECK(o.in_header);
      CHECK(o.status == BKP_E_CORRUPT);
      CHECK(o.released.empty());
      if (v.expect == "no match") CHECK(Contains(o.message, "not encrypted to the identity"));
      if (v.expect == "HMAC failure") CHECK(Contains(o.message, "header MAC does not match"));
      if (v.expect == "header failure") {
        CHECK_FALSE(Contains(o.message, "not encrypted to the identity"));
        CHECK_FALSE(Contains(o.message, "header MAC does not match"));
      }
    }
    ++tally[v.expect];
  }
  std::string summary;
  for (const auto& [what, n] : tally) summary += " " + what + ": " + std::to_string(n) + ";";
  MESSAGE("age vectors:" << summary);
}
