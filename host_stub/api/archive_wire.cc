// The wire form of an archiver's status (see archive_wire.h).
#include "api/archive_wire.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include "plugin_host/abi_role.h"
#include "plugin_host/abi_status.h"

namespace hoststub {
namespace {

using nlohmann::json;

constexpr ArchiverState kStates[] = {ArchiverState::kStarting, ArchiverState::kArchiving,
                                     ArchiverState::kRetrying, ArchiverState::kStopped};

json StreamJson(const ArchiveStreamStatus& s) {
  json last_closed = nullptr;
  if (s.closed_base) last_closed = {{"base", *s.closed_base}, {"name", s.closed_name}};
  json piece = nullptr;
  if (!s.piece_name.empty()) piece = {{"name", s.piece_name}, {"size", s.piece_size}};
  return {{"context", s.context},
          {"role", BkpRoleName(s.role)},
          {"last_closed", std::move(last_closed)},
          {"piece", std::move(piece)},
          {"next", s.next},
          {"archived_ms", s.archived_ms},
          {"pending", {{"segments", s.pending_segments}, {"bytes", s.pending_bytes}}},
          {"archived", {{"segments", s.closed_archived}, {"pieces", s.pieces_archived}}}};
}

ArchiveStreamStatus StreamFromJson(const json& j) {
  ArchiveStreamStatus s;
  s.context = j.at("context").get<std::string>();
  const std::string role = j.at("role").get<std::string>();
  if (const std::optional<StreamRole> r = ParseStreamRole(role)) s.role = ToBkpRole(*r);
  if (const json& last = j.at("last_closed"); !last.is_null()) {
    s.closed_base = last.at("base").get<uint64_t>();
    s.closed_name = last.at("name").get<std::string>();
  }
  if (const json& piece = j.at("piece"); !piece.is_null()) {
    s.piece_name = piece.at("name").get<std::string>();
    s.piece_size = piece.at("size").get<uint64_t>();
  }
  s.next = j.at("next").get<uint64_t>();
  s.archived_ms = j.at("archived_ms").get<int64_t>();
  s.pending_segments = j.at("pending").at("segments").get<uint64_t>();
  s.pending_bytes = j.at("pending").at("bytes").get<uint64_t>();
  s.closed_archived = j.at("archived").at("segments").get<uint64_t>();
  s.pieces_archived = j.at("archived").at("pieces").get<uint64_t>();
  return s;
}

}  // namespace

json ArchiverStatusJson(const ArchiverStatus& s) {
  json last_error = nullptr;
  if (!s.last_error.empty()) {
    last_error = {{"message", s.last_error},
                  {"at_ms", s.last_error_ms},
                  {"consecutive_failures", s.consecutive_failures},
                  {"next_retry_ms", s.next_retry_ms}};
  }
  json streams = json::array();
  for (const ArchiveStreamStatus& stream : s.streams) streams.push_back(StreamJson(stream));
  return {
      {"provider", s.provider},
      {"timeline", s.timeline},
      {"state", ArchiverStateName(s.state)},
      {"archive_timeout_s", static_cast<double>(s.archive_timeout.count()) / 1000},
      {"lag", {{"segments", s.lag.segments}, {"bytes", s.lag.bytes}, {"seconds", s.lag.seconds}}},
      {"archived",
       {{"segments", s.segments_archived},
        {"pieces", s.pieces_archived},
        {"bytes", s.bytes_archived}}},
      {"queue",
       {{"depth", s.queue_depth},
        {"capacity", s.queue_capacity},
        {"overflows", s.queue_overflows}}},
      {"last_error", std::move(last_error)},
      {"streams", std::move(streams)}};
}

ArchiverStatus ArchiverStatusFromJson(const json& j) {
  ArchiverStatus s;
  s.provider = j.at("provider").get<std::string>();
  s.timeline = j.value("timeline", 1u);  // a host from before timelines: the first
  const std::string state = j.at("state").get<std::string>();
  for (ArchiverState candidate : kStates) {
    if (state == ArchiverStateName(candidate)) s.state = candidate;
  }
  s.archive_timeout =
      std::chrono::milliseconds(std::llround(j.at("archive_timeout_s").get<double>() * 1000));
  s.lag.segments = j.at("lag").at("segments").get<uint64_t>();
  s.lag.bytes = j.at("lag").at("bytes").get<uint64_t>();
  s.lag.seconds = j.at("lag").at("seconds").get<double>();
  s.segments_archived = j.at("archived").at("segments").get<uint64_t>();
  s.pieces_archived = j.at("archived").at("pieces").get<uint64_t>();
  s.bytes_archived = j.at("archived").at("bytes").get<uint64_t>();
  s.queue_depth = j.at("queue").at("depth").get<size_t>();
  s.queue_capacity = j.at("queue").at("capacity").get<size_t>();
  s.queue_overflows = j.at("queue").at("overflows").get<uint64_t>();
  if (const json& error = j.at("last_error"); !error.is_null()) {
    s.last_error = error.at("message").get<std::string>();
    s.last_error_ms = error.at("at_ms").get<int64_t>();
    s.consecutive_failures = error.at("consecutive_failures").get<uint64_t>();
    s.next_retry_ms = error.at("next_retry_ms").get<int64_t>();
  }
  for (const json& stream : j.at("streams")) s.streams.push_back(StreamFromJson(stream));
  return s;
}

}  // namespace hoststub
