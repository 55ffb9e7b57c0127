// AdminClient: a typed client of the admin HTTP API (api/admin_server.h and
// api/backup_routes.h), for hostctl, tests and benchmarks. One keep-alive
// connection per client.
//
// A failed call says which side failed: the host could not be reached (no
// HTTP reply: hostctl exits 3), or it answered with an error (hostctl exits 1).
//
// Thread-safety: an AdminClient is not thread-safe; use one per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http_connection.h"
#include "archive/archiver_status.h"
#include "storage/event_store.h"
#include "util/status.h"

namespace hoststub {

// Why an API call failed.
struct ApiError {
  // The HTTP status of the host's error reply; 0 when no reply arrived
  // (connection refused, timeout, connection dropped).
  int http_status = 0;
  // The host's {"error": ...} text, or "cannot reach host at URL: <reason>".
  std::string message;

  bool unreachable() const { return http_status == 0; }
  // For code that speaks Status: 400 InvalidArgument, 404 NotFound, 409
  // AlreadyExists, 503 Busy; no reply and every other code IOError.
  Status ToStatus() const;
};

// A value, or the ApiError explaining why there is none.
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  ApiResult(ApiError error) : error_(std::move(error)) {}  // NOLINT
  bool ok() const { return value_.has_value(); }
  const ApiError& error() const { return error_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  std::optional<T> value_;
  ApiError error_;
};

struct ReadReply {
  std::vector<StoredEvent> events;
  uint64_t next_token = 0;  // pass as `from` to read the next page
};

// A provider the host runs without since it crashed the host during a call
// (plugin_host/provider_call_journal.h).
struct DisabledProviderInfo {
  std::string name;
  std::string reason;  // "the host crashed (signal 11) during its call 'archive' ..."
  std::string enable;  // what the operator runs to take it back
};

struct HostStatus {
  std::string data_dir;
  std::string fsync;
  bool compaction_pinned = false;
  std::vector<ContextState> contexts;
  // Empty from hosts that predate the field.
  std::vector<DisabledProviderInfo> disabled_providers;
};

// One backup operation as GET /v1/operation shows it (api/backup_routes.h).
struct OperationInfo {
  uint64_t id = 0;
  std::string kind;       // "backup", "verify", "delete", "expire"
  std::string provider;   // the provider's config name
  std::string type;       // backups: "full" or "incremental"
  std::string backup_id;  // the new backup, or the one verified/deleted
  std::string state;      // "running", "succeeded", "failed", "cancelled"
  bool cancel_requested = false;
  std::string phase;  // "starting", "control-db", "log", "events", ...
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;  // 0: not known yet
  uint64_t files_done = 0;
  uint64_t files_total = 0;
  std::string started;  // UTC, ISO 8601
  int64_t started_ms = 0;
  int64_t finished_ms = 0;  // 0 while running
  int64_t elapsed_ms = 0;
  std::string description;  // the host's one-line summary
  // A succeeded backup.
  uint64_t bytes_read = 0;
  uint64_t bytes_stored = 0;
  uint64_t files = 0;
  std::string error;  // failed or cancelled: why
  // A restore: the context, and where a forced one set the old one aside.
  std::string context;
  std::string set_aside;

  bool running() const { return state == "running"; }
  static OperationInfo FromJson(const nlohmann::json& j);
};

struct BackupInfo {
  std::string id;
  std::string type;
  std::string parent;  // empty for a full backup
  int64_t created_ms = 0;
  uint64_t bytes = 0;
  uint64_t stored_bytes = 0;
  uint64_t files = 0;
  nlohmann::json details;  // as the provider gave it; null if none

  static BackupInfo FromJson(const nlohmann::json& j);
};

struct VerifyProblemInfo {
  std::string status;  // "BKP_E_CORRUPT", ...
  std::string backup_id;
  std::string file;
  std::string message;
};

struct VerifyResult {
  bool ok = true;
  std::vector<VerifyProblemInfo> problems;
  std::string summary;
  std::optional<OperationInfo> operation;
};

struct ProviderInfo {
  std::string name;      // the config's name
  std::string plugin;    // the config's plugin value
  std::string provider;  // the plugin's own name
  std::string version;
  std::string abi;
  std::vector<std::string> capabilities;
};

// Where the host is and how long to wait for it: the transport's options.
using AdminClientOptions = HttpConnectionOptions;

class AdminClient {
 public:
  explicit AdminClient(AdminClientOptions options);
  AdminClient(std::string host, uint16_t port);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // "http://HOST:PORT", or https.
  const std::string& base_url() const { return base_url_; }

  ApiResult<AppendResult> Append(std::string_view context, std::span<const std::string> events,
                                 StreamRole stream = StreamRole::kEvents);
  // `limit` is passed as is: the host accepts 1..10000.
  ApiResult<ReadReply> Read(std::string_view context, uint64_t from, size_t limit,
                            StreamRole stream = StreamRole::kEvents);
  ApiResult<HostStatus> GetStatus();
  ApiResult<CompactionReport> Compact();
  // Continuous archiving (api/archive_routes.h): one entry per provider with
  // archive = true; empty when none.
  ApiResult<std::vector<ArchiverStatus>> GetArchive();

  // Backups (api/backup_routes.h). An empty provider lets the host pick its
  // only one.
  ApiResult<std::vector<ProviderInfo>> ListProviders();
  // Starts a backup ("full" or "incremental"); returns once it started. With
  // a `queue_wait` (at most 10 s), the host waits that long for a running
  // operation to end before refusing with 409 and {"busy": true}.
  ApiResult<OperationInfo> StartBackup(std::string_view provider, std::string_view type = "full",
                                       std::chrono::milliseconds queue_wait = {});
  // Whether the last reply refused a StartBackup because another operation
  // held the host (the same request may be repeated).
  bool last_reply_busy() const;
  // POST /v1/restores with `body` (api/backup_routes.h): starts restoring
  // one context into the host.
  ApiResult<OperationInfo> StartRestore(const nlohmann::json& body);
  // The running or last operation; nullopt when none ran since the host
  // started. With a `wait`, a running operation is answered as soon as it
  // ends, or after `wait` (at most 10 s) with its progress.
  ApiResult<std::optional<OperationInfo>> GetOperation(
      std::chrono::milliseconds wait = std::chrono::milliseconds(0));
  ApiResult<OperationInfo> CancelOperation();
  ApiResult<std::vector<BackupInfo>> ListBackups(std::string_view provider);
  // An empty backup_id verifies every backup. Problems found are a result
  // (ok == false), not an ApiError.
  ApiResult<VerifyResult> VerifyBackups(std::string_view provider, std::string_view backup_id);
  // backup_id: an id, `latest` or a unique prefix, as everywhere.
  ApiResult<OperationInfo> DeleteBackup(std::string_view provider, std::string_view backup_id);
  // What DeleteBackup would delete, deleting nothing (its refusals too).
  ApiResult<BackupInfo> PlanDeleteBackup(std::string_view provider, std::string_view backup_id);
  // Returns the backups removed. keep_newer_than is an age on the host's clock.
  ApiResult<std::vector<BackupInfo>> ExpireBackups(std::string_view provider, uint32_t keep_last,
                                                   std::chrono::milliseconds keep_newer_than);
  // Every rule of a retention policy (0: off); with dry_run, the backups
  // that would be removed, none removed.
  struct ExpireRules {
    uint32_t keep_last = 0;
    uint32_t keep_hourly = 0;
    uint32_t keep_daily = 0;
    uint32_t keep_weekly = 0;
    uint32_t keep_monthly = 0;
    std::chrono::milliseconds keep_newer_than{0};
    bool dry_run = false;
  };
  ApiResult<std::vector<BackupInfo>> ExpireBackups(std::string_view provider,
                                                   const ExpireRules& rules);

  // A raw call: `path` (with query) as sent; `body`, if any, is sent as JSON.
  // A reply with a status >= 400 is an ApiError carrying its "error" text.
  // For routes without a typed method, and for tests of the wire format.
  ApiResult<nlohmann::json> Call(std::string_view method, const std::string& path,
                                 const std::optional<nlohmann::json>& body = std::nullopt);

  // The HTTP status and raw body of the last reply (0 and "" when none
  // arrived), e.g. for `hostctl --json`.
  int last_http_status() const { return last_status_; }
  const std::string& last_reply_body() const { return last_body_; }

  // Percent-encodes one path segment (a context name may be anything the
  // user typed, and the host must see it intact to reject it properly).
  static std::string EncodePathSegment(std::string_view segment);

 private:
  ApiResult<nlohmann::json> Send(std::string_view method, const std::string& path,
                                 const std::string* body);

  AdminClientOptions options_;
  std::string base_url_;
  std::unique_ptr<HttpConnection> http_;
  std::chrono::steady_clock::time_point last_used_{};
  int last_status_ = 0;
  std::string last_body_;
};

}  // namespace hoststub
