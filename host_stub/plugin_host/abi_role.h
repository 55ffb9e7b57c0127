// The mapping between the host's StreamRole and the plugin ABI's BKP_ROLE_*
// values (bkp_plugin.h): the one place the two are put side by side.
// BKP_ROLE_CONTROL_DB names the control DB, not a stream, so it has no
// StreamRole.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>

#include "bkp/bkp_plugin.h"
#include "storage/stream_role.h"

namespace hoststub {

constexpr uint32_t ToBkpRole(StreamRole role) {
  switch (role) {
    case StreamRole::kLog:
      return BKP_ROLE_LOG;
    case StreamRole::kEvents:
      return BKP_ROLE_EVENTS;
    case StreamRole::kSnapshots:
      return BKP_ROLE_SNAPSHOTS;
  }
  return 0;  // not a BKP_ROLE_*: only a cast makes a role outside the enum
}

// The stream a BKP_ROLE_* value names; nullopt for BKP_ROLE_CONTROL_DB and for
// any value the ABI does not define (a plugin's bad item).
constexpr std::optional<StreamRole> FromBkpRole(uint32_t role) {
  switch (role) {
    case BKP_ROLE_LOG:
      return StreamRole::kLog;
    case BKP_ROLE_EVENTS:
      return StreamRole::kEvents;
    case BKP_ROLE_SNAPSHOTS:
      return StreamRole::kSnapshots;
  }
  return std::nullopt;
}

}  // namespace hoststub
