// The retention decision (see retention_tiers.h).
#include "backup/retention_tiers.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>

namespace hoststub {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::sys_days;
using std::chrono::system_clock;

system_clock::time_point TimeOf(const BackupListing& b) {
  return system_clock::time_point(milliseconds(b.created_ms));
}

// The period a backup falls in, as a number that differs between periods.
int64_t HourOf(const BackupListing& b) {
  return std::chrono::floor<hours>(TimeOf(b)).time_since_epoch().count();
}
int64_t DayOf(const BackupListing& b) {
  return std::chrono::floor<days>(TimeOf(b)).time_since_epoch().count();
}
// ISO weeks start on Monday; 1970-01-01 was a Thursday, so shifting by three
// days puts every Monday at a multiple of seven.
int64_t WeekOf(const BackupListing& b) {
  const int64_t day = DayOf(b) + 3;
  return (day >= 0 ? day : day - 6) / 7;
}
int64_t MonthOf(const BackupListing& b) {
  const std::chrono::year_month_day ymd(std::chrono::floor<days>(TimeOf(b)));
  return static_cast<int64_t>(static_cast<int>(ymd.year())) * 12 +
         static_cast<int64_t>(static_cast<unsigned>(ymd.month()));
}

struct Tier {
  const char* name;
  uint32_t count;
  std::function<int64_t(const BackupListing&)> period;
};

}  // namespace

bool HasRetentionTiers(const RetentionPolicy& policy) {
  return policy.keep_hourly + policy.keep_daily + policy.keep_weekly + policy.keep_monthly > 0;
}

Result<RetentionDecision> DecideRetention(const std::vector<BackupListing>& backups,
                                          const RetentionPolicy& policy,
                                          system_clock::time_point now) {
  if (policy.keep_last == 0 && policy.keep_newer_than.count() <= 0 && !HasRetentionTiers(policy)) {
    return Status::InvalidArgument(
        "a retention policy needs at least one rule (keep_last, keep_hourly, keep_daily, "
        "keep_weekly, keep_monthly or keep_newer_than); with none, every backup but the newest "
        "would be removed");
  }
  // Newest first, whatever order the listing came in (ties: later in the
  // listing is newer, as a provider lists in creation order).
  std::vector<size_t> order(backups.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (backups[a].created_ms != backups[b].created_ms) {
      return backups[a].created_ms > backups[b].created_ms;
    }
    return a > b;
  });

  RetentionDecision decision;
  auto keep = [&](size_t i, std::string reason) {
    decision.reasons[backups[i].id].push_back(std::move(reason));
  };
  if (!order.empty()) keep(order.front(), "newest");
  for (size_t n = 0; n < order.size() && n < policy.keep_last; ++n) keep(order[n], "last");
  if (policy.keep_newer_than.count() > 0) {
    const int64_t since =
        std::chrono::duration_cast<milliseconds>(now.time_since_epoch() - policy.keep_newer_than)
            .count();
    for (size_t i : order) {
      if (backups[i].created_ms >= since) keep(i, "newer-than");
    }
  }
  const Tier tiers[] = {{"hourly", policy.keep_hourly, HourOf},
                        {"daily", policy.keep_daily, DayOf},
                        {"weekly", policy.keep_weekly, WeekOf},
                        {"monthly", policy.keep_monthly, MonthOf}};
  for (const Tier& tier : tiers) {
    uint32_t kept = 0;
    std::optional<int64_t> last_period;
    for (size_t i : order) {
      if (kept >= tier.count) break;
      const int64_t period = tier.period(backups[i]);
      if (last_period == period) continue;  // an older backup of a period already kept
      last_period = period;
      keep(i, tier.name);
      ++kept;
    }
  }

  // Chains: every ancestor of a kept backup stays.
  std::map<std::string, const BackupListing*> by_id;
  for (const BackupListing& b : backups) by_id[b.id] = &b;
  std::vector<std::string> kept_ids;
  for (const auto& [id, why] : decision.reasons) kept_ids.push_back(id);
  for (const std::string& id : kept_ids) {
    const BackupListing* at = by_id[id];
    std::set<std::string> seen{id};  // a listing with a parent loop must not hang us
    while (at != nullptr && !at->parent_id.empty() && seen.insert(at->parent_id).second) {
      auto parent = by_id.find(at->parent_id);
      if (parent == by_id.end()) break;
      decision.reasons[parent->first].push_back(fmt::format("chain of {}", id));
      at = parent->second;
    }
  }
  for (const BackupListing& b : backups) {
    (decision.reasons.count(b.id) > 0 ? decision.keep : decision.remove).push_back(b);
  }
  return decision;
}

Result<std::vector<BackupListing>> ApplyRetention(const LoadedProvider& provider,
                                                  const RetentionPolicy& policy,
                                                  std::chrono::system_clock::time_point now) {
  if (!policy.dry_run && !HasRetentionTiers(policy))
    return ExpireProviderBackups(provider, policy, now);
  HOSTSTUB_ASSIGN_OR_RETURN(const std::vector<BackupListing> backups,
                            ListProviderBackups(provider));
  HOSTSTUB_ASSIGN_OR_RETURN(const RetentionDecision decision,
                            DecideRetention(backups, policy, now));
  if (policy.dry_run || decision.remove.empty()) return decision.remove;
  // Newest first: a removed backup's children are removed too (a kept one
  // keeps its whole chain), so going from the newest never meets the
  // engine's refusal to delete a parent.
  std::vector<BackupListing> removed;
  for (auto it = decision.remove.rbegin(); it != decision.remove.rend(); ++it) {
    const Status deleted = DeleteProviderBackup(provider, it->id);
    // What was removed before stays removed; the error names the backup.
    if (!deleted.ok()) return deleted;
    removed.insert(removed.begin(), *it);
  }
  // The provider's own expire, told to keep everything from the oldest
  // backup kept on (which is every backup left), drops the archived
  // segments older than that backup, as its expire would have.
  if ((provider.table().capabilities & BKP_CAP_EXPIRE) != 0 && !decision.keep.empty()) {
    int64_t oldest_ms = decision.keep.front().created_ms;
    for (const BackupListing& b : decision.keep) oldest_ms = std::min(oldest_ms, b.created_ms);
    RetentionPolicy archive_only;
    archive_only.keep_newer_than = std::chrono::milliseconds(1);
    const std::chrono::system_clock::time_point as_of{std::chrono::milliseconds(oldest_ms + 1)};
    HOSTSTUB_ASSIGN_OR_RETURN(const std::vector<BackupListing> more,
                              ExpireProviderBackups(provider, archive_only, as_of));
    if (!more.empty()) {
      return Status::Corruption(fmt::format(
          "retention via provider '{}': the provider's expire removed {} backup(s) it was told to "
          "keep (first '{}')",
          provider.name(), more.size(), more.front().id));
    }
  }
  return removed;
}

}  // namespace hoststub
