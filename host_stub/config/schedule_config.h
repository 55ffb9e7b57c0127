// [[schedules]] in the host config: what hostd serve runs by itself (see
// backup/scheduler.h): a backup (full or incremental) or a restore drill
// through one provider, at a fixed period or on a cron expression, with
// an optional random delay, and after each scheduled backup the retention
// rules written beside it.
//
// Thread-safety: plain values; the reader is a pure function.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/schedule_time.h"
#include "config/toml_schema.h"

namespace hoststub {

enum class ScheduleKind { kFull, kIncremental, kDrill };

// "full", "incremental", "drill".
const char* ScheduleKindName(ScheduleKind kind);

// The keep_* keys of a schedule: how many backups each rule keeps (0: the
// rule is off). restic's and borg's meaning: keep_last keeps the newest N;
// keep_hourly keeps the newest backup of each of the newest N hours that
// have one; daily, weekly (ISO weeks) and monthly likewise, all in UTC. A
// backup any rule keeps stays, with every backup its chain needs.
struct KeepRules {
  uint32_t last = 0;
  uint32_t hourly = 0;
  uint32_t daily = 0;
  uint32_t weekly = 0;
  uint32_t monthly = 0;
  bool any() const { return last + hourly + daily + weekly + monthly > 0; }
  bool operator==(const KeepRules&) const = default;
};

struct ScheduleConfig {
  // Unique among the schedules; defaults to "<provider>-<kind>".
  std::string name;
  // A configured [[providers]] name.
  std::string provider;
  ScheduleKind kind = ScheduleKind::kFull;
  // `every = "1h"`: runs a period after the last run was due (the first
  // one a period after hostd starts). Zero when `cron` is set.
  std::chrono::seconds every{0};
  // `cron = "30 2 * * *"` (UTC); exactly one of every and cron is set.
  std::optional<CronExpression> cron;
  // `jitter = "5m"`: each run starts a random delay in [0, jitter) after it
  // is due, so many hosts on one schedule do not hit one repository at once.
  std::chrono::seconds jitter{0};
  // Retention after each scheduled backup (never for a drill).
  KeepRules keep;
  // Where the entry is written, for messages.
  std::string source;
  uint32_t line = 0;

  // The next time it is due strictly after `after`, without the jitter.
  SystemTime NextAfter(SystemTime after) const;
  // "every 1h" or "cron \"30 2 * * *\"".
  std::string DescribeWhen() const;
  // Same provider, kind, timing and retention: a reload keeps its next run.
  bool SameAs(const ScheduleConfig& other) const;
};

// The top-level `schedules` array of tables. Reading checks each entry
// alone (required keys, one of every/cron, durations, ranges); that each
// names a configured provider is CheckScheduleProviders's, as the providers
// may be written after the schedules. Rendering (`hostd config show`) writes
// each entry back with every key, or, with none configured, a commented-out
// example documenting the keys.
toml_schema::Field Schedules(std::vector<ScheduleConfig>& out);

// InvalidArgument "file:line: schedule 'x' names provider 'p', which is not
// configured (configured: ...)" for the first such schedule.
Status CheckScheduleProviders(const std::vector<ScheduleConfig>& schedules,
                              const std::vector<std::string>& provider_names);

}  // namespace hoststub
