// AdminClient: request building, transport errors, reply decoding; the
// connection itself is an HttpConnection (http_connection.h). Not
// thread-safe (one connection, one last reply).
#include "api/admin_client.h"

#include <fmt/format.h>

#include "api/archive_wire.h"
#include "api/http_connection.h"

namespace hoststub {
namespace {

using nlohmann::json;

// The server drops keep-alive connections idle for 2 s (admin_server.cc). A
// request sent just as it does would fail, so a client idle for half that
// opens a fresh connection instead of racing the close.
constexpr std::chrono::milliseconds kReconnectAfterIdle{1'000};

std::string DescribeTransportError(const HttpTransportError& error,
                                   const std::chrono::milliseconds connect_timeout) {
  using Kind = HttpTransportError::Kind;
  switch (error.kind) {
    case Kind::kResolve:
      return fmt::format("cannot resolve the host name ({})", error.detail);
    case Kind::kConnect:
      return fmt::format(
          "connection refused or failed ({}; is `hostd serve` running on that address and port?)",
          error.detail);
    case Kind::kConnectTimeout:
      return fmt::format("no connection within {} ms", connect_timeout.count());
    case Kind::kRead:
      return fmt::format(
          "the connection closed or timed out before a full reply arrived ({}; the request may "
          "or may not have been applied)",
          error.detail);
    case Kind::kWrite:
      return fmt::format("sending the request failed ({})", error.detail);
    case Kind::kTls:
      return fmt::format("TLS handshake failed: {}", error.detail);
  }
  return error.detail;
}

// Decodes a successful reply; a reply of the wrong shape is the host's fault
// and reported with its HTTP status, like any other bad answer. (Send must
// have run before `http_status` is read: keep the two calls in sequence.)
template <typename T, typename Fn>
ApiResult<T> Decode(const ApiResult<json>& reply, int http_status, Fn&& fn) {
  if (!reply.ok()) return reply.error();
  try {
    return fn(*reply);
  } catch (const json::exception& e) {
    return ApiError{http_status, fmt::format("unexpected reply from the host: {}", e.what())};
  }
}

std::string ProviderQuery(std::string_view provider, char separator = '?') {
  if (provider.empty()) return "";
  return std::string(1, separator) + "provider=" + AdminClient::EncodePathSegment(provider);
}

std::string StringOr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

template <typename T>
T NumberOr(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<T>() : T{};
}

}  // namespace

OperationInfo OperationInfo::FromJson(const json& j) {
  OperationInfo op;
  op.id = j.at("id").get<uint64_t>();
  op.kind = j.at("kind").get<std::string>();
  op.provider = j.at("provider").get<std::string>();
  op.type = StringOr(j, "type");
  op.backup_id = StringOr(j, "backup_id");
  op.state = j.at("state").get<std::string>();
  op.cancel_requested = j.value("cancel_requested", false);
  op.phase = StringOr(j, "phase");
  op.bytes_done = NumberOr<uint64_t>(j, "bytes_done");
  op.bytes_total = NumberOr<uint64_t>(j, "bytes_total");
  op.files_done = NumberOr<uint64_t>(j, "files_done");
  op.files_total = NumberOr<uint64_t>(j, "files_total");
  op.started = StringOr(j, "started");
  op.started_ms = NumberOr<int64_t>(j, "started_ms");
  op.finished_ms = NumberOr<int64_t>(j, "finished_ms");
  op.elapsed_ms = NumberOr<int64_t>(j, "elapsed_ms");
  op.description = StringOr(j, "description");
  op.error = StringOr(j, "error");
  op.context = StringOr(j, "context");
  auto result = j.find("result");
  if (result != j.end() && result->is_object()) {
    op.bytes_read = NumberOr<uint64_t>(*result, "bytes_read");
    op.bytes_stored = NumberOr<uint64_t>(*result, "bytes_stored");
    op.files = NumberOr<uint64_t>(*result, "files");
    op.set_aside = StringOr(*result, "set_aside");
    if (op.kind == "restore") op.bytes_read = NumberOr<uint64_t>(*result, "bytes");
  }
  return op;
}

BackupInfo BackupInfo::FromJson(const json& j) {
  BackupInfo b;
  b.id = j.at("id").get<std::string>();
  b.type = StringOr(j, "type");
  b.parent = StringOr(j, "parent");
  b.created_ms = NumberOr<int64_t>(j, "created_ms");
  b.bytes = NumberOr<uint64_t>(j, "bytes");
  b.stored_bytes = NumberOr<uint64_t>(j, "stored_bytes");
  b.files = NumberOr<uint64_t>(j, "files");
  b.details = j.value("details", json(nullptr));
  return b;
}

Status ApiError::ToStatus() const {
  switch (http_status) {
    case 400:
      return Status::InvalidArgument(message);
    case 404:
      return Status::NotFound(message);
    case 409:
      return Status::AlreadyExists(message);
    case 503:
      return Status::Busy(message);
    case 0:
      return Status::IOError(message);
    default:
      return Status::IOError(fmt::format("HTTP {}: {}", http_status, message));
  }
}

AdminClient::AdminClient(AdminClientOptions options)
    : options_(std::move(options)),
      base_url_((options_.tls ? "https://" : "http://") + HostPort(options_)),
      http_(std::make_unique<HttpConnection>(options_)) {}

AdminClient::AdminClient(std::string host, uint16_t port)
    : AdminClient(AdminClientOptions{.host = std::move(host), .port = port}) {}

AdminClient::~AdminClient() = default;

std::string AdminClient::EncodePathSegment(std::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (unsigned char c : segment) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

ApiResult<json> AdminClient::Send(std::string_view method, const std::string& path,
                                  const std::string* body) {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_used_ > kReconnectAfterIdle) http_->Close();

  HttpReply reply;
  const std::optional<HttpTransportError> failed =
      http_->Exchange(HttpRequest{.method = method, .target = path, .json_body = body}, reply);
  last_used_ = std::chrono::steady_clock::now();
  if (failed) {
    last_status_ = 0;
    last_body_.clear();
    return ApiError{0, fmt::format("cannot reach host at {}: {}", base_url_,
                                   DescribeTransportError(*failed, options_.connect_timeout))};
  }
  last_status_ = reply.status;
  last_body_ = std::move(reply.body);

  json parsed = json::parse(last_body_, nullptr, /*allow_exceptions=*/false);
  if (last_status_ >= 400) {
    if (parsed.is_object() && parsed.contains("error") && parsed["error"].is_string()) {
      return ApiError{last_status_, parsed["error"].get<std::string>()};
    }
    return ApiError{last_status_, fmt::format("HTTP {} from {} {}: {}", last_status_, method, path,
                                              last_body_.substr(0, 200))};
  }
  if (parsed.is_discarded()) {
    return ApiError{last_status_, fmt::format("the host's reply to {} {} is not JSON: {}", method,
                                              path, last_body_.substr(0, 200))};
  }
  return parsed;
}

ApiResult<json> AdminClient::Call(std::string_view method, const std::string& path,
                                  const std::optional<json>& body) {
  if (!body.has_value()) return Send(method, path, nullptr);
  const std::string text = body->dump(-1, ' ', false, json::error_handler_t::strict);
  return Send(method, path, &text);
}

ApiResult<AppendResult> AdminClient::Append(std::string_view context,
                                            std::span<const std::string> events,
                                            StreamRole stream) {
  json body = {{"events", json::array()}, {"stream", std::string(StreamRoleName(stream))}};
  json& list = body["events"];
  for (const std::string& event : events) list.push_back(event);
  // Payloads must be UTF-8 to travel as JSON strings; an invalid one is the
  // caller's error, reported without a round trip.
  std::string text;
  try {
    text = body.dump();
  } catch (const json::exception& e) {
    return ApiError{
        400, fmt::format("a payload is not valid UTF-8 and cannot be sent as JSON: {}", e.what())};
  }
  const std::string path = "/v1/contexts/" + EncodePathSegment(context) + "/events";
  ApiResult<json> reply = Send("POST", path, &text);
  return Decode<AppendResult>(reply, last_status_, [](const json& j) {
    AppendResult r;
    r.log_index = j.at("log_index").get<uint64_t>();
    r.first_token = j.at("first_token").get<uint64_t>();
    r.last_token = j.at("last_token").get<uint64_t>();
    return r;
  });
}

ApiResult<ReadReply> AdminClient::Read(std::string_view context, uint64_t from, size_t limit,
                                       StreamRole stream) {
  const std::string path =
      fmt::format("/v1/contexts/{}/events?from={}&limit={}&stream={}", EncodePathSegment(context),
                  from, limit, StreamRoleName(stream));
  ApiResult<json> reply = Send("GET", path, nullptr);
  return Decode<ReadReply>(reply, last_status_, [](const json& j) {
    ReadReply r;
    for (const json& e : j.at("events")) {
      StoredEvent event;
      event.token = e.at("token").get<uint64_t>();
      event.log_index = e.at("log_index").get<uint64_t>();
      event.timestamp_ms = e.at("timestamp_ms").get<int64_t>();
      event.payload = e.at("payload").get<std::string>();
      r.events.push_back(std::move(event));
    }
    r.next_token = j.at("next_token").get<uint64_t>();
    return r;
  });
}

ApiResult<HostStatus> AdminClient::GetStatus() {
  ApiResult<json> reply = Send("GET", "/v1/status", nullptr);
  return Decode<HostStatus>(reply, last_status_, [](const json& j) {
    HostStatus s;
    s.data_dir = j.at("data_dir").get<std::string>();
    s.fsync = j.at("fsync").get<std::string>();
    s.compaction_pinned = j.at("compaction_pinned").get<bool>();
    for (const json& c : j.at("contexts")) {
      ContextState state;
      state.name = c.at("name").get<std::string>();
      state.term = c.at("term").get<uint64_t>();
      state.first_log_index = c.at("first_log_index").get<uint64_t>();
      state.last_log_index = c.at("last_log_index").get<uint64_t>();
      state.commit_index = c.at("commit_index").get<uint64_t>();
      state.next_event_token = c.at("next_event_token").get<uint64_t>();
      state.next_snapshot_token = c.at("next_snapshot_token").get<uint64_t>();
      s.contexts.push_back(std::move(state));
    }
    if (auto disabled = j.find("disabled_providers"); disabled != j.end()) {
      for (const json& d : *disabled) {
        s.disabled_providers.push_back({d.at("name").get<std::string>(),
                                        d.at("reason").get<std::string>(),
                                        d.at("enable").get<std::string>()});
      }
    }
    return s;
  });
}

ApiResult<CompactionReport> AdminClient::Compact() {
  const std::string empty = "{}";
  ApiResult<json> reply = Send("POST", "/v1/compact", &empty);
  return Decode<CompactionReport>(reply, last_status_, [](const json& j) {
    CompactionReport r;
    r.pinned = j.at("pinned").get<bool>();
    for (const json& p : j.at("deleted")) {
      r.deleted.emplace_back(p.get<std::string>());
    }
    r.kept_for_archive = j.at("kept_for_archive").get<uint64_t>();
    return r;
  });
}

ApiResult<std::vector<ArchiverStatus>> AdminClient::GetArchive() {
  ApiResult<json> reply = Send("GET", "/v1/archive", nullptr);
  return Decode<std::vector<ArchiverStatus>>(reply, last_status_, [](const json& j) {
    std::vector<ArchiverStatus> archivers;
    for (const json& a : j.at("archivers")) archivers.push_back(ArchiverStatusFromJson(a));
    return archivers;
  });
}

ApiResult<std::vector<ProviderInfo>> AdminClient::ListProviders() {
  ApiResult<json> reply = Send("GET", "/v1/providers", nullptr);
  return Decode<std::vector<ProviderInfo>>(reply, last_status_, [](const json& j) {
    std::vector<ProviderInfo> providers;
    for (const json& p : j.at("providers")) {
      ProviderInfo info;
      info.name = p.at("name").get<std::string>();
      info.plugin = StringOr(p, "plugin");
      info.provider = StringOr(p, "provider");
      info.version = StringOr(p, "version");
      info.abi = StringOr(p, "abi");
      for (const json& cap : p.at("capabilities")) {
        info.capabilities.push_back(cap.get<std::string>());
      }
      providers.push_back(std::move(info));
    }
    return providers;
  });
}

ApiResult<OperationInfo> AdminClient::StartBackup(std::string_view provider, std::string_view type,
                                                  std::chrono::milliseconds queue_wait) {
  json body = {{"type", type}};
  if (!provider.empty()) body["provider"] = provider;
  if (queue_wait.count() > 0) body["wait_ms"] = queue_wait.count();
  const std::string text = body.dump();
  ApiResult<json> reply = Send("POST", "/v1/backups", &text);
  return Decode<OperationInfo>(reply, last_status_, [](const json& j) {
    return OperationInfo::FromJson(j.at("operation"));
  });
}

bool AdminClient::last_reply_busy() const {
  if (last_status_ != 409) return false;
  const json reply = json::parse(last_body_, nullptr, /*allow_exceptions=*/false);
  return reply.is_object() && reply.value("busy", false);
}

ApiResult<OperationInfo> AdminClient::StartRestore(const json& body) {
  const std::string text = body.dump();
  ApiResult<json> reply = Send("POST", "/v1/restores", &text);
  return Decode<OperationInfo>(reply, last_status_, [](const json& j) {
    return OperationInfo::FromJson(j.at("operation"));
  });
}

ApiResult<std::optional<OperationInfo>> AdminClient::GetOperation(std::chrono::milliseconds wait) {
  const std::string path =
      wait.count() > 0 ? fmt::format("/v1/operation?wait_ms={}", wait.count()) : "/v1/operation";
  ApiResult<json> reply = Send("GET", path, nullptr);
  if (!reply.ok() && reply.error().http_status == 404) return std::optional<OperationInfo>();
  return Decode<std::optional<OperationInfo>>(reply, last_status_, [](const json& j) {
    return std::optional<OperationInfo>(OperationInfo::FromJson(j.at("operation")));
  });
}

ApiResult<OperationInfo> AdminClient::CancelOperation() {
  const std::string empty = "{}";
  ApiResult<json> reply = Send("POST", "/v1/operation/cancel", &empty);
  return Decode<OperationInfo>(reply, last_status_, [](const json& j) {
    return OperationInfo::FromJson(j.at("operation"));
  });
}

ApiResult<std::vector<BackupInfo>> AdminClient::ListBackups(std::string_view provider) {
  ApiResult<json> reply = Send("GET", "/v1/backups" + ProviderQuery(provider), nullptr);
  return Decode<std::vector<BackupInfo>>(reply, last_status_, [](const json& j) {
    std::vector<BackupInfo> backups;
    for (const json& b : j.at("backups")) backups.push_back(BackupInfo::FromJson(b));
    return backups;
  });
}

ApiResult<VerifyResult> AdminClient::VerifyBackups(std::string_view provider,
                                                   std::string_view backup_id) {
  const std::string path = backup_id.empty()
                               ? "/v1/backups/verify"
                               : "/v1/backups/" + EncodePathSegment(backup_id) + "/verify";
  const std::string empty = "{}";
  ApiResult<json> reply = Send("POST", path + ProviderQuery(provider), &empty);
  return Decode<VerifyResult>(reply, last_status_, [](const json& j) {
    VerifyResult result;
    result.ok = j.at("ok").get<bool>();
    for (const json& p : j.at("problems")) {
      result.problems.push_back({StringOr(p, "status"), StringOr(p, "backup_id"),
                                 StringOr(p, "file"), StringOr(p, "message")});
    }
    result.summary = StringOr(j, "summary");
    auto op = j.find("operation");
    if (op != j.end() && op->is_object()) result.operation = OperationInfo::FromJson(*op);
    return result;
  });
}

ApiResult<OperationInfo> AdminClient::DeleteBackup(std::string_view provider,
                                                   std::string_view backup_id) {
  const std::string path = "/v1/backups/" + EncodePathSegment(backup_id) + ProviderQuery(provider);
  ApiResult<json> reply = Send("DELETE", path, nullptr);
  return Decode<OperationInfo>(reply, last_status_, [](const json& j) {
    return OperationInfo::FromJson(j.at("operation"));
  });
}

ApiResult<BackupInfo> AdminClient::PlanDeleteBackup(std::string_view provider,
                                                    std::string_view backup_id) {
  std::string path = "/v1/backups/" + EncodePathSegment(backup_id) + ProviderQuery(provider);
  path += path.find('?') == std::string::npos ? "?dry_run=1" : "&dry_run=1";
  ApiResult<json> reply = Send("DELETE", path, nullptr);
  return Decode<BackupInfo>(reply, last_status_, [](const json& j) {
    return BackupInfo::FromJson(j.at("would_delete"));
  });
}

ApiResult<std::vector<BackupInfo>> AdminClient::ExpireBackups(
    std::string_view provider, uint32_t keep_last, std::chrono::milliseconds keep_newer_than) {
  ExpireRules rules;
  rules.keep_last = keep_last;
  rules.keep_newer_than = keep_newer_than;
  return ExpireBackups(provider, rules);
}

ApiResult<std::vector<BackupInfo>> AdminClient::ExpireBackups(std::string_view provider,
                                                              const ExpireRules& rules) {
  json body = json::object();
  if (rules.keep_last > 0) body["keep_last"] = rules.keep_last;
  if (rules.keep_hourly > 0) body["keep_hourly"] = rules.keep_hourly;
  if (rules.keep_daily > 0) body["keep_daily"] = rules.keep_daily;
  if (rules.keep_weekly > 0) body["keep_weekly"] = rules.keep_weekly;
  if (rules.keep_monthly > 0) body["keep_monthly"] = rules.keep_monthly;
  if (rules.keep_newer_than.count() > 0) {
    body["keep_newer_than_ms"] = rules.keep_newer_than.count();
  }
  if (rules.dry_run) body["dry_run"] = true;
  const std::string text = body.dump();
  ApiResult<json> reply = Send("POST", "/v1/backups/expire" + ProviderQuery(provider), &text);
  return Decode<std::vector<BackupInfo>>(reply, last_status_, [](const json& j) {
    std::vector<BackupInfo> removed;
    for (const json& b : j.at("removed")) removed.push_back(BackupInfo::FromJson(b));
    return removed;
  });
}

}  // namespace hoststub
