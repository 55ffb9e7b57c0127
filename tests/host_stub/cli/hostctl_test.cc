// hostctl's exit codes and messages, and the admin API's JSON replies checked
// in-process (AdminServer + AdminClient on an EventStore in a temp dir).
// Single-threaded test code; the server's worker threads touch only the store.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "api/admin_server.h"
#include "storage/event_store.h"
#include "test_support.h"

namespace ts = testing_support;
using hoststub::AdminClient;
using hoststub::AdminServer;
using hoststub::ApiResult;
using hoststub::EventStore;
using nlohmann::json;

using testing_support::Contains;

namespace {

// A port nothing listens on: bound by us, then released.
int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

ts::CommandResult Hostctl(std::vector<std::string> args) {
  args.insert(args.begin(), HOSTCTL_BIN);
  return ts::RunCommand(args);
}

// An EventStore in a temp dir (fsync never) served on a free loopback port.
struct InProcessHost {
  InProcessHost() {
    hoststub::StorageOptions options;
    options.data_dir = dir / "data";
    options.fsync = hoststub::FsyncPolicy::kNever;
    options.compaction_interval = std::chrono::milliseconds(0);
    auto opened = EventStore::Open(options);
    REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
    store = std::move(opened).value();
    server = std::make_unique<AdminServer>(*store, hoststub::ServerOptions{"127.0.0.1", 0});
    const hoststub::Status started = server->Start();
    REQUIRE_MESSAGE(started.ok(), started.ToString());
  }
  std::string port() const { return std::to_string(server->port()); }

  ts::TempDir dir;
  std::unique_ptr<EventStore> store;
  std::unique_ptr<AdminServer> server;  // declared last: stops before the store goes
};

}  // namespace

TEST_CASE("hostctl: an unreachable host is exit 3 with the address in the message") {
  const std::string port = std::to_string(UnusedPort());
  for (const std::vector<std::string>& command : {std::vector<std::string>{"status"},
                                                  {"append", "--context", "c", "x"},
                                                  {"read", "--context", "c"}}) {
    std::vector<std::string> args = {"--port", port};
    args.insert(args.end(), command.begin(), command.end());
    const ts::CommandResult r = Hostctl(args);
    INFO(command[0] << ": " << r.output);
    CHECK(r.exit_code == 3);
    CHECK(Contains(r.output, "hostctl: cannot reach host at http://127.0.0.1:" + port + ": "));
  }
}

TEST_CASE("hostctl: usage errors are exit 2 and contact no host") {
  // Port 1 is never a hostd: a command that tried to connect would exit 3.
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"--port", "1", "frobnicate"},
      {"--port", "1", "append"},                    // no --context
      {"--port", "1", "append", "--context", "c"},  // neither payloads nor --count
      {"--port", "1", "append", "--context", "c", "x", "--count", "3"},
      {"--port", "1", "append", "--context", "c", "--count", "3", "--min-size", "10"},
      {"--port", "1", "append", "--context", "c", "--stream", "logs", "x"},
      {"--port", "1", "read", "--context", "c", "--limit", "many"},
      {"--port", "70000", "status"},
      {"--port", "1", "load", "--context", "c", "--rate", "0", "--duration", "1"},
  };
  for (const auto& args : bad) {
    const ts::CommandResult r = Hostctl(args);
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    INFO("hostctl " << joined << "-> " << r.output);
    CHECK(r.exit_code == 2);
  }
  CHECK(Contains(Hostctl({"--port", "1", "append", "--context", "c"}).output, "--count"));
}

TEST_CASE("hostctl: the host's rejection is exit 1 with the host's message") {
  InProcessHost host;
  ts::CommandResult r = Hostctl({"--port", host.port(), "append", "--context", "../x", "payload"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "hostctl: "));
  CHECK(Contains(r.output, "invalid context name"));
  CHECK(Contains(r.output, "../x"));

  r = Hostctl({"--port", host.port(), "read", "--context", "nope"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "unknown context 'nope'"));
  // The rejected name must not have reached the file system.
  CHECK(host.store->Contexts().empty());
}

TEST_CASE("AdminServer+AdminClient: append, read and status replies") {
  InProcessHost host;
  AdminClient client("127.0.0.1", host.server->port());
  const std::vector<std::string> batch = {"one", "two", "three"};

  ApiResult<hoststub::AppendResult> appended = client.Append("ctx", batch);
  REQUIRE_MESSAGE(appended.ok(), appended.error().message);
  CHECK(appended->log_index == 1);
  CHECK(appended->last_token == appended->first_token + 2);
  const json append_reply = json::parse(client.last_reply_body());
  CHECK(append_reply.at("first_token") == appended->first_token);
  CHECK(append_reply.at("last_token") == appended->last_token);
  CHECK(append_reply.at("log_index") == 1);

  ApiResult<json> status = client.Call("GET", "/v1/status");
  REQUIRE_MESSAGE(status.ok(), status.error().message);
  CHECK(status->at("data_dir") == (host.dir / "data").string());
  CHECK(status->at("fsync") == "never");
  CHECK(status->at("compaction_pinned") == false);
  REQUIRE(status->at("contexts").size() == 1);
  const json& ctx = status->at("contexts")[0];
  CHECK(ctx.at("name") == "ctx");
  CHECK(ctx.at("term").get<uint64_t>() >= 1);
  CHECK(ctx.at("first_log_index") == 1);
  CHECK(ctx.at("last_log_index") == 1);
  CHECK(ctx.at("commit_index").get<uint64_t>() <= 1);
  CHECK(ctx.at("next_event_token") == appended->last_token + 1);
  CHECK(ctx.at("next_snapshot_token").is_number_unsigned());

  ApiResult<hoststub::ReadReply> read = client.Read("ctx", appended->first_token, 100);
  REQUIRE_MESSAGE(read.ok(), read.error().message);
  REQUIRE(read->events.size() == 3);
  for (size_t i = 0; i < 3; ++i) {
    CHECK(read->events[i].payload == batch[i]);
    CHECK(read->events[i].token == appended->first_token + i);
    CHECK(read->events[i].log_index == 1);
    CHECK(read->events[i].timestamp_ms > 0);
  }
  CHECK(read->next_token == appended->last_token + 1);

  // Paging: limit 2 then from next_token.
  read = client.Read("ctx", appended->first_token, 2);
  REQUIRE(read.ok());
  CHECK(read->events.size() == 2);
  read = client.Read("ctx", read->next_token, 2);
  REQUIRE(read.ok());
  REQUIRE(read->events.size() == 1);
  CHECK(read->events[0].payload == "three");
  // Past the end: empty page, next_token stays put.
  read = client.Read("ctx", appended->last_token + 1, 10);
  REQUIRE(read.ok());
  CHECK(read->events.empty());
  CHECK(read->next_token == appended->last_token + 1);

  // The snapshot stream has tokens of its own.
  ApiResult<hoststub::AppendResult> snap =
      client.Append("ctx", std::vector<std::string>{"s"}, hoststub::StreamRole::kSnapshots);
  REQUIRE(snap.ok());
  ApiResult<hoststub::HostStatus> typed = client.GetStatus();
  REQUIRE(typed.ok());
  REQUIRE(typed->contexts.size() == 1);
  CHECK(typed->contexts[0].next_snapshot_token == snap->last_token + 1);
  CHECK(typed->contexts[0].next_event_token == appended->last_token + 1);
  CHECK(typed->contexts[0].last_log_index == 2);
}

TEST_CASE("AdminServer: error replies are JSON with fitting status codes") {
  InProcessHost host;
  AdminClient client("127.0.0.1", host.server->port());
  REQUIRE(client.Append("ctx", std::vector<std::string>{"x"}).ok());

  auto expect_error = [&](const ApiResult<json>& r, int status, const std::string& part) {
    INFO("expected " << status << " mentioning '" << part << "'");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().http_status == status);
    CHECK(Contains(r.error().message, part));
    CHECK(json::parse(client.last_reply_body()).at("error") == r.error().message);
  };

  expect_error(client.Call("GET", "/v1/contexts/nope/events"), 404, "unknown context 'nope'");
  expect_error(client.Call("POST", "/v1/contexts/ctx/events", json{{"events", json::array()}}), 400,
               "empty batch");
  expect_error(client.Call("POST", "/v1/contexts/ctx/events", json{{"events", {1, 2}}}), 400,
               "events[0]");
  expect_error(client.Call("POST", "/v1/contexts/ctx/events", json{{"event", {"x"}}}), 400,
               "unknown field 'event'");
  expect_error(
      client.Call("POST", "/v1/contexts/ctx/events", json{{"events", {"x"}}, {"stream", "logs"}}),
      400, "unknown stream 'logs'");
  expect_error(client.Call("POST", "/v1/contexts/..%2Fx/events", json{{"events", {"x"}}}), 400,
               "invalid context name");
  expect_error(client.Call("GET", "/v1/contexts/ctx/events?limit=0"), 400, "limit");
  expect_error(client.Call("GET", "/v1/contexts/ctx/events?limit=10001"), 400, "limit");
  expect_error(client.Call("GET", "/v1/contexts/ctx/events?from=-1"), 400, "'from'");
  expect_error(client.Call("GET", "/v1/contexts/ctx/events?form=1"), 400, "'form'");
  expect_error(client.Call("GET", "/v1/nothing"), 404, "no route");
  expect_error(client.Call("DELETE", "/v1/status"), 404, "no route");

  // A body that is not JSON at all, sent raw.
  httplib::Client raw("127.0.0.1", host.server->port());
  httplib::Result r = raw.Post("/v1/contexts/ctx/events", "not json", "application/json");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(Contains(json::parse(r->body).at("error").get<std::string>(), "not a JSON object"));

  // Limit 10000 is the largest accepted.
  CHECK(client.Call("GET", "/v1/contexts/ctx/events?limit=10000").ok());
}

TEST_CASE("AdminServer: payloads that are not UTF-8 are served, with U+FFFD for bad bytes") {
  InProcessHost host;
  const std::vector<std::string> binary = {std::string("ok\xff\xfe", 4)};
  REQUIRE(host.store->Append("bin", binary).ok());
  AdminClient client("127.0.0.1", host.server->port());
  ApiResult<hoststub::ReadReply> read = client.Read("bin", 0, 10);
  REQUIRE_MESSAGE(read.ok(), read.error().message);
  REQUIRE(read->events.size() == 1);
  CHECK(read->events[0].payload.rfind("ok", 0) == 0);
  CHECK(Contains(read->events[0].payload, "\xEF\xBF\xBD"));
}

TEST_CASE("AdminServer: compaction replies say whether a pin held it off") {
  InProcessHost host;
  AdminClient client("127.0.0.1", host.server->port());
  ApiResult<hoststub::CompactionReport> report = client.Compact();
  REQUIRE_MESSAGE(report.ok(), report.error().message);
  CHECK_FALSE(report->pinned);
  CHECK(json::parse(client.last_reply_body()).at("deleted").is_array());
  {
    hoststub::CompactionPin pin = host.store->PinCompaction();
    report = client.Compact();
    REQUIRE(report.ok());
    CHECK(report->pinned);
    CHECK(report->deleted.empty());
    ApiResult<hoststub::HostStatus> status = client.GetStatus();
    REQUIRE(status.ok());
    CHECK(status->compaction_pinned);
  }
  ApiResult<hoststub::HostStatus> status = client.GetStatus();
  REQUIRE(status.ok());
  CHECK_FALSE(status->compaction_pinned);
}

TEST_CASE(
    "AdminServer: a port in use fails Start naming address and port, and Stop is idempotent") {
  InProcessHost host;
  const uint16_t port = host.server->port();
  REQUIRE(port != 0);
  AdminServer second(*host.store, hoststub::ServerOptions{"127.0.0.1", port});
  const hoststub::Status st = second.Start();
  INFO(st.ToString());
  CHECK_FALSE(st.ok());
  CHECK(Contains(st.message(), "127.0.0.1:" + std::to_string(port)));
  second.Stop();  // never started: a no-op

  AdminClient client("127.0.0.1", port);
  REQUIRE(client.GetStatus().ok());
  host.server->Stop();
  host.server->Stop();
  ApiResult<hoststub::HostStatus> after = client.GetStatus();
  REQUIRE_FALSE(after.ok());
  CHECK(after.error().unreachable());
  CHECK(Contains(after.error().message,
                 "cannot reach host at http://127.0.0.1:" + std::to_string(port)));
  CHECK_FALSE(host.server->Start().ok());  // a server runs once
}
