// The wire form of an archiver's status (one entry of GET /v1/archive, laid
// out in api/archive_routes.h), and back. Apart from the route so that the
// client side (AdminClient, hostctl) decodes it without linking the server
// or the archiver.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include "archive/archiver_status.h"

namespace hoststub {

nlohmann::json ArchiverStatusJson(const ArchiverStatus& status);
// Throws nlohmann::json::exception on JSON of another shape (AdminClient
// reports that as an unexpected reply).
ArchiverStatus ArchiverStatusFromJson(const nlohmann::json& j);

}  // namespace hoststub
