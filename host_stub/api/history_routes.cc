// GET /v1/history: the operation history's newest records, as JSON.
#include "api/history_routes.h"

#include <charconv>
#include <string>

#include <fmt/format.h>
#include <httplib.h>

namespace hoststub {
namespace {

using nlohmann::json;

constexpr size_t kDefaultRecent = 20;
constexpr size_t kMaxRecent = 1000;

void HandleHistory(OperationHistory* history, const httplib::Request& req, httplib::Response& res) {
  for (const auto& [name, value] : req.params) {
    if (name != "limit") {
      return ReplyError(res, 400,
                        fmt::format("unknown query parameter '{}' (accepted: 'limit')", name));
    }
  }
  size_t limit = kDefaultRecent;
  if (req.has_param("limit")) {
    const std::string text = req.get_param_value("limit");
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (text.empty() || ec != std::errc() || end != text.data() + text.size() || limit == 0 ||
        limit > kMaxRecent) {
      return ReplyError(
          res, 400, fmt::format("limit must be a number from 1 to {}, not '{}'", kMaxRecent, text));
    }
  }
  if (history == nullptr) {
    return ReplyError(res, 404, "this host keeps no operation history");
  }
  Result<std::vector<OperationRecord>> last = history->LastOfEach();
  if (!last.ok()) return ReplyError(res, 500, last.status().message());
  Result<std::vector<OperationRecord>> recent = history->Since(0, limit);
  if (!recent.ok()) return ReplyError(res, 500, recent.status().message());
  json last_json = json::array();
  for (const OperationRecord& r : *last) last_json.push_back(OperationRecordJson(r));
  json recent_json = json::array();
  for (const OperationRecord& r : *recent) recent_json.push_back(OperationRecordJson(r));
  ReplyJson(res, 200, {{"last", std::move(last_json)}, {"recent", std::move(recent_json)}});
}

}  // namespace

json OperationRecordJson(const OperationRecord& r) {
  return {{"id", r.id},
          {"kind", r.kind},
          {"provider", r.provider},
          {"started_ms", r.started_ms},
          {"finished_ms", r.finished_ms},
          {"duration_ms", r.duration_ms()},
          {"result", r.result},
          {"bytes_read", r.bytes_read},
          {"bytes_stored", r.bytes_stored},
          {"backup_id", r.backup_id.empty() ? json(nullptr) : json(r.backup_id)},
          {"error", r.error.empty() ? json(nullptr) : json(r.error)}};
}

void RegisterHistoryRoutes(AdminServer& server, OperationHistory* history) {
  server.http().Get("/v1/history", [history](const httplib::Request& req, httplib::Response& res) {
    HandleHistory(history, req, res);
  });
}

}  // namespace hoststub
