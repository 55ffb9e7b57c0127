// AdminServer: the host's admin HTTP API (JSON over HTTP or HTTPS,
// cpp-httplib under GuardedHttpServer's connection limits). Every request
// passes a RequestGuard first (Host, Origin, bearer token and role, JSON
// content type; see request_guard.h). Start refuses to listen on anything but
// a loopback address unless both TLS and tokens are configured. Requests that
// need the admin role are written to the audit log with the client's token
// name and address, whatever their outcome. Routes:
//
//   POST /v1/contexts/{ctx}/events  {"events":[...],"stream":"events"|"snapshots"}
//   GET  /v1/contexts/{ctx}/events?from=T&limit=N&stream=events
//   GET  /v1/status  contexts, settings and "disabled_providers":
//                    [{"name","reason","enable"}] (empty when none)
//   POST /v1/compact    {"pinned":bool,"deleted":[paths],"kept_for_archive":N}
//
// Every error reply is {"error": "<message>"}: 400 bad request, 404 unknown
// context or route, 409/503 for a conflicting or busy store, 500 storage
// failure. Handlers are in admin_server.cc; later route groups (e.g. backups)
// live in their own files and register on http() before Start(), using
// ReplyJson/ReplyError so every reply has the same shape.
//
// Thread-safety: Start, Stop and port may be called from any thread. Requests
// are served on a pool of worker threads that call the EventStore
// concurrently (it is thread-safe). Route registration through http() is not
// synchronised: do it before Start().
// Ownership: the server borrows the EventStore, which must outlive it. The
// embedding process should ignore SIGPIPE (a client that hangs up mid-reply
// would otherwise kill it); hostd does.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "api/append_metrics.h"
#include "config/host_config.h"
#include "storage/event_store.h"
#include "util/status.h"

namespace httplib {
class Server;
struct Response;
}  // namespace httplib

namespace hoststub {

class GuardedHttpServer;
class RequestGuard;
class TokenSource;

// A provider the host runs without (plugin_host/provider_call_journal.h),
// as GET /v1/status shows it.
struct DisabledProviderStatus {
  std::string name;
  std::string reason;  // why it was disabled
  std::string enable;  // the command that re-enables it
};

// Receives one audit line (without newline) per admin request; called on
// the request's worker thread, possibly concurrently.
using AuditSink = std::function<void(const std::string& line)>;

class AdminServer {
 public:
  AdminServer(EventStore& store, ServerOptions options);
  // Stops the server if it is running.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Checks the exposure rule, loads the tokens file and the TLS certificate
  // and key (errors name the file and the config key), binds
  // options.listen_address:options.port (port 0 picks a free port) and
  // serves on a thread of its own until Stop(). A server runs once: Start
  // after Stop fails.
  Status Start();

  // What Start would refuse about `options` without binding anything: the
  // exposure rule, tls_cert without tls_key (or the reverse), an unreadable,
  // malformed or shared tokens file, an unusable certificate or key. For
  // hostd to fail before it touches the data directory.
  static Status Preflight(const ServerOptions& options);

  // Providers the host runs without: GET /v1/status lists them under
  // "disabled_providers", each with how to re-enable it. Set before Start().
  void set_disabled_providers(std::vector<DisabledProviderStatus> disabled) {
    disabled_ = std::move(disabled);
  }

  // Where audit lines go; by default the host log (util/log.h) at INFO. Set
  // before Start().
  void set_audit_sink(AuditSink sink) { audit_ = std::move(sink); }

  // The bound port once Start() succeeded, else 0.
  uint16_t port() const { return port_.load(); }
  // "http://ADDRESS:PORT" (https with TLS) of the bound socket.
  std::string base_url() const;
  const ServerOptions& options() const { return options_; }

  // Stops accepting, waits for in-flight requests to finish (so no handler
  // touches the store afterwards) and joins the serving thread. Idempotent.
  void Stop();

  // Serves `input` as the bytes of one client connection (127.0.0.1) and
  // returns the bytes of the replies, through the same limits, guard and
  // routes as Start, without binding a socket (see
  // GuardedHttpServer::ServeBytes); the Host a request must name is
  // options().port's. For fuzzing the request handlers (tests/fuzz). The
  // first call loads the tokens file and certificate, as Start would, and
  // returns their error; a server that served bytes cannot Start.
  Result<std::string> ServeBytes(std::string_view input);

  // For route groups added by other files. Register before Start().
  httplib::Server& http();
  EventStore& store() { return store_; }
  // Counts and latencies of the appends served (GET /metrics).
  const AppendMetrics& append_metrics() const { return append_metrics_; }

 private:
  void RegisterRoutes();
  void InstallGuard();
  // Loads the tokens file and the certificate and makes the guard.
  Status Arm();

  EventStore& store_;
  const ServerOptions options_;
  std::unique_ptr<GuardedHttpServer> http_;
  std::unique_ptr<TokenSource> tokens_;  // set by Start when configured
  std::unique_ptr<RequestGuard> guard_;  // set by Start, before listening
  AuditSink audit_;
  AppendMetrics append_metrics_;
  std::vector<DisabledProviderStatus> disabled_;  // immutable once serving
  std::mutex lifecycle_mu_;                       // serialises Start and Stop
  std::thread listener_;
  std::atomic<bool> listener_done_{false};
  std::atomic<uint16_t> port_{0};
  std::atomic<uint16_t> guard_port_{0};  // the port requests must name in Host
  bool started_ = false;                 // guarded by lifecycle_mu_
};

// Sends `body` as the JSON reply. Strings that are not valid UTF-8 (payloads
// appended in-process may be arbitrary bytes) are sent with U+FFFD in place
// of the bad bytes rather than failing the request.
void ReplyJson(httplib::Response& res, int http_status, const nlohmann::json& body);

// Sends {"error": message}.
void ReplyError(httplib::Response& res, int http_status, std::string_view message);

// The HTTP status that fits a failed Status: InvalidArgument 400, NotFound
// 404, AlreadyExists 409, Busy 503, anything else 500.
int HttpStatusFor(const Status& status);

}  // namespace hoststub
