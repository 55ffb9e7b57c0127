// FormatUtc: every format of one known instant, the millisecond and
// before-1970 edges, and a time too far out for a calendar date. The
// expected strings are written out by hand (1'700'000'000 s is the well
// known 2023-11-14 22:13:20 UTC), not computed with gmtime again.
#include "util/utc_time.h"

#include <cstdint>

#include <doctest/doctest.h>

using hoststub::FormatUtc;
using hoststub::UtcFormat;

TEST_CASE("utc_time: one instant in every format") {
  const int64_t ms = 1'700'000'000'123;
  CHECK(FormatUtc(ms, UtcFormat::kHuman) == "2023-11-14 22:13:20 UTC");
  CHECK(FormatUtc(ms, UtcFormat::kIso8601) == "2023-11-14T22:13:20Z");
  CHECK(FormatUtc(ms, UtcFormat::kIso8601Millis) == "2023-11-14T22:13:20.123Z");
  CHECK(FormatUtc(ms, UtcFormat::kCompact) == "20231114T221320Z");
}

TEST_CASE("utc_time: milliseconds round down, also before 1970") {
  CHECK(FormatUtc(0, UtcFormat::kIso8601Millis) == "1970-01-01T00:00:00.000Z");
  CHECK(FormatUtc(999, UtcFormat::kIso8601) == "1970-01-01T00:00:00Z");
  CHECK(FormatUtc(7, UtcFormat::kIso8601Millis) == "1970-01-01T00:00:00.007Z");
  // One millisecond before the epoch is the last one of 1969, not a
  // negative millisecond count on 1970-01-01.
  CHECK(FormatUtc(-1, UtcFormat::kIso8601Millis) == "1969-12-31T23:59:59.999Z");
  CHECK(FormatUtc(-1, UtcFormat::kHuman) == "1969-12-31 23:59:59 UTC");
}

TEST_CASE("utc_time: the extremes of int64_t are still dates") {
  // GNU date -u -d @9223372036854775 says the same.
  CHECK(FormatUtc(INT64_MAX, UtcFormat::kHuman) == "292278994-08-17 07:12:55 UTC");
  CHECK(FormatUtc(INT64_MIN, UtcFormat::kIso8601) == "-292275055-05-16T16:47:04Z");
}
