// GET /v1/archive (see archive_routes.h).
#include "api/archive_routes.h"

#include <string>

#include <httplib.h>

#include "api/archive_wire.h"

namespace hoststub {

using nlohmann::json;

void RegisterArchiveRoutes(AdminServer& server,
                           const std::vector<std::unique_ptr<SegmentArchiver>>& archivers) {
  const auto* all = &archivers;
  server.http().Get("/v1/archive", [all](const httplib::Request& req, httplib::Response& res) {
    if (!req.params.empty()) {
      return ReplyError(res, 400,
                        "unknown query parameter '" + req.params.begin()->first +
                            "' (GET /v1/archive takes none)");
    }
    json list = json::array();
    for (const auto& archiver : *all) list.push_back(ArchiverStatusJson(archiver->Snapshot()));
    ReplyJson(res, 200, {{"archivers", std::move(list)}});
  });
}

}  // namespace hoststub
