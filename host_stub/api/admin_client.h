// AdminClient: a typed client of the admin HTTP API (api/admin_server.h), for
// hostctl, tests and benchmarks. One keep-alive connection per client.
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

#include "storage/event_store.h"
#include "util/status.h"

namespace httplib {
class Client;
}  // namespace httplib

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

struct HostStatus {
  std::string data_dir;
  std::string fsync;
  bool compaction_pinned = false;
  std::vector<ContextState> contexts;
};

struct AdminClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8124;
  std::chrono::milliseconds connect_timeout{5'000};
  // Per read/write on the socket; an append under fsync may take a while.
  std::chrono::milliseconds io_timeout{60'000};
};

class AdminClient {
 public:
  explicit AdminClient(AdminClientOptions options);
  AdminClient(std::string host, uint16_t port);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  // "http://HOST:PORT".
  const std::string& base_url() const { return base_url_; }

  ApiResult<AppendResult> Append(std::string_view context, std::span<const std::string> events,
                                 StreamKind stream = StreamKind::kEvents);
  // `limit` is passed as is: the host accepts 1..10000.
  ApiResult<ReadReply> Read(std::string_view context, uint64_t from, size_t limit,
                            StreamKind stream = StreamKind::kEvents);
  ApiResult<HostStatus> GetStatus();
  ApiResult<CompactionReport> Compact();

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
  std::unique_ptr<httplib::Client> http_;
  std::chrono::steady_clock::time_point last_used_{};
  int last_status_ = 0;
  std::string last_body_;
};

}  // namespace hoststub
