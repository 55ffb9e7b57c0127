// What a restore target already holds, against the backup meant to replace
// it. The safe policy refuses any non-empty target; when that target is a
// host data directory, the refusal also says whether its state is newer
// than the backup (and by how much, per context), so the operator sees what
// a forced restore would roll back.
//
// Thread-safety: pure functions over files; no state.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace hoststub {

// One clause for a refusal message, e.g. "it holds a host data directory
// newer than backup 'B' (context 'orders' at commit index 6 there, 5 in the
// backup)". `backup_details` is the provider's list details JSON for the
// backup (per-context commit indexes); without it only the target's state
// is described. Empty when `target` holds no readable control DB: nothing
// more can be said than that it is not empty.
std::string DescribeTargetAgainstBackup(const std::filesystem::path& target,
                                        std::string_view backup_id,
                                        std::string_view backup_details);

}  // namespace hoststub
