// The age v1 codec (plugins/repo/crypto) against the specification's key
// vector and the stock `age` CLI, both ways, and against damage: a flipped
// byte anywhere, a truncated file, a file with bytes appended, a header
// swapped from another file, and the wrong identity are all refused.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bkp/bkp_plugin.hpp"
#include "plugins/plugins_test_util.h"
#include "repo/crypto/age_file.h"
#include "repo/crypto/age_keys.h"
#include "test_support.h"

namespace {

using plugins_test::RandomBytes;
using testing_support::CommandResult;
using testing_support::Contains;
using testing_support::ReadFile;
using testing_support::RunCommand;
using testing_support::TempDir;
using testing_support::WriteFile;

// Sizes around the 64 KiB chunk edges, where STREAM's last-chunk rule bites.
const std::vector<size_t> kSizes = {0, 1, 65535, 65536, 65537, 2 * 65536, 200000};

std::string WriteIdentityFile(const TempDir& dir, const age::Identity& id) {
  const auto path = dir / "key.txt";
  WriteFile(path, "# a test key\n" + id.ToString() + "\n");
  return path.string();
}

std::string DecryptError(const std::vector<age::Identity>& ids, const std::string& file) {
  try {
    age::DecryptString(ids, file, "'test.age'");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_CORRUPT);
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("age keys: the specification's X25519 identity gives its recipient") {
  // age-encryption.org/v1, "The X25519 recipient type".
  const auto ids = age::ParseIdentities(
      "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n", "vector");
  REQUIRE(ids.size() == 1);
  CHECK(ids[0].recipient.ToString() ==
        "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj");
  CHECK(ids[0].ToString() ==
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX");
  CHECK(age::ParseRecipient("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", "r")
            .key == ids[0].recipient.key);
}

TEST_CASE("age keys: a bad key is refused, and a bad secret is never quoted") {
  // One checksum character changed.
  CHECK_THROWS_WITH_AS(
      age::ParseRecipient("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk", "x"),
      doctest::Contains("not an age X25519 recipient"), bkp::Error);
  const std::string bad =
      "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEY";
  try {
    age::ParseIdentities("# comment\n\n" + bad + "\n", "file 'k'");
    FAIL("accepted");
  } catch (const bkp::Error& e) {
    CHECK(Contains(e.what(), "file 'k' line 3"));
    CHECK_FALSE(Contains(e.what(), "GFPYYSJZ"));
  }
  CHECK_THROWS_AS(age::ParseIdentities("# only a comment\n", "f"), bkp::Error);
}

TEST_CASE("age files: round trips at the chunk edges, to several recipients") {
  const auto a = age::Identity::Generate();
  const auto b = age::Identity::Generate();
  for (size_t size : kSizes) {
    CAPTURE(size);
    const std::string plain = RandomBytes(size, size);
    const std::string file = age::EncryptString({a.recipient, b.recipient}, plain);
    CHECK(file.size() == 22 + 2 * 98 + 48 + age::PayloadBytes(size));
    CHECK(age::PlainBytes(age::PayloadBytes(size)) == size);
    CHECK(age::DecryptString({a}, file, "f") == plain);
    CHECK(age::DecryptString({b}, file, "f") == plain);
  }
}

TEST_CASE("age files: what we write, the stock age decrypts") {
  TempDir dir;
  const auto id = age::Identity::Generate();
  const std::string key = WriteIdentityFile(dir, id);
  for (size_t size : kSizes) {
    CAPTURE(size);
    const std::string plain = RandomBytes(size, 7 + size);
    WriteFile(dir / "f.age", age::EncryptString({id.recipient}, plain));
    const CommandResult r = RunCommand(
        {"age", "-d", "-i", key, "-o", (dir / "out").string(), (dir / "f.age").string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    CHECK(ReadFile(dir / "out") == plain);
    std::filesystem::remove(dir / "out");
  }
}

TEST_CASE("age files: what the stock age writes to our recipient, we decrypt") {
  TempDir dir;
  const auto id = age::Identity::Generate();
  const auto other = age::Identity::Generate();
  for (size_t size : kSizes) {
    CAPTURE(size);
    const std::string plain = RandomBytes(size, 11 + size);
    WriteFile(dir / "in", plain);
    // Two recipients, ours second: every stanza is tried.
    const CommandResult r =
        RunCommand({"age", "-r", other.recipient.ToString(), "-r", id.recipient.ToString(), "-o",
                    (dir / "f.age").string(), (dir / "in").string()});
    REQUIRE_MESSAGE(r.exit_code == 0, r.output);
    CHECK(age::DecryptString({id}, ReadFile(dir / "f.age"), "f") == plain);
  }
  // And a key made by the stock age-keygen reads as an identity of ours.
  const CommandResult keygen = RunCommand({"age-keygen", "-o", (dir / "stock.txt").string()});
  REQUIRE_MESSAGE(keygen.exit_code == 0, keygen.output);
  const auto stock = age::ReadIdentityFile((dir / "stock.txt").string());
  REQUIRE(stock.size() == 1);
  CHECK(Contains(ReadFile(dir / "stock.txt"), stock[0].recipient.ToString()));
}

TEST_CASE("age files: damage, truncation, appended bytes and a swapped header are refused") {
  const auto id = age::Identity::Generate();
  const std::string plain = RandomBytes(3 * 65536 + 100, 3);
  const std::string file = age::EncryptString({id.recipient}, plain);
  const size_t header = file.find("\n---") + 4 + 44;

  // Every region: the version line, the stanza, the MAC, the nonce, chunks.
  for (size_t at : {size_t{3}, size_t{30}, header - 5, header + 2, header + 16 + 10,
                    header + 16 + 65552 + 7, file.size() - 1}) {
    CAPTURE(at);
    std::string bad = file;
    bad[at] ^= 0x20;
    CHECK_FALSE(DecryptError({id}, bad).empty());
  }
  // Truncated at a chunk boundary (every chunk left authenticates, but
  // none is marked last), inside a chunk, inside the header.
  for (size_t len : {header + 16 + 2 * 65552, header + 16 + 65552 + 100, header - 10, size_t{0}}) {
    CAPTURE(len);
    CHECK_FALSE(DecryptError({id}, file.substr(0, len)).empty());
  }
  CHECK(Contains(DecryptError({id}, file.substr(0, header + 16 + 2 * 65552)), "chunk 1"));
  CHECK_FALSE(DecryptError({id}, file + "x").empty());
  // The header of another file to the same recipient: its file key opens,
  // but the payload was sealed under another.
  const std::string other = age::EncryptString({id.recipient}, plain);
  CHECK_FALSE(DecryptError({id}, other.substr(0, header) + file.substr(header)).empty());
  // Not for us.
  const auto stranger = age::Identity::Generate();
  CHECK(Contains(DecryptError({stranger}, file), "not encrypted to the identity given"));
}

TEST_CASE("bkp-keygen writes a private identity the stock age reads") {
  TempDir dir;
  const auto key = dir / "key.txt";
  const CommandResult r = RunCommand({BKP_KEYGEN_BIN, "-o", key.string()});
  REQUIRE_MESSAGE(r.exit_code == 0, r.output);
  struct stat st {};
  REQUIRE(::stat(key.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const auto ids = age::ReadIdentityFile(key.string());
  REQUIRE(ids.size() == 1);
  // It prints the recipient, and only that: the secret stays in the file.
  CHECK(r.output == ids[0].recipient.ToString() + "\n");
  const CommandResult stock = RunCommand({"age-keygen", "-y", key.string()});
  CHECK(stock.output == r.output);
  CHECK(RunCommand({BKP_KEYGEN_BIN, "-y", key.string()}).output == r.output);
  // Never over an existing key.
  const CommandResult again = RunCommand({BKP_KEYGEN_BIN, "-o", key.string()});
  CHECK(again.exit_code != 0);
  CHECK(age::ReadIdentityFile(key.string())[0].recipient == ids[0].recipient);
}
