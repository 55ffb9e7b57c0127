// The admin API's request handling, fed without a socket through
// AdminServer::ServeBytes: a real EventStore (fsync "never") in a scratch
// directory, a real local_disk provider behind the backup routes, the same
// limits, guard and routes hostd serves. Two modes from this one file:
//
//  * BKP_FUZZ_RAW: the input is the raw byte stream of one client
//    connection (request lines, headers, bodies, pipelining, garbage);
//  * otherwise, the input's first byte picks one of the append and backup
//    routes and the rest is its body (or backup id), sent with a correct
//    Content-Length, so that mutations reach the JSON handlers instead of
//    dying in the framing.
//
// The fixture is rebuilt in a fresh directory every kRebuildEvery inputs so
// that what earlier inputs appended or backed up cannot fill the disk.
// Replies are checked for shape: a status line, and no 5xx but from the
// store (a handler that throws or a reply built from garbage shows up here).
#include <stdint.h>
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "api/admin_server.h"
#include "api/backup_routes.h"
#include "backup/coordinator.h"
#include "config/host_config.h"
#include "plugin_host/provider_registry.h"
#include "storage/event_store.h"

namespace {

namespace fs = std::filesystem;
using namespace hoststub;

constexpr int kRebuildEvery = 20'000;

struct Fixture {
  fs::path dir;
  std::unique_ptr<EventStore> store;
  ProviderRegistry providers;
  std::unique_ptr<BackupCoordinator> coordinator;
  std::unique_ptr<AdminServer> server;

  Fixture() {
    char pattern[] = "/tmp/fuzz_admin_http.XXXXXX";
    if (::mkdtemp(pattern) == nullptr) abort();
    dir = pattern;
    const std::string toml = "plugin_dir = '" BKP_FUZZ_PLUGIN_DIR "'\n[storage]\ndata_dir = '" +
                             (dir / "data").string() +
                             "'\nfsync = 'never'\n[server]\nport = 8124\nmax_body_size = "
                             "'64KiB'\n[[providers]]\nname = 'disk'\nplugin = "
                             "'local_disk'\n[providers.settings]\npath = '" +
                             (dir / "backups").string() + "'\n";
    Result<HostConfig> config = ParseHostConfig(toml, "fuzz.toml");
    if (!config.ok()) Die(config.status());
    Result<ProviderRegistry> loaded =
        ProviderRegistry::Load(*config, [](std::string_view, int32_t, std::string_view) {});
    if (!loaded.ok()) Die(loaded.status());
    providers = std::move(loaded).value();
    Result<std::unique_ptr<EventStore>> opened = EventStore::Open(config->storage);
    if (!opened.ok()) Die(opened.status());
    store = std::move(opened).value();
    coordinator = std::make_unique<BackupCoordinator>(*store, providers);
    server = std::make_unique<AdminServer>(*store, config->server);
    server->set_audit_sink([](const std::string&) {});
    RegisterBackupRoutes(*server, *coordinator);
  }
  ~Fixture() {
    server.reset();
    coordinator.reset();
    providers = ProviderRegistry();
    store.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  [[noreturn]] static void Die(const Status& status) {
    std::fprintf(stderr, "fixture: %s\n", status.ToString().c_str());
    abort();
  }
};

std::unique_ptr<Fixture> g_fixture;
int g_inputs = 0;

void CheckReply(const std::string& reply) {
  // A refused or answered request always gets a status line first.
  if (!reply.empty() && reply.rfind("HTTP/1.1 ", 0) != 0) abort();
  // A handler's exception becomes a 500 whose message starts so (a request's
  // own text can only appear inside a message, never at its start).
  if (reply.find(R"({"error":"internal error serving)") != std::string::npos) abort();
}

#ifndef BKP_FUZZ_RAW
// The routes the first byte picks from: method, target, and whether the rest
// of the input is the body (else it goes into the target).
struct Route {
  const char* method;
  const char* target;
  bool body;
};
constexpr Route kRoutes[] = {
    {"POST", "/v1/contexts/orders/events", true},
    {"POST", "/v1/backups", true},
    {"POST", "/v1/backups/expire", true},
    {"POST", "/v1/backups/verify", true},
    {"GET", "/v1/backups?provider=", false},
    {"DELETE", "/v1/backups/", false},
    {"POST", "/v1/contexts/", false},  // the context name from the input
    {"GET", "/v1/operation?wait_ms=", false},
};

std::string Request(const uint8_t* data, size_t size) {
  const Route& route = kRoutes[data[0] % (sizeof kRoutes / sizeof kRoutes[0])];
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string target = route.target;
  std::string body;
  if (route.body) {
    body = rest;
  } else {
    // Percent-encoded, so the input varies the value, not the framing.
    for (unsigned char c : rest.substr(0, 256)) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      target += '%';
      target += kHex[c >> 4];
      target += kHex[c & 15];
    }
    if (route.method == std::string_view("POST")) {
      target += "/events";
      body = R"({"events":["x"]})";
    }
  }
  std::string request = std::string(route.method) + " " + target +
                        " HTTP/1.1\r\nHost: 127.0.0.1:8124\r\nConnection: close\r\n";
  if (route.method != std::string_view("GET")) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  return request + "\r\n" + body;
}
#endif

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_fixture == nullptr || ++g_inputs % kRebuildEvery == 0) {
    g_fixture.reset();
    g_fixture = std::make_unique<Fixture>();
  }
#ifdef BKP_FUZZ_RAW
  const std::string input(reinterpret_cast<const char*>(data), size);
#else
  if (size == 0) return 0;
  const std::string input = Request(data, size);
#endif
  Result<std::string> reply = g_fixture->server->ServeBytes(input);
  if (!reply.ok()) Fixture::Die(reply.status());
  CheckReply(*reply);
  return 0;
}
