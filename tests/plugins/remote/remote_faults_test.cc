// The remote provider and its S3 driver under failure, through a
// deterministic fault-injecting proxy in front of s3rver: retries that lose
// nothing, a fault that outlasts the retry deadline, a backup resumed after
// an interruption without sending stored content again, multipart uploads
// and ranged reads (several in flight, and ahead of an Open), and the
// cleanup of abandoned multipart uploads.
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "plugin_host/abi_status.h"
#include "plugins/remote_test_util.h"
#include "repo/object_codec.h"
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

bool IsObjectWrite(const ProxiedRequest& r, const std::string& prefix) {
  return (r.method == "PUT" || r.method == "POST") &&
         r.target.find("/backups/" + prefix + "objects/") == 0;
}

// The repository key a request is about ("objects/ab/....lz4"), "" if none.
std::string KeyOf(const ProxiedRequest& r, const std::string& prefix) {
  const std::string head = "/backups/" + prefix;
  if (r.target.rfind(head, 0) != 0) return "";
  return r.target.substr(head.size(), r.target.find('?') - head.size());
}

size_t CountFaults(const std::vector<ProxiedRequest>& log, Fault::Kind kind) {
  size_t n = 0;
  for (const auto& r : log) n += r.fault == kind;
  return n;
}

}  // namespace

TEST_CASE("remote: 500s, SlowDown, resets mid-body and slow answers are retried, losing nothing") {
  S3Server server;
  FaultProxy proxy(server.port());
  std::mt19937_64 rng(101);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 256 * kKiB, 64 * kKiB));
  Written written;
  Fill(*store, "orders", 2500, rng, &written);
  Fill(*store, "billing", 900, rng, &written);
  REQUIRE(store->Sync().ok());
  // A deterministic mix by arrival order: about one request in four fails
  // in one of the ways object stores fail.
  proxy.SetPlan([](const ProxiedRequest& r) {
    if (r.seq % 13 == 4) return Fault::Status(500, "InternalError");
    if (r.seq % 11 == 6) return Fault::Status(503, "SlowDown");
    if (r.seq % 17 == 9) return Fault::Status(429, "TooManyRequests");
    if (r.method == "PUT" && r.body_bytes > 1000 && r.seq % 5 == 2) {
      return Fault::ResetRequest(r.body_bytes / 2);  // the upload cut mid-body
    }
    if (r.method == "GET" && r.seq % 6 == 1) return Fault::ResetResponse(600);
    if (r.seq == 20 || r.seq == 45) return Fault::Delay(std::chrono::milliseconds(2500));
    return Fault{};
  });
  // A stall timeout of 1 s makes the 2.5 s delays time out and retry.
  auto remote = OpenRemote(proxy.endpoint(), PrefixOf(dir.path()), {{"stall_timeout", "1"}});
  const std::string id = remote->Backup(*store).backup_id;
  remote->RequireVerifies(id);
  remote->Restore(id, dir / "restored");

  const auto log = proxy.Requests();
  // Every request the driver sent, of every kind, was signed as S3 checks.
  std::set<std::string> methods;
  for (const auto& r : log) {
    if (r.fault == Fault::Kind::kResetRequest) continue;  // cut before its body was read
    CAPTURE(r.target);
    CHECK(r.signed_ok);
    methods.insert(r.method);
  }
  CHECK(methods == std::set<std::string>{"GET", "HEAD", "POST", "PUT"});
  for (auto kind : {Fault::Kind::kAnswer, Fault::Kind::kResetRequest, Fault::Kind::kResetResponse,
                    Fault::Kind::kDelay}) {
    CAPTURE(static_cast<int>(kind));
    CHECK(CountFaults(log, kind) > 0);
  }
  // Every request that failed was tried again until the server answered.
  std::map<std::string, std::pair<int, int>> tries;  // method+target: failed, answered
  for (const auto& r : log) {
    auto& t = tries[r.method + " " + r.target];
    (r.status != 0 && r.fault != Fault::Kind::kAnswer ? t.second : t.first)++;
  }
  for (const auto& [request, t] : tries) {
    CAPTURE(request);
    if (t.first > 0) CHECK(t.second > 0);
  }
  CheckHolds(*OpenStore(StoreOptions(dir / "restored", 256 * kKiB, 64 * kKiB)), written);
}

TEST_CASE("remote: a fault that outlasts the retry deadline fails clearly and leaves no backup") {
  S3Server server;
  FaultProxy proxy(server.port());
  std::mt19937_64 rng(103);
  TempDir dir;
  auto store = OpenStore(StoreOptions(dir / "data", 128 * kKiB, 64 * kKiB));
  Written written;
  Fill(*store, "orders", 1500, rng, &written);
  const std::string prefix = PrefixOf(dir.path());
  auto remote = OpenRemote(proxy.endpoint(), prefix, {{"retry_deadline", "2"}});
  // From the fourth object on, every write is slowed down for good.
  std::atomic<int> writes{0};
  proxy.SetPlan([&](const ProxiedRequest& r) {
    if (IsObjectWrite(r, prefix) && ++writes > 3) return Fault::Status(503, "SlowDown");
    return Fault{};
  });
  bkp_operation op;
  const auto start = std::chrono::steady_clock::now();
  const auto outcome = remote->TryBackup(*store, op);
  REQUIRE_FALSE(outcome.ok());
  const std::string msg = outcome.status().ToString();
  CHECK_MESSAGE(Contains(msg, "SlowDown"), msg);
  CHECK_MESSAGE(Contains(msg, "gave up after"), msg);
  CHECK_MESSAGE(Contains(msg, "in bucket 'backups' at " + proxy.endpoint()), msg);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
  // No manifest: nothing that looks like a backup.
  proxy.SetPlan({});
  CHECK(remote->List().empty());
  repo::s3::S3Driver storage(TestConfig(server.endpoint(), prefix));
  CHECK(storage.List("backups/").empty());
}

TEST_CASE("remote: an interrupted backup resumes without sending stored content again") {
  S3Server server;
  FaultProxy proxy(server.port());
  std::mt19937_64 rng(107);
  TempDir dir;
  // Event segments of 512 KiB: their chunks outgrow one 64 KiB part, so
  // both ways of storing (one PUT, multipart) are interrupted and resumed.
  auto store = OpenStore(StoreOptions(dir / "data", 512 * kKiB, 64 * kKiB));
  Written written;
  Fill(*store, "orders", 6000, rng, &written, 6, 400);
  Fill(*store, "billing", 800, rng, &written);
  REQUIRE(store->Sync().ok());
  const std::string prefix = PrefixOf(dir.path());
  auto remote = OpenRemote(proxy.endpoint(), prefix, {{"retry_deadline", "1"}});

  // The first attempt: the store goes away once a few objects are whole
  // (a single PUT, or the request completing a multipart upload).
  std::atomic<int> completed{0};
  proxy.SetPlan([&](const ProxiedRequest& r) {
    if (!IsObjectWrite(r, prefix)) return Fault{};
    if (completed >= 6) return Fault::Status(503, "ServiceUnavailable");
    const bool whole = (r.method == "PUT" && r.target.find('?') == std::string::npos) ||
                       (r.method == "POST" && r.target.find("uploadId=") != std::string::npos);
    if (whole) ++completed;
    return Fault{};
  });
  bkp_operation op;
  REQUIRE_FALSE(remote->TryBackup(*store, op).ok());
  proxy.SetPlan({});
  CHECK(remote->List().empty());
  repo::s3::S3Driver storage(TestConfig(server.endpoint(), prefix));
  std::set<std::string> stored;
  for (const auto& o : storage.List("objects/")) stored.insert(o.key);
  REQUIRE(stored.size() >= 2);

  // The second attempt stores the rest and sends nothing stored already.
  proxy.ClearRequests();
  const std::string id = remote->Backup(*store).backup_id;
  std::set<std::string> written_again, checked;
  size_t puts = 0;
  for (const auto& r : proxy.Requests()) {
    const std::string key = KeyOf(r, prefix);
    if (r.method == "HEAD" && stored.count(key)) checked.insert(key);
    if (IsObjectWrite(r, prefix)) {
      ++puts;
      if (stored.count(key)) written_again.insert(key);
    }
  }
  CHECK(written_again.empty());
  CHECK(checked == stored);  // each found by one HEAD
  CHECK(puts > 0);           // and the rest was stored
  // The manifest is the last write, a single PUT; only the backup's own
  // lock object (locks/) is written or removed after it.
  std::vector<ProxiedRequest> log;
  for (const auto& r : proxy.Requests()) {
    const bool write = r.method == "PUT" || r.method == "POST" || r.method == "DELETE";
    const bool batch_delete = r.method == "POST" && r.target.find("?delete") != std::string::npos;
    if (write && !batch_delete && KeyOf(r, prefix).rfind("locks/", 0) != 0) log.push_back(r);
  }
  REQUIRE_FALSE(log.empty());
  CHECK(log.back().method == "PUT");
  CHECK(KeyOf(log.back(), prefix) == repo::ManifestKey(id));

  remote->RequireVerifies(id);
  store.reset();
  remote->Restore(id, dir / "restored");
  CheckHolds(*OpenStore(StoreOptions(dir / "restored", 512 * kKiB, 64 * kKiB)), written);
}

TEST_CASE(
    "remote: an object larger than a part goes up in parallel parts and reads back in ranges") {
  S3Server server;
  FaultProxy proxy(server.port());
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  repo::s3::S3Driver driver(TestConfig(proxy.endpoint(), prefix));
  const std::string bytes = RandomBytes(17 * 64 * kKiB + 13, 5);  // 18 parts, the last short
  // Slow parts overlap: the budget, not luck, bounds how many at once.
  proxy.SetPlan([](const ProxiedRequest& r) {
    return r.target.find("partNumber=") != std::string::npos
               ? Fault::Delay(std::chrono::milliseconds(150))
               : Fault{};
  });
  auto writer = driver.CreateAt("objects/big");
  for (size_t at = 0; at < bytes.size(); at += 10000) {
    writer->Append(bytes.data() + at, std::min<size_t>(10000, bytes.size() - at));
  }
  writer->Commit("objects/big");
  writer.reset();
  size_t parts = 0, creates = 0, completes = 0;
  for (const auto& r : proxy.Requests()) {
    parts += r.target.find("partNumber=") != std::string::npos;
    creates += r.target.find("?uploads") != std::string::npos;
    completes += r.method == "POST" && r.target.find("uploadId=") != std::string::npos;
  }
  CHECK(parts == 18);
  CHECK(creates == 1);
  CHECK(completes == 1);
  CHECK(proxy.MaxInFlight() >= 2);  // parallel...
  CHECK(proxy.MaxInFlight() <= 3);  // ...within parallel_parts
  REQUIRE(driver.Stat("objects/big") == bytes.size());

  proxy.SetPlan({});
  proxy.ClearRequests();
  auto reader = driver.Open("objects/big");
  std::string back;
  std::vector<char> buf(7777);
  while (size_t n = reader->Read(buf.data(), buf.size())) back.append(buf.data(), n);
  CHECK(back == bytes);
  reader.reset();
  // A ranged GET of the middle, straight from the client.
  repo::s3::S3Client client(TestConfig(proxy.endpoint(), prefix));
  std::string middle(100000, '\0');
  client.GetRange("objects/big", 123456, middle.data(), middle.size());
  CHECK(middle == bytes.substr(123456, 100000));
  bool ranged = false;
  for (const auto& r : proxy.Requests()) ranged |= r.method == "GET" && r.status == 206;
  CHECK(ranged);

  // A reset mid-range costs that range, not the object.
  proxy.SetPlan([](const ProxiedRequest& r) {
    return r.method == "GET" && r.seq == 2 ? Fault::ResetResponse(5000) : Fault{};
  });
  std::string again(bytes.size(), '\0');
  client.GetRange("objects/big", 0, again.data(), again.size());
  CHECK(again == bytes);

  // An object written without its key must fit one part.
  auto unnamed = driver.Create();
  try {
    unnamed->Append(bytes.data(), bytes.size());
    FAIL("an unnamed object outgrew a part");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_INTERNAL);
  }
}

TEST_CASE("remote: abandoned multipart uploads are aborted, fresh ones kept") {
  S3Server server;
  FaultProxy proxy(server.port());
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  repo::s3::S3Driver driver(TestConfig(proxy.endpoint(), prefix));

  SUBCASE("a writer given up before Commit aborts its upload") {
    {
      auto writer = driver.CreateAt("objects/given-up");
      const std::string bytes = RandomBytes(3 * 64 * kKiB, 9);
      writer->Append(bytes.data(), bytes.size());
      writer->Append(bytes.data(), 1);  // the third part goes up
    }
    bool aborted = false;
    for (const auto& r : proxy.Requests()) {
      aborted |= r.method == "DELETE" && r.target.find("uploadId=") != std::string::npos &&
                 r.target.find("objects/given-up") != std::string::npos;
    }
    CHECK(aborted);
    CHECK_FALSE(driver.Stat("objects/given-up"));
  }
  SUBCASE("retention's sweep aborts only uploads idle for long enough") {
    // s3rver has no ListMultipartUploads: the proxy answers as S3 does.
    const std::string listing =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult>"
        "<Bucket>backups</Bucket><IsTruncated>false</IsTruncated>"
        "<Upload><Key>" +
        prefix +
        "objects/ab/old.lz4</Key><UploadId>old-1</UploadId>"
        "<Initiated>2020-01-01T00:00:00.000Z</Initiated></Upload>"
        "<Upload><Key>" +
        prefix +
        "objects/cd/new.lz4</Key><UploadId>new-2</UploadId>"
        "<Initiated>2999-01-01T00:00:00.000Z</Initiated></Upload>"
        "<Upload><Key>other-prefix/x</Key><UploadId>other-3</UploadId>"
        "<Initiated>2020-01-01T00:00:00.000Z</Initiated></Upload>"
        "</ListMultipartUploadsResult>";
    proxy.SetPlan([&](const ProxiedRequest& r) {
      if (r.method == "GET" && r.target.find("uploads=") != std::string::npos) {
        return Fault::Answer(200, listing);
      }
      if (r.method == "DELETE") return Fault::Answer(204, "");
      return Fault{};
    });
    CHECK(driver.RemoveAbandonedWrites(std::chrono::hours(1)) == 1);
    std::vector<std::string> aborted;
    for (const auto& r : proxy.Requests()) {
      if (r.method == "DELETE") aborted.push_back(r.target);
    }
    REQUIRE(aborted.size() == 1);
    CHECK(Contains(aborted[0], "objects/ab/old.lz4?uploadId=old-1"));
  }
  SUBCASE("a server without ListMultipartUploads has nothing to sweep") {
    CHECK(driver.RemoveAbandonedWrites(std::chrono::hours(1)) == 0);
  }
}

TEST_CASE("remote: a reader keeps parallel_parts ranges in flight and a prefetch opens early") {
  S3Server server;
  TempDir dir;
  const std::string prefix = PrefixOf(dir.path());
  repo::s3::S3Config config = TestConfig(server.endpoint(), prefix);
  config.part_size = 8 << 20;  // few parts: this test is about reads
  repo::s3::S3Driver writer_driver(config);
  // Five ranges of 4 MiB, the last short.
  const std::string bytes = RandomBytes((17 << 20) + 13, 7);
  for (const std::string key : {"objects/a", "objects/b", "objects/c"}) {
    auto writer = writer_driver.CreateAt(key);
    writer->Append(bytes.data(), bytes.size());
    writer->Commit(key);
  }
  const auto read_all = [](repo::ObjectReader& reader) {
    std::string back;
    std::vector<char> buf(100000);
    while (size_t n = reader.Read(buf.data(), buf.size())) back.append(buf.data(), n);
    return back;
  };

  // Slow GETs overlap: one at a time would leave a restore waiting on each
  // round trip. parallel_parts (3) bounds them.
  FaultProxy proxy(server.port());
  proxy.SetPlan([](const ProxiedRequest& r) {
    return r.method == "GET" ? Fault::Delay(std::chrono::milliseconds(200)) : Fault{};
  });
  repo::s3::S3Driver driver(TestConfig(proxy.endpoint(), prefix));
  CHECK(read_all(*driver.Open("objects/a")) == bytes);
  CHECK(proxy.MaxInFlight() >= 2);
  CHECK(proxy.MaxInFlight() <= 3);

  // A prefetch sends the HEAD and the first range before the Open.
  proxy.SetPlan({});
  proxy.ClearRequests();
  driver.Prefetch("objects/b");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool fetched = false;
  while (!fetched && std::chrono::steady_clock::now() < deadline) {
    for (const auto& r : proxy.Requests()) {
      fetched |= r.method == "GET" && r.target.find("objects/b") != std::string::npos;
    }
    if (!fetched) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(fetched);
  CHECK(read_all(*driver.Open("objects/b")) == bytes);

  // One dropped from the two waiting is fetched anew, whole.
  driver.Prefetch("objects/a");
  driver.Prefetch("objects/b");
  driver.Prefetch("objects/c");
  CHECK(read_all(*driver.Open("objects/a")) == bytes);
  CHECK(read_all(*driver.Open("objects/c")) == bytes);

  // A prefetch of a missing object fails at the Open, as the Open would.
  driver.Prefetch("objects/missing");
  try {
    driver.Open("objects/missing");
    FAIL("a missing object opened");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_NOT_FOUND);
    CHECK(Contains(e.what(), "objects/missing"));
  }
}
