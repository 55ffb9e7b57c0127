// Files as the repository stores them (see file_entry.h).
#include "repo/file_entry.h"

#include "bkp/bkp_plugin.hpp"

namespace repo {

const char* RoleName(uint32_t role) {
  switch (role) {
    case BKP_ROLE_CONTROL_DB:
      return "control_db";
    case BKP_ROLE_LOG:
      return "log";
    case BKP_ROLE_EVENTS:
      return "events";
    case BKP_ROLE_SNAPSHOTS:
      return "snapshots";
  }
  return "unknown";
}

std::string FileLabel(const FileKey& key) {
  if (key.role == BKP_ROLE_CONTROL_DB) return key.name;
  return key.context + "/" + RoleName(key.role) + "/" + key.name;
}

std::string FileLabel(const FileEntry& f) { return FileLabel(f.key()); }

uint32_t PhaseOfRole(uint32_t role) {
  switch (role) {
    case BKP_ROLE_CONTROL_DB:
      return BKP_PHASE_CONTROL_DB;
    case BKP_ROLE_LOG:
      return BKP_PHASE_LOG;
    case BKP_ROLE_EVENTS:
      return BKP_PHASE_EVENTS;
    default:
      return BKP_PHASE_SNAPSHOTS;
  }
}

uint64_t FileEntry::StoredBytes() const {
  uint64_t total = 0;
  for (const auto& c : chunks) total += c.stored_size;
  return total;
}

}  // namespace repo
