// The engine's one UTC helper: the two ways it writes a time, and the
// strict parser the S3 driver reads AWS's times with.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "repo/utc_time.h"

TEST_CASE("utc time: messages and backup ids format the same instant two ways") {
  const int64_t ms = 1763730624745;  // 2025-11-21 13:10:24.745 UTC (python's datetime)
  CHECK(repo::FormatUtc(ms) == "2025-11-21T13:10:24Z");
  CHECK(repo::FormatUtcCompact(ms) == "20251121T131024745Z");
  CHECK(repo::FormatUtcCompact(0) == "19700101T000000000Z");
}

TEST_CASE("utc time: AWS times parse to milliseconds, anything else is refused") {
  CHECK(repo::ParseUtcMs("2019-10-08T22:41:32.000Z") == int64_t{1570574492000});
  CHECK(repo::ParseUtcMs("2019-10-08T22:41:32Z") == int64_t{1570574492000});
  CHECK(repo::ParseUtcMs("2019-10-08T22:41:32.5Z") == int64_t{1570574492500});
  CHECK(repo::ParseUtcMs("2019-10-08T22:41:32.123456Z") == int64_t{1570574492123});
  // Beyond what a nanosecond system_clock holds (2262).
  CHECK(repo::ParseUtcMs("2999-01-01T00:00:00.000Z") == int64_t{32472144000000});
  for (const std::string bad :
       {"", "2019-10-08 22:41:32Z", "2019-10-08T22:41:32", "2019-13-08T22:41:32Z",
        "2019-10-08T22:41:32.000Zjunk", "yesterday"}) {
    CAPTURE(bad);
    CHECK_FALSE(repo::ParseUtcMs(bad).has_value());
  }
}
