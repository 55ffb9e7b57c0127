// What the remote provider puts on the wire, checked by the tests' own
// SigV4 verifier (sigv4_check, which a real server's rules shaped) in the
// recording proxy in front of s3rver (which checks no signature): keys and
// prefixes with characters that need encoding, virtual-host addressing,
// server-side encryption headers; and the request that libcurl's own
// SigV4 signing made, refused.
#include <curl/curl.h>
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "plugins/remote_test_util.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::CheckHolds;
using plugins_test::Contains;
using plugins_test::Fill;
using plugins_test::kKiB;
using plugins_test::OpenStore;
using plugins_test::RandomBytes;
using plugins_test::StoreOptions;
using plugins_test::Written;
using remote_test::OpenRemote;
using remote_test::PrefixOf;
using remote_test::TestConfig;
using s3_test::Fault;
using s3_test::FaultProxy;
using s3_test::ProxiedRequest;
using s3_test::S3Server;
using testing_support::TempDir;

namespace {

// Keys that need every kind of encoding: space, the query's and the
// form's delimiters, '+', '%', unreserved marks, UTF-8.
const std::vector<std::string> kAwkwardKeys = {
    "objects/a b",
    "objects/k=v;x&y+z",
    "objects/plus+plus",
    "objects/100%25 sure",
    "objects/\xc3\xa9t\xc3\xa9/\xc3\xbc",
    "objects/~tilde-._",
    "objects/*!'()$@,:",
    "objects/deep/er/still",
};

// Every request the proxy saw was signed as sent, and so none was refused
// (s3rver answers the odd 500, which the driver retries: not a refusal).
void CheckAllSigned(const FaultProxy& proxy) {
  const auto log = proxy.Requests();
  REQUIRE_FALSE(log.empty());
  for (const auto& r : log) {
    CAPTURE(r.method + " " + r.target + " -> " + std::to_string(r.status));
    CHECK_MESSAGE(r.signed_ok, r.why);
    CHECK(r.status != 400);
    CHECK(r.status != 403);
  }
}

// The value of header `name` (lower-case) in a request head; "" if absent.
std::string HeaderOf(const std::string& head, const std::string& name) {
  std::string lower = head;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  const size_t from = at + name.size() + 3;
  std::string value = head.substr(from, head.find("\r\n", from) - from);
  while (!value.empty() && value.front() == ' ') value.erase(value.begin());
  return value;
}

std::string SignedHeadersOf(const std::string& head) {
  const std::string auth = HeaderOf(head, "authorization");
  const size_t at = auth.find("SignedHeaders=");
  if (at == std::string::npos) return "";
  return auth.substr(at + 14, auth.find(',', at) - at - 14);
}

bool IsSigned(const std::string& head, const std::string& name) {
  return Contains(";" + SignedHeadersOf(head) + ";", ";" + name + ";");
}

void Store(repo::StorageDriver& driver, const std::string& key, const std::string& bytes) {
  auto writer = driver.CreateAt(key);
  writer->Append(bytes.data(), bytes.size());
  writer->Commit(key);
}

std::string Load(repo::StorageDriver& driver, const std::string& key) {
  auto reader = driver.Open(key);
  std::string back;
  std::vector<char> buf(50000);
  while (size_t n = reader->Read(buf.data(), buf.size())) back.append(buf.data(), n);
  return back;
}

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

}  // namespace

TEST_CASE("remote: libcurl's own SigV4 signing, as the provider used it, is refused") {
  // The request the provider sent before it signed for itself: libcurl's
  // CURLOPT_AWS_SIGV4 with the empty "Expect:" that suppresses
  // 100-continue. libcurl < 8.3 (Debian 12's 7.88.1) signs an `expect`
  // header it does not send; >= 8.3 signs the '+' of a query as a space.
  // Either way a real server refuses it, and so must the verifier.
  S3Server server;
  FaultProxy proxy(server.port());
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  const std::string url = proxy.endpoint() + "/backups?list-type=2&prefix=a%2Bb%2F";
  curl_slist* headers = curl_slist_append(nullptr, "Expect:");
  headers = curl_slist_append(
      headers,
      ("x-amz-content-sha256: " + std::string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca"
                                              "495991b7852b855"))
          .c_str());
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
  curl_easy_setopt(curl, CURLOPT_USERNAME, s3_test::kAccessKey);
  curl_easy_setopt(curl, CURLOPT_PASSWORD, s3_test::kSecretKey);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Discard);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  REQUIRE(rc == CURLE_OK);

  const auto log = proxy.Requests();
  REQUIRE(log.size() == 1);
  CHECK_FALSE(log[0].signed_ok);
  CHECK(status == 403);
  const curl_version_info_data* version = curl_version_info(CURLVERSION_NOW);
  MESSAGE("libcurl " << std::string(version->version) << ": " << log[0].why);
  if (version->version_num < 0x080300) {
    CHECK(Contains(SignedHeadersOf(log[0].head), "expect"));
    CHECK(HeaderOf(log[0].head, "expect").empty());
    CHECK_MESSAGE(Contains(log[0].why, "signed header 'expect' is not in the request"), log[0].why);
  }
}

TEST_CASE(
    "remote: keys with space, =, semicolon, &, +, % and UTF-8 round-trip, every request signed") {
  S3Server server;
  FaultProxy proxy(server.port());
  TempDir dir;
  // The prefix needs encoding too: it is in every path and in the listing's
  // query, where libcurl >= 8.3 used to sign '+' as a space.
  const std::string prefix = PrefixOf(dir.path()) + "sp ace=1;a&b+c/\xc3\xa9t\xc3\xa9/";
  repo::s3::S3Driver driver(TestConfig(proxy.endpoint(), prefix));
  std::map<std::string, std::string> stored;
  uint64_t seed = 1;
  for (const auto& key : kAwkwardKeys) {
    stored[key] = RandomBytes(1000 + seed * 7, seed);
    ++seed;
  }
  // Larger than one 64 KiB part: a multipart upload, its ids in queries.
  stored["objects/multi part+1"] = RandomBytes(3 * 64 * kKiB + 5, 99);
  for (const auto& [key, bytes] : stored) Store(driver, key, bytes);

  std::vector<repo::ObjectInfo> listed = driver.List("objects/");
  std::map<std::string, std::string> back;
  for (const auto& o : listed) {
    CHECK(o.size == stored[o.key].size());
    back[o.key] = Load(driver, o.key);
  }
  CHECK(back == stored);
  CHECK(driver.List("objects/plus+").size() == 1);  // a '+' in the listing's prefix
  CHECK(driver.Stat("objects/k=v;x&y+z") == stored["objects/k=v;x&y+z"].size());
  CHECK_FALSE(driver.Stat("objects/k=v;x&y z"));

  std::vector<std::string> keys;
  for (const auto& [key, bytes] : stored) keys.push_back(key);
  driver.Remove(keys);
  CHECK(driver.List("objects/").empty());
  CheckAllSigned(proxy);
  // The awkward bytes went out encoded, never bare.
  for (const auto& r : proxy.Requests()) {
    const std::string path = r.target.substr(0, r.target.find('?'));
    CHECK_MESSAGE(path.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                         "0123456789-._~/%") == std::string::npos,
                  path);
  }
}

TEST_CASE("remote: a backup under a prefix that needs encoding restores, every request signed") {
  S3Server server;
  FaultProxy proxy(server.port());
  std::mt19937_64 rng(113);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 256 * kKiB, 64 * kKiB));
  Written written;
  Fill(*store, "orders", 1500, rng, &written);
  REQUIRE(store->Sync().ok());
  const std::string prefix = PrefixOf(dir.path()) + "a b+c=d;e&f/\xc3\xbc/";
  auto remote = OpenRemote(proxy.endpoint(), prefix);
  const std::string id = remote->Backup(*store).backup_id;
  remote->RequireVerifies(id);
  store.reset();
  remote->Restore(id, dir / "restored");
  CheckHolds(*OpenStore(StoreOptions(dir / "restored", 256 * kKiB, 64 * kKiB)), written);
  CheckAllSigned(proxy);
}

TEST_CASE("remote: virtual-host addressing puts the bucket in the signed Host") {
  S3Server server;
  FaultProxy proxy(server.port());
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  // libcurl resolves every *.localhost name to loopback.
  const std::string endpoint = "http://s3.localhost:" + proxy.endpoint().substr(17);
  auto config = TestConfig(endpoint, prefix);
  config.path_style = false;
  repo::s3::S3Driver driver(config);
  Store(driver, "objects/a b", "hello");
  Store(driver, "objects/big", RandomBytes(2 * 64 * kKiB + 1, 3));
  CHECK(Load(driver, "objects/a b") == "hello");
  CHECK(driver.List("objects/").size() == 2);
  driver.Remove({"objects/a b", "objects/big"});
  CHECK(driver.List("").empty());
  CheckAllSigned(proxy);
  for (const auto& r : proxy.Requests()) {
    CAPTURE(r.head);
    CHECK(HeaderOf(r.head, "host") == "backups." + endpoint.substr(7));
    CHECK(IsSigned(r.head, "host"));
    CHECK(r.target.rfind("/backups", 0) != 0);  // the bucket is not in the path
  }
  // And through the provider.
  proxy.ClearRequests();
  auto remote = OpenRemote(endpoint, prefix, {{"path_style", "false"}});
  CHECK(remote->List().empty());
  CheckAllSigned(proxy);

  // A bucket name that cannot be a host name label is refused at open.
  auto loaded = plugins_test::LoadRegistry(
      "remote", s3_test::RemoteSettings(endpoint, prefix,
                                        {{"path_style", "false"}, {"bucket", "'Backups_1'"}}));
  REQUIRE_FALSE(loaded.ok());
  CHECK_MESSAGE(Contains(loaded.status().message(),
                         "setting 'path_style' is false but bucket 'Backups_1' cannot be part of "
                         "a host name"),
                loaded.status().message());
}

TEST_CASE("remote: sse and sse_kms_key_id are sent and signed with every object written") {
  S3Server server;
  FaultProxy proxy(server.port());
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  std::mt19937_64 rng(127);
  auto store = OpenStore(StoreOptions(dir / "data", 256 * kKiB, 64 * kKiB));
  Written written;
  Fill(*store, "orders", 1500, rng, &written);
  REQUIRE(store->Sync().ok());

  struct Case {
    std::string sse, key_id;
  };
  for (const Case& c : {Case{"AES256", ""}, Case{"aws:kms", "arn:aws:kms:us-east-1:1:key/k-1"}}) {
    CAPTURE(c.sse);
    proxy.ClearRequests();
    std::map<std::string, std::string> settings = {{"sse", "'" + c.sse + "'"}};
    if (!c.key_id.empty()) settings["sse_kms_key_id"] = "'" + c.key_id + "'";
    auto remote = OpenRemote(proxy.endpoint(), prefix + c.sse + "/", settings);
    remote->Backup(*store);
    size_t puts = 0, creates = 0, parts = 0;
    for (const auto& r : proxy.Requests()) {
      CAPTURE(r.method + " " + r.target);
      const bool whole_put = r.method == "PUT" && r.target.find('?') == std::string::npos;
      const bool create = r.method == "POST" && Contains(r.target, "?uploads");
      const bool part = Contains(r.target, "partNumber=");
      const std::string sse = HeaderOf(r.head, "x-amz-server-side-encryption");
      const std::string key_id = HeaderOf(r.head, "x-amz-server-side-encryption-aws-kms-key-id");
      if (whole_put || create) {
        CHECK(sse == c.sse);
        CHECK(IsSigned(r.head, "x-amz-server-side-encryption"));
        CHECK(key_id == c.key_id);
        CHECK(IsSigned(r.head, "x-amz-server-side-encryption-aws-kms-key-id") == !c.key_id.empty());
      } else {
        CHECK(sse.empty());  // parts inherit it; reads and lists have none
      }
      puts += whole_put;
      creates += create;
      parts += part;
    }
    CHECK(puts > 0);
    CHECK(creates > 0);  // segments of 256 KiB: chunks larger than a part
    CHECK(parts > 0);
    CheckAllSigned(proxy);
  }
}

TEST_CASE("remote: sse refused over http (as Ceph RGW does) says to use https") {
  S3Server server;
  FaultProxy proxy(server.port());
  TempDir dir;
  // What RGW answers a PUT with SSE over http (rgw_crypt_require_ssl).
  proxy.SetPlan([](const ProxiedRequest& r) {
    return r.method == "PUT" ? Fault::Status(400, "InvalidRequest") : Fault{};
  });
  auto loaded = plugins_test::LoadRegistry(
      "remote",
      s3_test::RemoteSettings(proxy.endpoint(), PrefixOf(dir.path()), {{"sse", "'AES256'"}}));
  REQUIRE_FALSE(loaded.ok());
  const std::string msg = loaded.status().message();
  CHECK_MESSAGE(Contains(msg, "InvalidRequest"), msg);
  CHECK_MESSAGE(Contains(msg,
                         "setting 'sse' is 'AES256' and servers refuse server-side "
                         "encryption over http: use an https endpoint"),
                msg);
}

TEST_CASE("remote: sse settings are checked at open") {
  auto msg = [](const std::map<std::string, std::string>& overrides) {
    auto loaded = plugins_test::LoadRegistry(
        "remote", s3_test::RemoteSettings("http://127.0.0.1:9", "p/", overrides));
    REQUIRE_FALSE(loaded.ok());
    return loaded.status().message();
  };
  CHECK(Contains(msg({{"sse", "'aes256'"}}),
                 "setting 'sse' is 'aes256': it must be \"AES256\" or \"aws:kms\""));
  CHECK(Contains(msg({{"sse_kms_key_id", "'k'"}}),
                 "setting 'sse_kms_key_id' is set but setting 'sse' is not \"aws:kms\""));
}
