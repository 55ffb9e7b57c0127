// StreamRole: which of a context's three append-only streams a segment, an
// append or a read is about (the log, the events, the snapshots). The one
// host name for it, with the one mapping to its name in the formats: the
// directory and file extension of the segment files (docs/storage-format.md),
// and the "stream" of the admin API and hostctl. The mapping to the plugin
// ABI's BKP_ROLE_* is plugin_host/abi_role.h, where the ABI is spoken.
//
// Thread-safety: pure functions.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace hoststub {

// The values are the `kind` field of a segment file's header: on disk, so
// never renumbered.
enum class StreamRole : uint32_t { kLog = 1, kEvents = 2, kSnapshots = 3 };

// Every role, in the order a context's streams are listed (log first).
inline constexpr std::array<StreamRole, 3> kStreamRoles = {StreamRole::kLog, StreamRole::kEvents,
                                                           StreamRole::kSnapshots};

// "log", "events" or "snapshots"; "unknown" for a value outside the enum
// (only a cast can make one).
constexpr std::string_view StreamRoleName(StreamRole role) {
  switch (role) {
    case StreamRole::kLog:
      return "log";
    case StreamRole::kEvents:
      return "events";
    case StreamRole::kSnapshots:
      return "snapshots";
  }
  return "unknown";
}

// The role StreamRoleName gives `name`; nullopt for any other text (case
// matters: these are file extensions).
constexpr std::optional<StreamRole> ParseStreamRole(std::string_view name) {
  for (StreamRole role : kStreamRoles) {
    if (StreamRoleName(role) == name) return role;
  }
  return std::nullopt;
}

// The position of `role` in kStreamRoles (0, 1, 2), for per-role arrays.
constexpr size_t StreamRoleIndex(StreamRole role) { return static_cast<size_t>(role) - 1; }

// Whether `role` is one of the two streams events are appended to.
constexpr bool IsEventStream(StreamRole role) {
  return role == StreamRole::kEvents || role == StreamRole::kSnapshots;
}

}  // namespace hoststub
