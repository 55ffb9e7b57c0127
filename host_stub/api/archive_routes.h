// The admin API's archive route, served from the host's SegmentArchivers:
//
//   GET /v1/archive   {"archivers": [{...}, ...]}: one entry per provider
//                     with archive = true (empty when none), each:
//
//   {"provider": "pitr", "state": "starting"|"archiving"|"retrying"|"stopped",
//    "archive_timeout_s": 60,
//    "lag": {"segments": N, "bytes": N, "seconds": X},
//    "archived": {"segments": N, "pieces": N, "bytes": N},   (since start)
//    "queue": {"depth": N, "capacity": N, "overflows": N},
//    "last_error": null | {"message", "at_ms", "consecutive_failures",
//                          "next_retry_ms"},
//    "streams": [{"context", "role": "log"|"events"|"snapshots",
//                 "last_closed": null | {"base", "name"},
//                 "piece": null | {"name", "size"},
//                 "next", "archived_ms",
//                 "pending": {"segments", "bytes"},
//                 "archived": {"segments", "pieces"}}]}
//
// See segment_archiver.h for what each figure means, and archive_wire.h for
// the codec of one entry. Errors are {"error": message} as everywhere in the
// API.
//
// Thread-safety: handlers run on httplib's workers and only call
// SegmentArchiver::Snapshot. Register before AdminServer::Start; the
// archivers must outlive the server's Stop().
#pragma once

#include <memory>
#include <vector>

#include "api/admin_server.h"
#include "archive/segment_archiver.h"

namespace hoststub {

void RegisterArchiveRoutes(AdminServer& server,
                           const std::vector<std::unique_ptr<SegmentArchiver>>& archivers);

}  // namespace hoststub
