// A restore target's state against a backup (see target_state.h).
#include "backup/target_state.h"

#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "storage/control_db.h"

namespace hoststub {
namespace {

// Commit index per context from a backup's details; empty if unreadable.
std::map<std::string, uint64_t> BackupCommitIndexes(std::string_view details) {
  std::map<std::string, uint64_t> out;
  const nlohmann::json parsed = nlohmann::json::parse(details, nullptr, false);
  if (parsed.is_discarded() || !parsed.contains("contexts") || !parsed["contexts"].is_array()) {
    return out;
  }
  for (const auto& c : parsed["contexts"]) {
    if (c.contains("name") && c["name"].is_string() && c.contains("commit_index") &&
        c["commit_index"].is_number_unsigned()) {
      out[c["name"].get<std::string>()] = c["commit_index"].get<uint64_t>();
    }
  }
  return out;
}

}  // namespace

std::string DescribeTargetAgainstBackup(const std::filesystem::path& target,
                                        std::string_view backup_id,
                                        std::string_view backup_details) {
  const std::filesystem::path control_db = target / "control.db";
  std::error_code ec;
  if (!std::filesystem::exists(control_db, ec)) return "";
  auto db = ControlDb::Open(control_db, /*read_only=*/true);
  if (!db.ok()) return "";
  auto states = (*db)->LoadReplicationStates();
  if (!states.ok()) return "";

  const auto backup = BackupCommitIndexes(backup_details);
  if (backup.empty()) {
    std::vector<std::string> held;
    for (const auto& [name, state] : *states) {
      held.push_back(fmt::format("context '{}' at commit index {}", name, state.commit_index));
    }
    return fmt::format("it holds a host data directory ({})",
                       held.empty() ? "no contexts" : fmt::format("{}", fmt::join(held, ", ")));
  }
  // Newer: some context has committed more than the backup holds, or
  // exists only in the target.
  std::vector<std::string> ahead;
  for (const auto& [name, state] : *states) {
    auto in_backup = backup.find(name);
    if (in_backup == backup.end()) {
      if (state.commit_index > 0) {
        ahead.push_back(fmt::format("context '{}' at commit index {} there, absent from the backup",
                                    name, state.commit_index));
      }
    } else if (state.commit_index > in_backup->second) {
      ahead.push_back(fmt::format("context '{}' at commit index {} there, {} in the backup", name,
                                  state.commit_index, in_backup->second));
    }
  }
  if (ahead.empty()) {
    return fmt::format("it holds a host data directory no newer than backup '{}'", backup_id);
  }
  return fmt::format(
      "it holds a host data directory newer than backup '{}' ({}): restoring "
      "would roll those writes back",
      backup_id, fmt::join(ahead, "; "));
}

}  // namespace hoststub
