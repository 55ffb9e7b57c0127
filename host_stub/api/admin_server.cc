// The admin API's lifecycle (bind, serve, stop) and its core routes: events,
// status, compaction. Handlers run concurrently on httplib's worker threads
// and share nothing but the thread-safe EventStore.
#include "api/admin_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include <arpa/inet.h>

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "api/auth_tokens.h"
#include "api/guarded_http_server.h"
#include "api/request_guard.h"
#include "api/tls_server_context.h"
#include "api/token_source.h"
#include "util/log.h"

namespace hoststub {
namespace {

using nlohmann::json;

constexpr uint64_t kDefaultReadLimit = 100;
constexpr uint64_t kMaxReadLimit = 10'000;
// Idle keep-alive connections hold a worker thread, and Stop() waits for them
// up to this long, so it stays short; clients simply reconnect.
constexpr time_t kKeepAliveTimeoutSeconds = 2;
// httplib's default (5 requests per connection) would make small appends pay
// a TCP handshake every fifth request.
constexpr size_t kKeepAliveMaxRequests = 100'000;

size_t WorkerThreads(uint32_t max_connections_per_client) {
  // Each keep-alive client occupies a worker, and concurrent appends to one
  // context share fsyncs only if they can be in flight together. Twice the
  // per-client cap: one client can hold at most half the workers.
  return std::max<size_t>(
      {16, 2 * std::thread::hardware_concurrency(), 2 * size_t{max_connections_per_client}});
}

HttpLimits LimitsOf(const ServerOptions& options) {
  HttpLimits limits;
  limits.max_body_bytes = options.max_body_bytes;
  limits.max_header_count = options.max_header_count;
  limits.max_header_bytes = options.max_header_bytes;
  limits.header_timeout = options.header_timeout;
  limits.body_timeout = options.body_timeout;
  limits.max_connections_per_client = options.max_connections_per_client;
  return limits;
}

bool IsLoopbackAddress(const std::string& address) {
  if (address == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (::inet_pton(AF_INET6, address.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127;
  }
  return false;
}

// The API can delete every backup: off loopback, both TLS (else tokens
// cross the network in clear) and tokens (else anyone may call it).
Status CheckExposure(const ServerOptions& options) {
  if (IsLoopbackAddress(options.listen_address)) return Status::OK();
  const bool tls = !options.tls_cert.empty() && !options.tls_key.empty();
  const bool tokens = !options.auth_tokens_file.empty();
  if (tls && tokens) return Status::OK();
  std::string missing;
  if (!tls) missing = "TLS ([server] tls_cert and tls_key)";
  if (!tokens)
    missing += std::string(missing.empty() ? "" : " and ") + "tokens ([server] auth_tokens_file)";
  return Status::InvalidArgument(fmt::format(
      "refusing to listen on {}: the admin API can delete every backup, so any address but a "
      "loopback one needs both TLS and tokens; missing: {}. Configure them, or listen on "
      "127.0.0.1",
      options.listen_address, missing));
}

struct LoadedSecurity {
  std::unique_ptr<TokenSource> tokens;    // null without auth_tokens_file
  std::shared_ptr<TlsServerContext> tls;  // null without tls_cert
};

// `note`: where the tokens file's reloads are reported.
Result<LoadedSecurity> LoadSecurity(const ServerOptions& options, TokenSource::Note note) {
  HOSTSTUB_RETURN_IF_ERROR(CheckExposure(options));
  LoadedSecurity loaded;
  if (!options.auth_tokens_file.empty()) {
    Result<std::unique_ptr<TokenSource>> tokens =
        TokenSource::Open(options.auth_tokens_file, std::move(note));
    if (!tokens.ok()) {
      return Status::InvalidArgument("[server] auth_tokens_file: " + tokens.status().message());
    }
    loaded.tokens = std::move(tokens).value();
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) {
    return Status::InvalidArgument(
        "[server] tls_cert and tls_key go together: set both for HTTPS, or neither");
  }
  if (!options.tls_cert.empty()) {
    HOSTSTUB_ASSIGN_OR_RETURN(loaded.tls,
                              TlsServerContext::Load(options.tls_cert, options.tls_key));
  }
  return loaded;
}

// What the post-routing handler needs to know of the request the
// pre-routing handler saw: both run on the same worker thread, one request
// at a time.
struct AuditState {
  bool audit = false;
  bool refused = false;
  std::string client;
};
thread_local AuditState t_audit;

std::string AuditLine(const httplib::Request& req, const httplib::Response& res) {
  const std::string who = !t_audit.client.empty() ? fmt::format("token '{}'", t_audit.client)
                                                  : std::string("an unauthenticated client");
  return fmt::format("audit: {} {} by {} from {}:{}: {}{}", req.method, req.target, who,
                     req.remote_addr, req.remote_port, res.status,
                     t_audit.refused ? " (refused, nothing done)" : "");
}

// The listening socket gets SO_REUSEADDR only: httplib's default also sets
// SO_REUSEPORT, which would let a second hostd bind the same port and silently
// share the traffic instead of failing.
void ListenSocketOptions(socket_t sock) {
  int yes = 1;
  setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

std::string HostForUrl(const std::string& address) {
  return address.find(':') != std::string::npos ? "[" + address + "]" : address;
}

// The stream an append or a read names: events go to the events or the
// snapshots, never to the log.
Result<StreamRole> ParseStream(std::string_view text) {
  const std::optional<StreamRole> role = ParseStreamRole(text);
  if (role && IsEventStream(*role)) return *role;
  return Status::InvalidArgument(
      fmt::format("unknown stream '{}': use \"events\" or \"snapshots\"", text));
}

Result<uint64_t> ParseQueryNumber(const httplib::Request& req, const char* name,
                                  uint64_t fallback) {
  if (!req.has_param(name)) return fallback;
  const std::string text = req.get_param_value(name);
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument(
        fmt::format("query parameter '{}' must be an unsigned integer, got '{}'", name, text));
  }
  return value;
}

// A typo in a parameter or field name must not silently fall back to a default.
Status CheckKnownNames(const std::vector<std::string>& names,
                       std::initializer_list<std::string_view> known, const char* what) {
  for (const std::string& name : names) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "'" : ", '") + std::string(k) + "'";
      return Status::InvalidArgument(
          fmt::format("unknown {} '{}' (accepted: {})", what, name, list));
    }
  }
  return Status::OK();
}

// The {ctx} path segment, checked before any store call so that a bad name is
// always a 400 and never reaches the file system.
Result<std::string> ContextFromPath(const httplib::Request& req) {
  std::string context = req.matches[1].str();
  // The engine's message names the context and the allowed characters.
  Status valid = ValidateContextName(context);
  if (!valid.ok()) return Status::InvalidArgument(valid.message());
  return context;
}

void ReplyStatus(httplib::Response& res, const Status& status) {
  ReplyError(res, HttpStatusFor(status), status.message());
}

// The decoded body of an append request.
struct AppendRequest {
  std::vector<std::string> events;
  StreamRole stream = StreamRole::kEvents;
};

Result<AppendRequest> ParseAppendRequest(const std::string& text) {
  constexpr const char* kShape = R"(expected {"events": ["payload", ...], "stream": "events"})";
  json body = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return Status::InvalidArgument(
        fmt::format("request body is not a JSON object (or not valid UTF-8 JSON); {}", kShape));
  }
  std::vector<std::string> names;
  for (const auto& item : body.items()) names.push_back(item.key());
  HOSTSTUB_RETURN_IF_ERROR(CheckKnownNames(names, {"events", "stream"}, "field"));

  AppendRequest request;
  auto stream = body.find("stream");
  if (stream != body.end()) {
    if (!stream->is_string()) return Status::InvalidArgument("'stream' must be a string");
    HOSTSTUB_ASSIGN_OR_RETURN(auto kind, ParseStream(stream->get_ref<const std::string&>()));
    request.stream = kind;
  }
  auto events = body.find("events");
  if (events == body.end() || !events->is_array()) {
    return Status::InvalidArgument(fmt::format("'events' must be an array of strings; {}", kShape));
  }
  if (events->empty()) {
    return Status::InvalidArgument("empty batch: 'events' must hold at least one payload");
  }
  request.events.reserve(events->size());
  for (size_t i = 0; i < events->size(); ++i) {
    json& event = (*events)[i];
    if (!event.is_string()) {
      return Status::InvalidArgument(
          fmt::format("events[{}] is a JSON {}, not a string", i, event.type_name()));
    }
    request.events.push_back(std::move(event.get_ref<std::string&>()));
  }
  return request;
}

void HandleAppend(EventStore& store, AppendMetrics& metrics, const httplib::Request& req,
                  httplib::Response& res) {
  Result<std::string> context = ContextFromPath(req);
  if (!context.ok()) return ReplyStatus(res, context.status());
  Result<AppendRequest> request = ParseAppendRequest(req.body);
  if (!request.ok()) return ReplyStatus(res, request.status());

  // The reply goes out only after Append returned, i.e. once the batch is as
  // durable as the fsync policy promises.
  const auto begin = std::chrono::steady_clock::now();
  Result<AppendResult> appended = store.Append(*context, request->events, request->stream);
  metrics.Observe(request->stream, appended.ok(), request->events.size(),
                  std::chrono::steady_clock::now() - begin);
  if (!appended.ok()) {
    return ReplyError(res, HttpStatusFor(appended.status()),
                      fmt::format("append to context '{}' ({}) failed: {}", *context,
                                  StreamRoleName(request->stream), appended.status().ToString()));
  }
  ReplyJson(res, 200,
            {{"log_index", appended->log_index},
             {"first_token", appended->first_token},
             {"last_token", appended->last_token}});
}

Status UnknownContext(const std::string& context) {
  return Status::NotFound(fmt::format(
      "unknown context '{}': nothing was ever appended to it (GET /v1/status lists the contexts)",
      context));
}

void HandleRead(EventStore& store, const httplib::Request& req, httplib::Response& res) {
  Result<std::string> context = ContextFromPath(req);
  if (!context.ok()) return ReplyStatus(res, context.status());
  std::vector<std::string> names;
  for (const auto& [name, value] : req.params) names.push_back(name);
  Status known = CheckKnownNames(names, {"from", "limit", "stream"}, "query parameter");
  if (!known.ok()) return ReplyStatus(res, known);
  Result<uint64_t> from = ParseQueryNumber(req, "from", 0);
  if (!from.ok()) return ReplyStatus(res, from.status());
  Result<uint64_t> limit = ParseQueryNumber(req, "limit", kDefaultReadLimit);
  if (!limit.ok()) return ReplyStatus(res, limit.status());
  if (*limit == 0 || *limit > kMaxReadLimit) {
    return ReplyError(res, 400,
                      fmt::format("limit must be between 1 and {}, got {}; page with 'from' "
                                  "(next_token of the previous reply)",
                                  kMaxReadLimit, *limit));
  }
  StreamRole stream = StreamRole::kEvents;
  if (req.has_param("stream")) {
    Result<StreamRole> kind = ParseStream(req.get_param_value("stream"));
    if (!kind.ok()) return ReplyStatus(res, kind.status());
    stream = *kind;
  }

  Result<std::vector<StoredEvent>> events =
      store.Read(*context, *from, static_cast<size_t>(*limit), stream);
  if (!events.ok()) {
    if (events.status().code() == Status::Code::kNotFound) {
      return ReplyStatus(res, UnknownContext(*context));
    }
    return ReplyError(res, HttpStatusFor(events.status()),
                      fmt::format("read of context '{}' ({}) failed: {}", *context,
                                  StreamRoleName(stream), events.status().ToString()));
  }
  // An empty page is either the end of a stream or a context that does not
  // exist; only the second is an error.
  if (events->empty()) {
    Result<ContextState> state = store.State(*context);
    if (!state.ok() && state.status().code() == Status::Code::kNotFound) {
      return ReplyStatus(res, UnknownContext(*context));
    }
  }

  json list = json::array();
  for (StoredEvent& event : *events) {
    list.push_back({{"token", event.token},
                    {"log_index", event.log_index},
                    {"timestamp_ms", event.timestamp_ms},
                    {"payload", std::move(event.payload)}});
  }
  const uint64_t next = events->empty() ? *from : events->back().token + 1;
  ReplyJson(res, 200, {{"events", std::move(list)}, {"next_token", next}});
}

void HandleStatus(EventStore& store, const std::vector<DisabledProviderStatus>& disabled,
                  const httplib::Request&, httplib::Response& res) {
  json contexts = json::array();
  for (const std::string& name : store.Contexts()) {
    Result<ContextState> state = store.State(name);
    if (!state.ok()) {
      return ReplyError(
          res, 500,
          fmt::format("state of context '{}' unavailable: {}", name, state.status().ToString()));
    }
    contexts.push_back({{"name", state->name},
                        {"term", state->term},
                        {"first_log_index", state->first_log_index},
                        {"last_log_index", state->last_log_index},
                        {"commit_index", state->commit_index},
                        {"next_event_token", state->next_event_token},
                        {"next_snapshot_token", state->next_snapshot_token}});
  }
  json disabled_list = json::array();
  for (const DisabledProviderStatus& d : disabled) {
    disabled_list.push_back({{"name", d.name}, {"reason", d.reason}, {"enable", d.enable}});
  }
  ReplyJson(res, 200,
            {{"data_dir", store.options().data_dir.string()},
             {"fsync", FsyncPolicyName(store.options().fsync)},
             {"compaction_pinned", store.CompactionPinned()},
             {"contexts", std::move(contexts)},
             {"disabled_providers", std::move(disabled_list)}});
}

void HandleCompact(EventStore& store, const httplib::Request&, httplib::Response& res) {
  Result<CompactionReport> report = store.CompactLogs();
  if (!report.ok()) {
    return ReplyError(res, HttpStatusFor(report.status()),
                      "log compaction failed: " + report.status().ToString());
  }
  json deleted = json::array();
  for (const auto& path : report->deleted) deleted.push_back(path.string());
  ReplyJson(res, 200,
            {{"pinned", report->pinned},
             {"deleted", std::move(deleted)},
             {"kept_for_archive", report->kept_for_archive}});
}

// Fills in replies httplib produced itself (unknown route, oversized body,
// malformed request) so that they too carry {"error": ...}.
httplib::Server::HandlerResponse HandleHttpError(const httplib::Request& req,
                                                 httplib::Response& res) {
  if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;  // ours already
  std::string message;
  switch (res.status) {
    case 404:
      message = fmt::format(
          "no route for {} {} (the API serves GET /v1/status, POST /v1/compact, GET and POST "
          "/v1/contexts/{{ctx}}/events)",
          req.method, req.path);
      break;
    case 400:
      // httplib refuses a POST without Content-Length (curl -X POST without -d).
      message =
          fmt::format("malformed HTTP request {} {} (a POST needs a body or 'Content-Length: 0')",
                      req.method, req.path);
      break;
    case 413:
      message = "request body too large ([server] max_body_size): send smaller batches";
      break;
    default:
      message = fmt::format("HTTP error {} for {} {}", res.status, req.method, req.path);
  }
  ReplyError(res, res.status, message);
  return httplib::Server::HandlerResponse::Handled;
}

void HandleException(const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  ReplyError(res, 500, fmt::format("internal error serving {} {}: {}", req.method, req.path, what));
}

}  // namespace

void ReplyJson(httplib::Response& res, int http_status, const nlohmann::json& body) {
  res.status = http_status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void ReplyError(httplib::Response& res, int http_status, std::string_view message) {
  ReplyJson(res, http_status, {{"error", message}});
}

int HttpStatusFor(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk:
      return 200;
    case Status::Code::kInvalidArgument:
      return 400;
    case Status::Code::kNotFound:
      return 404;
    case Status::Code::kAlreadyExists:
      return 409;
    case Status::Code::kBusy:
      return 503;
    default:
      return 500;
  }
}

AdminServer::AdminServer(EventStore& store, ServerOptions options)
    : store_(store),
      options_(std::move(options)),
      http_(std::make_unique<GuardedHttpServer>(LimitsOf(options_))),
      audit_([](const std::string& line) { LogInfo(line); }) {
  http_->set_socket_options(ListenSocketOptions);
  // Replies are small and latency-bound: Nagle plus delayed ACKs would add
  // tens of milliseconds to every append.
  http_->set_tcp_nodelay(true);
  http_->set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
  http_->set_keep_alive_max_count(kKeepAliveMaxRequests);
  const size_t workers = WorkerThreads(options_.max_connections_per_client);
  http_->new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  http_->set_error_handler(httplib::Server::HandlerWithResponse(HandleHttpError));
  http_->set_exception_handler(HandleException);
  InstallGuard();
  RegisterRoutes();
}

AdminServer::~AdminServer() { Stop(); }

httplib::Server& AdminServer::http() { return *http_; }

Status AdminServer::Preflight(const ServerOptions& options) {
  Result<LoadedSecurity> security = LoadSecurity(options, nullptr);
  return security.ok() ? Status::OK() : security.status();
}

void AdminServer::InstallGuard() {
  // Before routing, hence before the body is read: a refused request costs
  // its header only (the guarded server then closes the connection rather
  // than read the body).
  http_->set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    const GuardVerdict verdict = guard_->Check(req, guard_port_.load());
    t_audit = AuditState{verdict.required == Role::kAdmin, !verdict.allowed(), verdict.client};
    if (verdict.allowed()) return httplib::Server::HandlerResponse::Unhandled;
    ReplyError(res, verdict.status, verdict.message);
    if (!verdict.challenge.empty()) res.set_header("WWW-Authenticate", verdict.challenge);
    return httplib::Server::HandlerResponse::Handled;
  });
  http_->set_post_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!t_audit.audit) return;
    t_audit.audit = false;
    audit_(AuditLine(req, res));
  });
}

void AdminServer::RegisterRoutes() {
  // {ctx} matches any text, '/' included, so that a bad name gets a 400 that
  // says why instead of a 404 for an unmatched route.
  constexpr const char* kEvents = R"(/v1/contexts/(.+)/events)";
  EventStore& store = store_;
  AppendMetrics& metrics = append_metrics_;
  http_->Post(kEvents, [&store, &metrics](const httplib::Request& req, httplib::Response& res) {
    HandleAppend(store, metrics, req, res);
  });
  http_->Get(kEvents, [&store](const httplib::Request& req, httplib::Response& res) {
    HandleRead(store, req, res);
  });
  http_->Get("/v1/status", [this](const httplib::Request& req, httplib::Response& res) {
    HandleStatus(store_, disabled_, req, res);
  });
  http_->Post("/v1/compact", [&store](const httplib::Request& req, httplib::Response& res) {
    HandleCompact(store, req, res);
  });
}

Status AdminServer::Start() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  const std::string& address = options_.listen_address;
  if (started_) {
    return Status::AlreadyExists(fmt::format(
        "the admin server for {}:{} was already started; create a new AdminServer to serve again",
        address, options_.port));
  }
  started_ = true;
  HOSTSTUB_RETURN_IF_ERROR(Arm());

  errno = 0;
  int bound = -1;
  if (options_.port == 0) {
    bound = http_->bind_to_any_port(address);
  } else if (http_->bind_to_port(address, options_.port)) {
    bound = options_.port;
  }
  if (bound <= 0) {
    const int err = errno;
    const std::string reason =
        err != 0 ? std::strerror(err) : "the address is not valid or not local to this machine";
    return Status::IOError(fmt::format(
        "cannot listen on {}:{}: {} (is another hostd using it? choose another [server] port or "
        "--port, or 0 for any free port)",
        address, options_.port, reason));
  }
  port_ = static_cast<uint16_t>(bound);
  guard_port_ = port_.load();

  listener_ = std::thread([this] {
    http_->listen_after_bind();
    listener_done_ = true;
  });
  // httplib's stop() does nothing until the accept loop runs: without this
  // wait, a Stop() right after Start() would be lost and Stop would hang.
  while (!http_->is_running() && !listener_done_) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (!http_->is_running()) {
    listener_.join();
    return Status::IOError(
        fmt::format("the admin server on {}:{} stopped as soon as it started", address, bound));
  }
  return Status::OK();
}

Status AdminServer::Arm() {
  HOSTSTUB_ASSIGN_OR_RETURN(LoadedSecurity security,
                            LoadSecurity(options_, [](const std::string& line) { LogInfo(line); }));
  tokens_ = std::move(security.tokens);
  if (security.tls != nullptr) http_->set_tls(std::move(security.tls));
  RequestGuardOptions guard;
  guard.host_names = {options_.listen_address, "localhost", "127.0.0.1", "::1"};
  guard.host_names.insert(guard.host_names.end(), options_.allowed_hosts.begin(),
                          options_.allowed_hosts.end());
  guard.tls = http_->tls();
  guard.tokens = tokens_.get();
  guard_ = std::make_unique<RequestGuard>(std::move(guard));
  return Status::OK();
}

Result<std::string> AdminServer::ServeBytes(std::string_view input) {
  {
    std::lock_guard<std::mutex> lock(lifecycle_mu_);
    if (!started_) {
      started_ = true;  // no Start after this: the guard is armed for options_.port
      HOSTSTUB_RETURN_IF_ERROR(Arm());
      guard_port_ = options_.port;
    }
  }
  if (guard_ == nullptr) {
    return Status::InvalidArgument("ServeBytes after a Start that failed before arming the guard");
  }
  return http_->ServeBytes(input);
}

std::string AdminServer::base_url() const {
  return fmt::format("{}://{}:{}", http_->tls() ? "https" : "http",
                     HostForUrl(options_.listen_address), port());
}

void AdminServer::Stop() {
  std::lock_guard<std::mutex> lock(lifecycle_mu_);
  if (!listener_.joinable()) return;
  http_->stop();
  listener_.join();
}

}  // namespace hoststub
