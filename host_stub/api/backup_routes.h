// The admin API's backup routes, served by a BackupCoordinator:
//
//   GET    /v1/providers                      configured providers + capabilities
//   POST   /v1/backups  {"provider":P,"type":"full"|"incremental","wait_ms":N}
//                                             202 {"operation":{...}} (runs in the background);
//                                             another operation running: waits up to wait_ms
//                                             (0 to 10000, default 0), then 409
//                                             {"error","busy":true}
//   GET    /v1/backups?provider=P             {"provider":P,"backups":[{...}]}
//   POST   /v1/backups/verify?provider=P      verify every backup  } {"ok":bool,"problems":[...],
//   POST   /v1/backups/{id}/verify?provider=P verify one backup    }  "operation":{...}}
//   DELETE /v1/backups/{id}?provider=P        {"deleted":ID,"operation":{...}}
//   POST   /v1/backups/expire?provider=P  {"keep_last":N,"keep_newer_than_ms":AGE}
//                                             {"removed":[{...}],"operation":{...}}
//   POST   /v1/restores {"provider":P,"backup_id":ID,"context":C,"as":NEW,
//                        "to_token":T | "to_time_ms":MS,"policy":"safe"|"force",
//                        "timeline":N}
//                                             202 {"operation":{...}}: one context restored
//                                             into the running host, in the background;
//                                             409 when C exists under the safe policy
//   GET    /v1/operation                      {"operation":{...}}: the running or last one;
//                                             404 before the first
//   POST   /v1/operation/cancel               202 {"operation":{...}}; 404 if none runs
//
// The provider may be left out (body field or query parameter) when exactly
// one is configured. keep_newer_than_ms is an age, counted back from the
// host's clock, so client and host clocks need not agree.
//
// Errors are {"error": message} as everywhere in the API. Busy (another
// operation runs; the message names it) is 409 Conflict here, not the 503
// of HttpStatusFor: the host is healthy, the request conflicts with the
// running operation and would fail again until it ends or is cancelled, which
// is what a client should tell its user rather than retry. Unsupported (the
// provider lacks the capability) is 400, a cancelled verify 409; the rest as
// HttpStatusFor.
//
// Verify, delete and expire run on the request's worker thread, as the
// host's one operation.
//
// Thread-safety: handlers run concurrently on httplib's workers; all state is
// in the (thread-safe) coordinator. Register before AdminServer::Start; the
// coordinator must outlive the server's Stop().
#pragma once

#include <nlohmann/json.hpp>

#include "api/admin_server.h"
#include "backup/coordinator.h"
#include "util/status.h"

namespace hoststub {

void RegisterBackupRoutes(AdminServer& server, BackupCoordinator& coordinator);

// The wire form of an operation, a listed backup and a verify problem.
nlohmann::json OperationJson(const OperationSnapshot& operation);
nlohmann::json BackupListingJson(const BackupListing& backup);
nlohmann::json VerifyProblemJson(const VerifyProblem& problem);

// The HTTP status of a failed backup call (see the header comment).
int BackupHttpStatusFor(const Status& status);

}  // namespace hoststub
