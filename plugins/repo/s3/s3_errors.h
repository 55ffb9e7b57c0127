// What an S3 answer means for the driver: whether trying again can help,
// and otherwise which bkp_status and message it becomes. The messages name
// the endpoint, the bucket and the key, say what to do, and never carry a
// secret.
//
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/s3/s3_config.h"
#include "repo/s3/s3_http.h"

namespace repo::s3 {

// 5xx, 429, SlowDown, RequestTimeout, and transport failures a new
// connection may not have (refused, reset, timed out, cut short).
bool Retryable(const HttpResponse& response);

// The error for a failed exchange. `what` names the request ("PUT
// 'objects/ab/...'"); `attempts` and `elapsed` say how long it was tried.
bkp::Error ToError(const S3Config& config, const std::string& what, const HttpResponse& response,
                   int attempts, std::chrono::milliseconds elapsed);

}  // namespace repo::s3
