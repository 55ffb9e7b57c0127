// The engine's one clock and its one way of writing and reading UTC times:
// backup ids, lock records in messages, credential expiry, the times an S3
// listing gives. (SigV4's x-amz-date is a field of that protocol, formatted
// by s3_sigv4.h.)
//
// Thread-safety: pure functions (gmtime_r, timegm), safe on any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace repo {

// Milliseconds since the Unix epoch by the system clock: what every time
// the repository stores (created_ms, since_ms, ...) counts in.
int64_t NowMs();

// "2026-11-21T13:05:01Z": ISO 8601 extended, UTC, to the second; for
// messages.
std::string FormatUtc(int64_t ms);
std::string FormatUtc(std::chrono::system_clock::time_point t);

// "20261121T130501123Z": ISO 8601 basic, UTC, to the millisecond, no
// separators a key or file name could mind; sorts as it reads (backup ids).
std::string FormatUtcCompact(int64_t ms);

// Parses "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (AWS's Expiration,
// LastModified and Initiated) into milliseconds since the epoch (a finer
// fraction is cut); nullopt if `text` is anything else. Milliseconds, not a
// system_clock time point: that counts nanoseconds in 64 bits and ends in
// 2262, while a server may well say 2999.
std::optional<int64_t> ParseUtcMs(const std::string& text);

}  // namespace repo
