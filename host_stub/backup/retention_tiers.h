// Which backups a retention policy keeps, decided in the host from the
// provider's listing: the tiers restic's `forget` and borg's `prune` have
// (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly), the age
// rule of the provider's own expire (keep_newer_than), and two rules of
// this engine: the newest backup always stays, and so does every ancestor
// of a kept incremental, so a chain is never broken.
//
// A tier keeps, walking from the newest backup back, the newest backup of
// each of its N most recent periods (UTC hour, day, ISO week, month) that
// hold one; periods without a backup do not count. A backup kept by one
// rule still counts for the others (restic's behaviour), so keep_daily = 7
// with keep_weekly = 4 keeps at most 11 backups, not counting chains.
//
// Thread-safety: a pure function.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "plugin_host/provider_calls.h"
#include "util/status.h"

namespace hoststub {

struct RetentionDecision {
  std::vector<BackupListing> keep;    // oldest first
  std::vector<BackupListing> remove;  // oldest first
  // Why each kept backup stays: "last", "hourly", ..., "newest",
  // "newer-than", "chain of <id>".
  std::map<std::string, std::vector<std::string>> reasons;
};

// True when `policy` has a tier beyond what a provider's expire knows
// (keep_last and keep_newer_than).
bool HasRetentionTiers(const RetentionPolicy& policy);

// Decides over `backups` (oldest first, as ListProviderBackups gives them)
// at time `now`. InvalidArgument when the policy has no rule at all (it
// would keep only the newest backup).
Result<RetentionDecision> DecideRetention(const std::vector<BackupListing>& backups,
                                          const RetentionPolicy& policy,
                                          std::chrono::system_clock::time_point now);

// Applies `policy` through the provider, which the caller holds (one call
// at a time per instance): with neither tiers nor dry_run, the provider's
// own expire; else decided here, then (not for a dry run) each backup not
// kept deleted, newest first so no parent goes before its child, and
// last the provider's expire told to keep every backup from the oldest one
// kept, which drops the archived segments older than it. Returns what was
// removed (a dry run: what would be). A failed delete stops it; what was
// deleted before stays deleted.
Result<std::vector<BackupListing>> ApplyRetention(const LoadedProvider& provider,
                                                  const RetentionPolicy& policy,
                                                  std::chrono::system_clock::time_point now);

}  // namespace hoststub
