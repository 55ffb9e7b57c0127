// The backup routes in-process: AdminServer with RegisterBackupRoutes over a
// real BackupCoordinator (null provider and the fx_blocking fixture), called
// through AdminClient's typed methods and raw Call for the wire format.
// Single-threaded test code; waits poll with a bounded deadline.
#include "api/backup_routes.h"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "api/admin_server.h"
#include "host_stub/storage_test_util.h"
#include "test_support.h"

using namespace hoststub;
using nlohmann::json;
using testing_support::TempDir;
namespace fs = std::filesystem;

using testing_support::Contains;

namespace {

// A host in-process: store, providers (null, and fx_blocking as "slow"),
// coordinator and server, destroyed in the order hostd uses.
struct RoutesHost {
  explicit RoutesHost(int verify_problems = 0, bool released = false) {
    if (released) testing_support::WriteFile(dir / "release", "go\n");
    store = storage_test::OpenOrFail(storage_test::Options(dir / "data"));
    storage_test::AppendNumbered(*store, "orders", 20);
    const std::string toml =
        "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) +
        "'\n[[providers]]\nname = 'null'\nplugin = 'null'\n[[providers]]\nname = 'slow'\n"
        "plugin = '" +
        (fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so").string() +
        "'\n[providers.settings]\nrelease_file = '" + (dir / "release").string() +
        "'\nverify_problems = " + std::to_string(verify_problems) + "\n";
    auto config = ParseHostConfig(toml, "host.toml");
    REQUIRE_MESSAGE(config.ok(), config.status().ToString());
    auto loaded =
        ProviderRegistry::Load(*config, [](std::string_view, int32_t, std::string_view) {});
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
    providers = std::move(loaded).value();
    coordinator = std::make_unique<BackupCoordinator>(*store, providers);
    server = std::make_unique<AdminServer>(*store, ServerOptions{"127.0.0.1", 0});
    RegisterBackupRoutes(*server, *coordinator);
    Status started = server->Start();
    REQUIRE_MESSAGE(started.ok(), started.ToString());
    client = std::make_unique<AdminClient>("127.0.0.1", server->port());
  }
  ~RoutesHost() {
    server->Stop();
    coordinator.reset();
  }

  // Polls GET /v1/operation until `done` holds.
  OperationInfo WaitFor(const std::function<bool(const OperationInfo&)>& done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      ApiResult<std::optional<OperationInfo>> op = client->GetOperation();
      REQUIRE_MESSAGE(op.ok(), op.error().message);
      if (op->has_value() && done(**op)) return **op;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    FAIL("the operation never reached the state waited for");
    return {};
  }
  OperationInfo Backup(const std::string& provider) {
    ApiResult<OperationInfo> started = client->StartBackup(provider);
    REQUIRE_MESSAGE(started.ok(), started.error().message);
    const uint64_t id = started->id;
    return WaitFor([id](const OperationInfo& op) { return op.id == id && !op.running(); });
  }

  TempDir dir;
  std::unique_ptr<EventStore> store;
  ProviderRegistry providers;
  std::unique_ptr<BackupCoordinator> coordinator;
  std::unique_ptr<AdminServer> server;
  std::unique_ptr<AdminClient> client;
};

}  // namespace

TEST_CASE("backup routes: 202 on start, 409 naming the running backup, cancel, operation JSON") {
  RoutesHost host;
  AdminClient& client = *host.client;

  ApiResult<std::optional<OperationInfo>> none = client.GetOperation();
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  ApiResult<json> raw = client.Call("GET", "/v1/operation");
  CHECK(raw.error().http_status == 404);
  CHECK(Contains(raw.error().message, "no backup operation has run"));

  ApiResult<std::vector<ProviderInfo>> providers = client.ListProviders();
  REQUIRE(providers.ok());
  REQUIRE(providers->size() == 2);
  CHECK((*providers)[0].name == "null");
  CHECK((*providers)[0].capabilities == std::vector<std::string>{"backup"});
  CHECK((*providers)[1].name == "slow");
  CHECK((*providers)[1].provider == "fx_blocking");
  CHECK((*providers)[1].capabilities ==
        std::vector<std::string>{"backup", "restore", "list", "verify", "remove", "expire"});

  ApiResult<OperationInfo> started = client.StartBackup("slow");
  REQUIRE_MESSAGE(started.ok(), started.error().message);
  CHECK(client.last_http_status() == 202);
  CHECK(started->id == 1);
  CHECK(started->kind == "backup");
  CHECK(started->type == "full");
  CHECK(started->running());
  host.WaitFor([](const OperationInfo& op) { return op.phase == "events"; });

  ApiResult<OperationInfo> busy = client.StartBackup("null");
  REQUIRE_FALSE(busy.ok());
  CHECK(busy.error().http_status == 409);
  CHECK(Contains(busy.error().message,
                 "backup in progress: operation 1 (backup via provider "
                 "'slow'"));
  raw = client.Call("GET", "/v1/operation");
  REQUIRE(raw.ok());
  const json& op = raw->at("operation");
  CHECK(op.at("state") == "running");
  CHECK(op.at("phase") == "events");
  CHECK(op.at("finished_ms").is_null());
  CHECK(op.at("result").is_null());
  CHECK(op.at("bytes_total").get<uint64_t>() > 0);
  CHECK(op.at("bytes_done").get<uint64_t>() * 2 == op.at("bytes_total").get<uint64_t>());
  CHECK(Contains(op.at("description").get<std::string>(), "operation 1 (backup via"));

  ApiResult<OperationInfo> cancelled = client.CancelOperation();
  REQUIRE(cancelled.ok());
  CHECK(client.last_http_status() == 202);
  CHECK(cancelled->cancel_requested);
  const OperationInfo ended = host.WaitFor([](const OperationInfo& o) { return !o.running(); });
  CHECK(ended.state == "cancelled");
  CHECK(Contains(ended.error, "saw op_cancelled"));
  CHECK(ended.finished_ms >= ended.started_ms);

  ApiResult<OperationInfo> again = client.CancelOperation();
  CHECK(again.error().http_status == 404);
  CHECK(Contains(again.error().message, "nothing to cancel"));

  const OperationInfo done = host.Backup("null");
  CHECK(done.state == "succeeded");
  CHECK(Contains(done.backup_id, "null-"));
  CHECK(done.files > 0);
  CHECK(done.bytes_read == done.bytes_total);
}

TEST_CASE("backup routes: GET /v1/operation?wait_ms answers when the operation ends") {
  RoutesHost host;
  AdminClient& client = *host.client;
  ApiResult<OperationInfo> started = client.StartBackup("slow");
  REQUIRE_MESSAGE(started.ok(), started.error().message);
  host.WaitFor([](const OperationInfo& op) { return op.phase == "events"; });

  // A short wait on a running operation comes back with its progress.
  ApiResult<std::optional<OperationInfo>> still =
      client.GetOperation(std::chrono::milliseconds(20));
  REQUIRE(still.ok());
  REQUIRE(still->has_value());
  CHECK((*still)->running());

  // Released, the backup ends; one long wait sees the end, no polling.
  testing_support::WriteFile(host.dir / "release", "go\n");
  ApiResult<std::optional<OperationInfo>> ended = client.GetOperation(std::chrono::seconds(10));
  REQUIRE(ended.ok());
  REQUIRE(ended->has_value());
  CHECK((*ended)->state == "succeeded");

  for (const char* bad : {"-1", "abc", "10001", ""}) {
    CAPTURE(bad);
    ApiResult<json> reply = client.Call("GET", std::string("/v1/operation?wait_ms=") + bad);
    REQUIRE_FALSE(reply.ok());
    CHECK(reply.error().http_status == 400);
    CHECK(Contains(reply.error().message, "wait_ms must be a number of milliseconds"));
  }
}

TEST_CASE("backup routes: bad requests are 400s or 404s that name what is wrong") {
  RoutesHost host;
  AdminClient& client = *host.client;
  auto error_of = [&](const char* method, const std::string& path,
                      const std::optional<json>& body = std::nullopt) {
    ApiResult<json> reply = client.Call(method, path, body);
    REQUIRE_FALSE(reply.ok());
    return reply.error();
  };

  ApiError e = error_of("POST", "/v1/backups", json{{"provider", "null"}, {"kind", "full"}});
  CHECK(e.http_status == 400);
  CHECK(Contains(e.message, "unknown field 'kind'"));
  e = error_of("POST", "/v1/backups", json{{"provider", "null"}, {"type", "weekly"}});
  CHECK(e.http_status == 400);
  CHECK(Contains(e.message, "unknown backup type 'weekly'"));
  e = error_of("POST", "/v1/backups", json{{"type", "full"}});
  CHECK(e.http_status == 400);
  CHECK(Contains(e.message, "several backup providers are configured ('null', 'slow')"));
  e = error_of("POST", "/v1/backups", json{{"provider", "null"}, {"type", "incremental"}});
  CHECK(e.http_status == 400);
  CHECK(Contains(e.message, "cannot take incremental backups"));
  e = error_of("GET", "/v1/backups?provder=null");
  CHECK(e.http_status == 400);
  CHECK(Contains(e.message, "unknown query parameter 'provder'"));
  e = error_of("GET", "/v1/backups?provider=nope");
  CHECK(e.http_status == 404);
  CHECK(Contains(e.message, "unknown backup provider 'nope'"));
  e = error_of("GET", "/v1/backups?provider=null");
  CHECK(e.http_status == 400);
  CHECK(Contains(e.message, "cannot list backups"));
  e = error_of("POST", "/v1/backups/expire?provider=slow", json{{"keep_last", -1}});
  CHECK(e.http_status == 400);
  CHECK(Contains(e.message, "'keep_last' must be a non-negative integer"));
  e = error_of("POST", "/v1/backups/expire?provider=slow", json::object());
  CHECK(e.http_status == 400);
  CHECK(Contains(e.message, "keep_last or keep_newer_than"));
  e = error_of("DELETE", "/v1/backups/nope?provider=slow");
  CHECK(e.http_status == 404);
  CHECK(Contains(e.message, "delete of backup 'nope'"));
  // Requests refused up front never become the operation; the delete reached
  // the provider, so it did.
  ApiResult<std::optional<OperationInfo>> op = client.GetOperation();
  REQUIRE(op.ok());
  REQUIRE(op->has_value());
  CHECK((*op)->id == 1);
  CHECK((*op)->kind == "delete");
  CHECK((*op)->state == "failed");
}

TEST_CASE("backup routes: list, verify, delete and expire replies") {
  RoutesHost host(/*verify_problems=*/1, /*released=*/true);
  AdminClient& client = *host.client;
  for (int i = 0; i < 2; ++i) REQUIRE(host.Backup("slow").state == "succeeded");

  ApiResult<std::vector<BackupInfo>> listed = client.ListBackups("slow");
  REQUIRE_MESSAGE(listed.ok(), listed.error().message);
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].id == "blocking-1");
  CHECK((*listed)[0].type == "full");
  CHECK((*listed)[0].parent.empty());
  CHECK((*listed)[0].created_ms > 0);
  CHECK((*listed)[0].files > 0);
  CHECK((*listed)[0].details == json{{"fixture", true}});

  ApiResult<VerifyResult> verified = client.VerifyBackups("slow", "blocking-1");
  REQUIRE_MESSAGE(verified.ok(), verified.error().message);
  CHECK_FALSE(verified->ok);
  REQUIRE(verified->problems.size() == 1);
  CHECK(verified->problems[0].status == "BKP_E_CORRUPT");
  CHECK(verified->problems[0].backup_id == "blocking-1");
  CHECK(verified->problems[0].file == "file-0");
  REQUIRE(verified->operation.has_value());
  CHECK(verified->operation->kind == "verify");
  CHECK(verified->operation->backup_id == "blocking-1");
  CHECK(verified->operation->state == "failed");

  ApiResult<OperationInfo> deleted = client.DeleteBackup("slow", "blocking-1");
  REQUIRE_MESSAGE(deleted.ok(), deleted.error().message);
  CHECK(deleted->kind == "delete");
  CHECK(deleted->state == "succeeded");
  CHECK(client.ListBackups("slow")->size() == 1);

  REQUIRE(host.Backup("slow").state == "succeeded");
  ApiResult<std::vector<BackupInfo>> removed =
      client.ExpireBackups("slow", 1, std::chrono::milliseconds(0));
  REQUIRE_MESSAGE(removed.ok(), removed.error().message);
  REQUIRE(removed->size() == 1);
  CHECK((*removed)[0].id == "blocking-2");
  listed = client.ListBackups("slow");
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].id == "blocking-3");
}
