// The admin API's operation history route (ops/operation_history.h):
//
//   GET /v1/history?limit=N   {"last": [record, ...], "recent": [record, ...]}
//
// "last": the newest record of each (provider, kind), ordered by provider
// then kind: what `hostctl status` shows and judges. "recent": the newest N
// records (default 20, at most 1000), oldest first. A record:
//
//   {"id", "kind", "provider", "started_ms", "finished_ms", "duration_ms",
//    "result": "succeeded"|"failed"|"cancelled", "bytes_read",
//    "bytes_stored", "backup_id": null|"...", "error": null|"..."}
//
// 500 when the history cannot be read; 404 when the host keeps none.
//
// Thread-safety: handlers run on httplib's workers; OperationHistory is
// thread-safe. Register before AdminServer::Start; the history must outlive
// the server's Stop().
#pragma once

#include <nlohmann/json.hpp>

#include "api/admin_server.h"
#include "ops/operation_history.h"

namespace hoststub {

nlohmann::json OperationRecordJson(const OperationRecord& record);

// `history` may be null: the route then answers 404.
void RegisterHistoryRoutes(AdminServer& server, OperationHistory* history);

}  // namespace hoststub
