// Handlers of the backup routes: request parsing and validation, the
// coordinator call, and the reply. Each handler is stateless; concurrency is
// the coordinator's business.
#include "api/backup_routes.h"

#include <algorithm>
#include <chrono>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <httplib.h>

#include "plugin_host/abi_status.h"
#include "plugin_host/plugin_library.h"
#include "util/utc_time.h"

namespace hoststub {
namespace {

using nlohmann::json;

void ReplyFailure(httplib::Response& res, const Status& status) {
  ReplyError(res, BackupHttpStatusFor(status), status.message());
}

std::string KnownList(std::initializer_list<std::string_view> known) {
  std::string list;
  for (std::string_view k : known) list += fmt::format("{}'{}'", list.empty() ? "" : ", ", k);
  return list;
}

// A misspelt parameter must not silently mean "the default provider".
constexpr int64_t kMaxOperationWaitMs = 10'000;

Status CheckQuery(const httplib::Request& req, std::initializer_list<std::string_view> known) {
  for (const auto& [name, value] : req.params) {
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return Status::InvalidArgument(fmt::format("unknown query parameter '{}' (accepted: {})",
                                                 name, known.size() ? KnownList(known) : "none"));
    }
  }
  return Status::OK();
}

// The request body as an object; an empty body is an empty object.
Result<json> BodyObject(const httplib::Request& req,
                        std::initializer_list<std::string_view> known) {
  if (req.body.empty()) return json::object();
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded() || !body.is_object()) {
    return Status::InvalidArgument(
        fmt::format("request body is not a JSON object; accepted fields: {}", KnownList(known)));
  }
  for (const auto& item : body.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      return Status::InvalidArgument(
          fmt::format("unknown field '{}' (accepted: {})", item.key(), KnownList(known)));
    }
  }
  return body;
}

Result<std::string> StringField(const json& body, const char* name) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return std::string();
  if (!it->is_string()) {
    return Status::InvalidArgument(fmt::format("'{}' must be a string", name));
  }
  return it->get<std::string>();
}

Result<uint64_t> UnsignedField(const json& body, const char* name, uint64_t max) {
  auto it = body.find(name);
  if (it == body.end() || it->is_null()) return uint64_t{0};
  if (!it->is_number_unsigned() && !(it->is_number_integer() && it->get<int64_t>() >= 0)) {
    return Status::InvalidArgument(
        fmt::format("'{}' must be a non-negative integer, got {}", name, it->dump()));
  }
  const uint64_t value = it->get<uint64_t>();
  if (value > max) {
    return Status::InvalidArgument(
        fmt::format("'{}' = {} is too large (at most {})", name, value, max));
  }
  return value;
}

json CurrentOperationJson(BackupCoordinator& coordinator) {
  std::optional<OperationSnapshot> current = coordinator.Current();
  return current ? OperationJson(*current) : json(nullptr);
}

void HandleProviders(BackupCoordinator& coordinator, const httplib::Request& req,
                     httplib::Response& res) {
  Status query = CheckQuery(req, {});
  if (!query.ok()) return ReplyFailure(res, query);
  json providers = json::array();
  for (const auto& provider : coordinator.providers().providers()) {
    providers.push_back({{"name", provider->name()},
                         {"plugin", provider->plugin()},
                         {"plugin_path", provider->plugin_path().string()},
                         {"provider", provider->library().provider_name()},
                         {"version", provider->library().provider_version()},
                         {"abi", FormatAbiVersion(provider->negotiated_version())},
                         {"capabilities", CapabilityNames(provider->table().capabilities)}});
  }
  ReplyJson(res, 200, {{"providers", std::move(providers)}});
}

void HandleStartBackup(BackupCoordinator& coordinator, const httplib::Request& req,
                       httplib::Response& res) {
  Status query = CheckQuery(req, {});
  if (!query.ok()) return ReplyFailure(res, query);
  Result<json> body = BodyObject(req, {"provider", "type", "wait_ms"});
  if (!body.ok()) return ReplyFailure(res, body.status());
  Result<std::string> provider = StringField(*body, "provider");
  if (!provider.ok()) return ReplyFailure(res, provider.status());
  Result<std::string> type_name = StringField(*body, "type");
  if (!type_name.ok()) return ReplyFailure(res, type_name.status());
  uint32_t type = BKP_BACKUP_FULL;
  if (*type_name == "incremental") {
    type = BKP_BACKUP_INCREMENTAL;
  } else if (!type_name->empty() && *type_name != "full") {
    return ReplyError(
        res, 400,
        fmt::format("unknown backup type '{}': use \"full\" or \"incremental\"", *type_name));
  }
  // wait_ms: queue behind a running operation for that long instead of
  // being refused at once (hostctl backup create --wait repeats it).
  Result<uint64_t> wait_ms = UnsignedField(*body, "wait_ms", kMaxOperationWaitMs);
  if (!wait_ms.ok()) return ReplyFailure(res, wait_ms.status());
  Result<OperationSnapshot> started = coordinator.StartBackup(
      *provider, type, std::chrono::milliseconds(static_cast<int64_t>(*wait_ms)));
  if (!started.ok()) {
    if (started.status().code() != Status::Code::kBusy) return ReplyFailure(res, started.status());
    // "busy": the slot was taken, so the same request may simply be repeated.
    return ReplyJson(res, BackupHttpStatusFor(started.status()),
                     {{"error", started.status().message()}, {"busy", true}});
  }
  ReplyJson(res, 202, {{"operation", OperationJson(*started)}});
}

// POST /v1/restores {"provider","backup_id","context","as","to_token",
// "to_time_ms","policy"}: a per-context restore into the running host.
void HandleStartRestore(BackupCoordinator& coordinator, const httplib::Request& req,
                        httplib::Response& res) {
  Status query = CheckQuery(req, {});
  if (!query.ok()) return ReplyFailure(res, query);
  Result<json> body = BodyObject(req, {"provider", "backup_id", "context", "as", "to_token",
                                       "to_time_ms", "policy", "timeline"});
  if (!body.ok()) return ReplyFailure(res, body.status());
  Result<std::string> provider = StringField(*body, "provider");
  Result<std::string> backup_id = StringField(*body, "backup_id");
  Result<std::string> context = StringField(*body, "context");
  Result<std::string> as = StringField(*body, "as");
  Result<std::string> policy = StringField(*body, "policy");
  for (const Result<std::string>* field : {&provider, &backup_id, &context, &as, &policy}) {
    if (!field->ok()) return ReplyFailure(res, field->status());
  }
  if (context->empty()) {
    return ReplyError(res, 400, "'context' is required: the context to restore");
  }
  ContextRestore what{*context, *as, RestorePolicy::kSafe};
  if (*policy == "force") {
    what.policy = RestorePolicy::kForce;
  } else if (!policy->empty() && *policy != "safe") {
    return ReplyError(res, 400,
                      fmt::format("unknown policy '{}': use \"safe\" or \"force\"", *policy));
  }
  RestoreTarget point;
  const bool has_token = body->contains("to_token") && !(*body)["to_token"].is_null();
  const bool has_time = body->contains("to_time_ms") && !(*body)["to_time_ms"].is_null();
  if (has_token && has_time) {
    return ReplyError(res, 400, "'to_token' and 'to_time_ms' exclude each other");
  }
  if (has_token) {
    Result<uint64_t> token = UnsignedField(*body, "to_token", UINT64_MAX);
    if (!token.ok()) return ReplyFailure(res, token.status());
    point.kind = RestoreTarget::Kind::kToken;
    point.token = *token;
    point.context = *context;
  } else if (has_time) {
    Result<uint64_t> ms = UnsignedField(*body, "to_time_ms", INT64_MAX);
    if (!ms.ok()) return ReplyFailure(res, ms.status());
    point.kind = RestoreTarget::Kind::kTime;
    point.time_ms = static_cast<int64_t>(*ms);
  }
  Result<uint64_t> timeline = UnsignedField(*body, "timeline", 0xfffffffeu);
  if (!timeline.ok()) return ReplyFailure(res, timeline.status());
  point.timeline = static_cast<uint32_t>(*timeline);
  if (!point.set() && backup_id->empty()) {
    return ReplyError(res, 400,
                      "say what to restore: 'backup_id', or a point in time ('to_token' or "
                      "'to_time_ms')");
  }
  Result<OperationSnapshot> started = coordinator.StartRestore(*provider, *backup_id, what, point);
  if (!started.ok()) {
    // A context that exists under the safe policy conflicts with the host's state.
    if (started.status().code() == Status::Code::kRefused) {
      return ReplyError(res, 409, started.status().message());
    }
    return ReplyFailure(res, started.status());
  }
  ReplyJson(res, 202, {{"operation", OperationJson(*started)}});
}

void HandleList(BackupCoordinator& coordinator, const httplib::Request& req,
                httplib::Response& res) {
  Status query = CheckQuery(req, {"provider"});
  if (!query.ok()) return ReplyFailure(res, query);
  const std::string provider = req.get_param_value("provider");
  Result<std::shared_ptr<LoadedProvider>> resolved = coordinator.ResolveProvider(provider);
  if (!resolved.ok()) return ReplyFailure(res, resolved.status());
  Result<std::vector<BackupListing>> listed = coordinator.List((*resolved)->name());
  if (!listed.ok()) return ReplyFailure(res, listed.status());
  json backups = json::array();
  for (const BackupListing& backup : *listed) backups.push_back(BackupListingJson(backup));
  ReplyJson(res, 200, {{"provider", (*resolved)->name()}, {"backups", std::move(backups)}});
}

void HandleVerify(BackupCoordinator& coordinator, const std::string& backup_id,
                  const httplib::Request& req, httplib::Response& res) {
  Status query = CheckQuery(req, {"provider"});
  if (!query.ok()) return ReplyFailure(res, query);
  Result<VerifyReport> report = coordinator.Verify(req.get_param_value("provider"), backup_id);
  if (!report.ok()) return ReplyFailure(res, report.status());
  json problems = json::array();
  for (const VerifyProblem& problem : report->problems) {
    problems.push_back(VerifyProblemJson(problem));
  }
  // Problems found are the answer to the question asked, hence 200.
  ReplyJson(res, 200,
            {{"ok", report->ok()},
             // The id the spec (`latest`, a prefix) resolved to.
             {"backup_id",
              backup_id.empty() ? json(nullptr) : json(coordinator.Current().value().backup_id)},
             {"problems", std::move(problems)},
             {"summary", report->summary},
             {"operation", CurrentOperationJson(coordinator)}});
}

// `dry_run=1` (or true): say what would happen, do nothing.
Result<bool> DryRunParam(const httplib::Request& req) {
  if (!req.has_param("dry_run")) return false;
  const std::string value = req.get_param_value("dry_run");
  if (value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  return Status::InvalidArgument(
      fmt::format("dry_run must be 1, true, 0 or false, not '{}'", value));
}

void HandleDelete(BackupCoordinator& coordinator, const httplib::Request& req,
                  httplib::Response& res) {
  Status query = CheckQuery(req, {"provider", "dry_run"});
  if (!query.ok()) return ReplyFailure(res, query);
  Result<bool> dry_run = DryRunParam(req);
  if (!dry_run.ok()) return ReplyFailure(res, dry_run.status());
  // An id, `latest` or a unique prefix (backup/backup_ids.h).
  const std::string backup_id = req.matches[1].str();
  if (*dry_run) {
    Result<BackupListing> would =
        coordinator.PlanDelete(req.get_param_value("provider"), backup_id);
    if (!would.ok()) return ReplyFailure(res, would.status());
    ReplyJson(res, 200, {{"dry_run", true}, {"would_delete", BackupListingJson(*would)}});
    return;
  }
  Status deleted = coordinator.Delete(req.get_param_value("provider"), backup_id);
  if (!deleted.ok()) return ReplyFailure(res, deleted);
  const std::optional<OperationSnapshot> op = coordinator.Current();
  ReplyJson(res, 200,
            {{"deleted", op ? op->backup_id : backup_id},
             {"operation", CurrentOperationJson(coordinator)}});
}

void HandleExpire(BackupCoordinator& coordinator, const httplib::Request& req,
                  httplib::Response& res) {
  Status query = CheckQuery(req, {"provider"});
  if (!query.ok()) return ReplyFailure(res, query);
  Result<json> body = BodyObject(req, {"keep_last", "keep_newer_than_ms", "keep_hourly",
                                       "keep_daily", "keep_weekly", "keep_monthly", "dry_run"});
  if (!body.ok()) return ReplyFailure(res, body.status());
  RetentionPolicy policy;
  for (auto [name, field] :
       {std::pair{"keep_last", &policy.keep_last}, std::pair{"keep_hourly", &policy.keep_hourly},
        std::pair{"keep_daily", &policy.keep_daily}, std::pair{"keep_weekly", &policy.keep_weekly},
        std::pair{"keep_monthly", &policy.keep_monthly}}) {
    Result<uint64_t> n = UnsignedField(*body, name, UINT32_MAX);
    if (!n.ok()) return ReplyFailure(res, n.status());
    *field = static_cast<uint32_t>(*n);
  }
  Result<uint64_t> keep_newer = UnsignedField(*body, "keep_newer_than_ms", INT64_MAX);
  if (!keep_newer.ok()) return ReplyFailure(res, keep_newer.status());
  policy.keep_newer_than = std::chrono::milliseconds(static_cast<int64_t>(*keep_newer));
  if (auto dry = body->find("dry_run"); dry != body->end() && !dry->is_null()) {
    if (!dry->is_boolean()) {
      return ReplyFailure(res, Status::InvalidArgument("'dry_run' must be true or false"));
    }
    policy.dry_run = dry->get<bool>();
  }
  Result<std::vector<BackupListing>> removed =
      coordinator.Expire(req.get_param_value("provider"), policy);
  if (!removed.ok()) return ReplyFailure(res, removed.status());
  json list = json::array();
  for (const BackupListing& backup : *removed) list.push_back(BackupListingJson(backup));
  // A dry run answers with the same list under "removed", flagged.
  ReplyJson(res, 200,
            {{"removed", std::move(list)},
             {"dry_run", policy.dry_run},
             {"operation", CurrentOperationJson(coordinator)}});
}

void HandleOperation(BackupCoordinator& coordinator, const httplib::Request& req,
                     httplib::Response& res) {
  Status query = CheckQuery(req, {"wait_ms"});
  if (!query.ok()) return ReplyFailure(res, query);
  // wait_ms: answer as soon as the running operation ends, or after that
  // long with its progress, so a client following it learns of the end at
  // once instead of at its next poll.
  int64_t wait_ms = 0;
  if (req.has_param("wait_ms")) {
    const std::string text = req.get_param_value("wait_ms");
    char* end = nullptr;
    wait_ms = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || wait_ms < 0 || wait_ms > kMaxOperationWaitMs) {
      return ReplyFailure(
          res, Status::InvalidArgument(
                   fmt::format("wait_ms must be a number of milliseconds from 0 to {}, not '{}'",
                               kMaxOperationWaitMs, text)));
    }
  }
  std::optional<OperationSnapshot> current =
      wait_ms > 0 ? coordinator.WaitIdle(std::chrono::milliseconds(wait_ms))
                  : coordinator.Current();
  if (!current) {
    return ReplyError(res, 404,
                      "no backup operation has run since hostd started (start one with "
                      "`hostctl backup create`)");
  }
  ReplyJson(res, 200, {{"operation", OperationJson(*current)}});
}

void HandleCancel(BackupCoordinator& coordinator, const httplib::Request& req,
                  httplib::Response& res) {
  Status query = CheckQuery(req, {});
  if (!query.ok()) return ReplyFailure(res, query);
  Result<OperationSnapshot> cancelled = coordinator.Cancel();
  if (!cancelled.ok()) return ReplyFailure(res, cancelled.status());
  // 202: the provider stops at its next check; GET /v1/operation shows when.
  ReplyJson(res, 202, {{"operation", OperationJson(*cancelled)}});
}

}  // namespace

int BackupHttpStatusFor(const Status& status) {
  switch (status.code()) {
    case Status::Code::kBusy:
    case Status::Code::kCancelled:
    case Status::Code::kRefused:
      return 409;
    case Status::Code::kUnsupported:
      return 400;
    default:
      return HttpStatusFor(status);
  }
}

json OperationJson(const OperationSnapshot& op) {
  const bool finished = !op.running();
  json j = {
      {"id", op.id},
      {"kind", OperationKindName(op.kind)},
      {"provider", op.provider},
      {"type",
       op.kind == OperationKind::kBackup ? json(BackupTypeName(op.backup_type)) : json(nullptr)},
      {"backup_id", op.backup_id.empty() ? json(nullptr) : json(op.backup_id)},
      {"state", OperationStateName(op.state)},
      {"cancel_requested", op.cancel_requested},
      {"phase", BackupPhaseName(op.phase)},
      {"bytes_done", op.bytes_done},
      {"bytes_total", op.bytes_total},
      {"files_done", op.files_done},
      {"files_total", op.files_total},
      {"started", FormatUtc(EpochMs(op.started), UtcFormat::kIso8601)},
      {"started_ms", EpochMs(op.started)},
      {"finished_ms", finished ? json(EpochMs(op.finished)) : json(nullptr)},
      {"elapsed_ms", op.elapsed.count()},
      {"description", op.Describe()},
      {"result", nullptr},
      {"error", op.error.ok() ? json(nullptr) : json(op.error.message())},
  };
  if (op.kind == OperationKind::kRestore) j["context"] = op.context;
  if (op.kind == OperationKind::kRestore && op.state == OperationState::kSucceeded) {
    j["result"] = {{"context", op.context},
                   {"set_aside", op.set_aside.empty() ? json(nullptr) : json(op.set_aside)},
                   {"bytes", op.bytes_read},
                   {"files", op.files}};
  }
  if (op.kind == OperationKind::kBackup && op.state == OperationState::kSucceeded) {
    j["result"] = {{"backup_id", op.backup_id},
                   {"bytes_read", op.bytes_read},
                   {"bytes_stored", op.bytes_stored},
                   {"files", op.files}};
  }
  return j;
}

json BackupListingJson(const BackupListing& backup) {
  json details = nullptr;
  if (!backup.details.empty()) {
    details = json::parse(backup.details, nullptr, /*allow_exceptions=*/false);
    // Not JSON after all: pass the provider's text on rather than drop it.
    if (details.is_discarded()) details = backup.details;
  }
  return {{"id", backup.id},
          {"type", BackupTypeName(backup.type)},
          {"parent", backup.parent_id.empty() ? json(nullptr) : json(backup.parent_id)},
          {"created_ms", backup.created_ms},
          {"bytes", backup.bytes},
          {"stored_bytes", backup.stored_bytes},
          {"files", backup.files},
          {"details", std::move(details)}};
}

json VerifyProblemJson(const VerifyProblem& problem) {
  return {{"status", BkpStatusName(problem.status)},
          {"backup_id", problem.backup_id},
          {"file", problem.file},
          {"message", problem.message}};
}

void RegisterBackupRoutes(AdminServer& server, BackupCoordinator& coordinator) {
  httplib::Server& http = server.http();
  BackupCoordinator* c = &coordinator;
  http.Get("/v1/providers", [c](const httplib::Request& req, httplib::Response& res) {
    HandleProviders(*c, req, res);
  });
  http.Post("/v1/backups", [c](const httplib::Request& req, httplib::Response& res) {
    HandleStartBackup(*c, req, res);
  });
  http.Post("/v1/restores", [c](const httplib::Request& req, httplib::Response& res) {
    HandleStartRestore(*c, req, res);
  });
  http.Get("/v1/backups",
           [c](const httplib::Request& req, httplib::Response& res) { HandleList(*c, req, res); });
  // Before the {id} routes: "expire" and "verify" are not backup ids here.
  http.Post("/v1/backups/expire", [c](const httplib::Request& req, httplib::Response& res) {
    HandleExpire(*c, req, res);
  });
  http.Post("/v1/backups/verify", [c](const httplib::Request& req, httplib::Response& res) {
    HandleVerify(*c, std::string(), req, res);
  });
  http.Post(R"(/v1/backups/([^/]+)/verify)",
            [c](const httplib::Request& req, httplib::Response& res) {
              HandleVerify(*c, req.matches[1].str(), req, res);
            });
  http.Delete(R"(/v1/backups/([^/]+))", [c](const httplib::Request& req, httplib::Response& res) {
    HandleDelete(*c, req, res);
  });
  http.Get("/v1/operation", [c](const httplib::Request& req, httplib::Response& res) {
    HandleOperation(*c, req, res);
  });
  http.Post("/v1/operation/cancel", [c](const httplib::Request& req, httplib::Response& res) {
    HandleCancel(*c, req, res);
  });
}

}  // namespace hoststub
