// The retention decision and backup-id resolution, over listings with
// fixed time stamps: what restic's forget keeps for the same history,
// worked out by hand per period, plus this engine's chain rule.
#include "backup/retention_tiers.h"

#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "backup/backup_ids.h"
#include "test_support.h"

using namespace hoststub;
using testing_support::Contains;
using namespace std::chrono;

namespace {

int64_t Ms(int y, unsigned mo, unsigned d, int h = 0, int mi = 0) {
  const auto t = sys_days(year(y) / month(mo) / day(d)) + hours(h) + minutes(mi);
  return duration_cast<milliseconds>(t.time_since_epoch()).count();
}

BackupListing Full(std::string id, int64_t ms) {
  BackupListing b;
  b.id = std::move(id);
  b.type = BKP_BACKUP_FULL;
  b.created_ms = ms;
  return b;
}

BackupListing Incr(std::string id, std::string parent, int64_t ms) {
  BackupListing b = Full(std::move(id), ms);
  b.type = BKP_BACKUP_INCREMENTAL;
  b.parent_id = std::move(parent);
  return b;
}

std::set<std::string> Ids(const std::vector<BackupListing>& backups) {
  std::set<std::string> ids;
  for (const auto& b : backups) ids.insert(b.id);
  return ids;
}

const SystemTime kNow = sys_days(year(2026) / 4 / 1);

}  // namespace

TEST_CASE("retention tiers: daily, weekly and monthly keep the newest of each period") {
  // Two fulls a day from Mon 2026-03-02 to Sun 2026-03-15, 06:00 and 18:00,
  // plus one on 2026-02-20.
  std::vector<BackupListing> backups{Full("feb20", Ms(2026, 2, 20, 6))};
  for (unsigned d = 2; d <= 15; ++d) {
    backups.push_back(Full("m" + std::to_string(d) + "a", Ms(2026, 3, d, 6)));
    backups.push_back(Full("m" + std::to_string(d) + "b", Ms(2026, 3, d, 18)));
  }
  RetentionPolicy daily;
  daily.keep_daily = 3;
  auto d = DecideRetention(backups, daily, kNow);
  REQUIRE(d.ok());
  CHECK(Ids(d->keep) == std::set<std::string>{"m15b", "m14b", "m13b"});
  CHECK(d->remove.size() == backups.size() - 3);
  CHECK(d->reasons["m15b"] == std::vector<std::string>{"newest", "daily"});

  // ISO weeks: Mon 9 - Sun 15, Mon 2 - Sun 8, and the week of Feb 20.
  RetentionPolicy weekly;
  weekly.keep_weekly = 3;
  auto w = DecideRetention(backups, weekly, kNow);
  REQUIRE(w.ok());
  CHECK(Ids(w->keep) == std::set<std::string>{"m15b", "m8b", "feb20"});

  // Months with a backup: March, February; a third month has none.
  RetentionPolicy monthly;
  monthly.keep_monthly = 3;
  auto m = DecideRetention(backups, monthly, kNow);
  REQUIRE(m.ok());
  CHECK(Ids(m->keep) == std::set<std::string>{"m15b", "feb20"});

  // Rules add up; a backup kept by one still counts for the others.
  RetentionPolicy combined;
  combined.keep_last = 2;
  combined.keep_daily = 2;
  combined.keep_weekly = 2;
  auto c = DecideRetention(backups, combined, kNow);
  REQUIRE(c.ok());
  CHECK(Ids(c->keep) == std::set<std::string>{"m15b", "m15a", "m14b", "m8b"});
}

TEST_CASE("retention tiers: hourly and newer-than, and the newest always stays") {
  std::vector<BackupListing> backups{
      Full("h9a", Ms(2026, 3, 31, 9, 5)), Full("h9b", Ms(2026, 3, 31, 9, 50)),
      Full("h11", Ms(2026, 3, 31, 11, 0)), Full("h12", Ms(2026, 3, 31, 12, 30))};
  RetentionPolicy hourly;
  hourly.keep_hourly = 2;
  auto h = DecideRetention(backups, hourly, kNow);
  REQUIRE(h.ok());
  CHECK(Ids(h->keep) == std::set<std::string>{"h12", "h11"});
  hourly.keep_hourly = 3;  // hour 10 has none: 9 is the third
  CHECK(Ids(DecideRetention(backups, hourly, kNow)->keep) ==
        std::set<std::string>{"h12", "h11", "h9b"});

  RetentionPolicy age;
  age.keep_newer_than = hours(12);  // since 2026-03-31 12:00
  CHECK(Ids(DecideRetention(backups, age, kNow)->keep) == std::set<std::string>{"h12"});

  RetentionPolicy none;
  auto refused = DecideRetention(backups, none, kNow);
  REQUIRE_FALSE(refused.ok());
  CHECK(Contains(refused.status().message(), "needs at least one rule"));
}

TEST_CASE("retention tiers: a kept incremental keeps its whole chain") {
  // f1 <- i1 <- i2 (a day each), then f2 alone.
  std::vector<BackupListing> backups{Full("f1", Ms(2026, 3, 1)), Incr("i1", "f1", Ms(2026, 3, 2)),
                                     Incr("i2", "i1", Ms(2026, 3, 3)), Full("f2", Ms(2026, 3, 4)),
                                     Incr("i3", "f2", Ms(2026, 3, 5))};
  RetentionPolicy daily;
  daily.keep_daily = 1;  // i3, and f2 for its chain
  auto one = DecideRetention(backups, daily, kNow);
  REQUIRE(one.ok());
  CHECK(Ids(one->keep) == std::set<std::string>{"i3", "f2"});
  CHECK(one->reasons["f2"] == std::vector<std::string>{"chain of i3"});
  daily.keep_daily = 3;  // i3, f2, i2: i2 brings i1 and f1
  auto three = DecideRetention(backups, daily, kNow);
  REQUIRE(three.ok());
  CHECK(Ids(three->keep) == std::set<std::string>{"i3", "f2", "i2", "i1", "f1"});
  CHECK(three->remove.empty());
}

TEST_CASE("backup ids: latest, unique prefixes, and ambiguity listing the candidates") {
  const std::vector<BackupListing> backups{Full("20260301T000000Z-aa11", Ms(2026, 3, 1)),
                                           Full("20260302T000000Z-bb22", Ms(2026, 3, 2)),
                                           Full("20260302T000000Z-bc33", Ms(2026, 3, 2, 1))};
  CHECK(ResolveBackupId(backups, "latest", "p").value() == "20260302T000000Z-bc33");
  CHECK(ResolveBackupId(backups, "20260301", "p").value() == "20260301T000000Z-aa11");
  CHECK(ResolveBackupId(backups, "20260302T000000Z-bb", "p").value() == "20260302T000000Z-bb22");
  CHECK(ResolveBackupId(backups, "20260302T000000Z-bb22", "p").value() == "20260302T000000Z-bb22");
  auto ambiguous = ResolveBackupId(backups, "20260302", "p");
  REQUIRE_FALSE(ambiguous.ok());
  CHECK(ambiguous.status().code() == Status::Code::kInvalidArgument);
  CHECK(Contains(ambiguous.status().message(),
                 "backup id prefix '20260302' is ambiguous in provider 'p': it matches 2 backups "
                 "(20260302T000000Z-bb22, 20260302T000000Z-bc33)"));
  auto missing = ResolveBackupId(backups, "2025", "p");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().code() == Status::Code::kNotFound);
  auto none = ResolveBackupId({}, "latest", "p");
  REQUIRE_FALSE(none.ok());
  CHECK(Contains(none.status().message(), "holds no complete backup"));
}
