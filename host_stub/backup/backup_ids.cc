// Resolving `latest` and id prefixes (see backup_ids.h).
#include "backup/backup_ids.h"

#include <fmt/format.h>

namespace hoststub {

Result<std::string> ResolveBackupId(const std::vector<BackupListing>& backups,
                                    std::string_view spec, std::string_view provider) {
  if (spec.empty()) {
    return Status::InvalidArgument("an empty backup id: give an id, a unique prefix or 'latest'");
  }
  if (spec == "latest") {
    if (backups.empty()) {
      return Status::NotFound(
          fmt::format("'latest': provider '{}' holds no complete backup", provider));
    }
    // Newest by creation time; the listing's order breaks ties.
    const BackupListing* newest = &backups.front();
    for (const BackupListing& b : backups) {
      if (b.created_ms >= newest->created_ms) newest = &b;
    }
    return newest->id;
  }
  std::vector<const BackupListing*> matches;
  for (const BackupListing& b : backups) {
    if (b.id == spec) return b.id;
    if (b.id.compare(0, spec.size(), spec) == 0) matches.push_back(&b);
  }
  if (matches.size() == 1) return matches.front()->id;
  if (matches.empty()) {
    return Status::NotFound(
        fmt::format("no backup '{}' in provider '{}' (no id starts with it; hostctl backup list "
                    "shows them)",
                    spec, provider));
  }
  std::string candidates;
  for (const BackupListing* b : matches) {
    candidates += fmt::format("{}{}", candidates.empty() ? "" : ", ", b->id);
  }
  return Status::InvalidArgument(fmt::format(
      "backup id prefix '{}' is ambiguous in provider '{}': it matches {} backups ({}); "
      "give more of the id",
      spec, provider, matches.size(), candidates));
}

Result<std::string> ResolveProviderBackupId(const LoadedProvider& provider, std::string_view spec) {
  if ((provider.table().capabilities & BKP_CAP_LIST) == 0) return std::string(spec);
  HOSTSTUB_ASSIGN_OR_RETURN(const std::vector<BackupListing> backups,
                            ListProviderBackups(provider));
  Result<std::string> id = ResolveBackupId(backups, spec, provider.name());
  // No id matches: the provider's own answer (its code, its words) says so.
  if (!id.ok() && id.status().code() == Status::Code::kNotFound && spec != "latest") {
    return std::string(spec);
  }
  return id;
}

}  // namespace hoststub
