// The host's rules for one restored item (see restore_rules.h).
#include "plugin_host/restore_rules.h"

#include <optional>

#include <fmt/format.h>

#include "plugin_host/abi_role.h"
#include "plugin_host/abi_status.h"
#include "storage/event_store.h"
#include "storage/segment.h"

namespace hoststub {
Result<std::filesystem::path> RestoredPath(const bkp_item& item) {
  const char* name = item.name ? item.name : "(unnamed)";
  const std::optional<StreamRole> role = FromBkpRole(item.role);
  if (!role && item.role != BKP_ROLE_CONTROL_DB) {
    return Status::InvalidArgument(fmt::format("item '{}' has unknown role {}", name, item.role));
  }
  if (item.role == BKP_ROLE_CONTROL_DB) {
    if (item.context != nullptr) {
      return Status::InvalidArgument("the control DB item must not name a context");
    }
    return std::filesystem::path("control.db");
  }
  if (item.context == nullptr || item.name == nullptr) {
    return Status::InvalidArgument(
        fmt::format("{} item without a context or name", BkpRoleName(item.role)));
  }
  if (Status st = ValidateContextName(item.context); !st.ok()) return st;
  // The name must be the canonical segment name for its base: this also
  // keeps a hostile or buggy plugin from writing outside the data directory.
  const std::string expected = SegmentFileName(*role, item.base);
  if (item.name != expected) {
    return Status::InvalidArgument(
        fmt::format("{} item '{}' of context '{}' should be named '{}' for base {}",
                    BkpRoleName(item.role), item.name, item.context, expected, item.base));
  }
  return std::filesystem::path("contexts") / item.context / StreamRoleName(*role) / expected;
}

}  // namespace hoststub
