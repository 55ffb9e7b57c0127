// Timeline history objects (see timeline_history.h).
#include "backup/timeline_history.h"

#include <nlohmann/json.hpp>

namespace hoststub {

std::string EncodeTimelineHistory(uint32_t timeline, uint32_t parent, int64_t created_ms,
                                  const std::string& reason,
                                  const std::vector<ContextState>& branch_points) {
  nlohmann::json contexts = nlohmann::json::array();
  for (const ContextState& c : branch_points) {
    contexts.push_back({{"name", c.name},
                        {"log", c.last_log_index + 1},
                        {"events", c.next_event_token},
                        {"snapshots", c.next_snapshot_token}});
  }
  const nlohmann::json doc = {{"format", "eventstore-timeline-history"},
                              {"format_version", 1},
                              {"timeline", timeline},
                              {"parent", parent},
                              {"created_ms", created_ms},
                              {"reason", reason},
                              {"contexts", contexts}};
  return doc.dump();
}

Result<TimelineInfo> DataDirTimeline(const std::filesystem::path& data_dir) {
  HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(data_dir / "control.db", /*read_only=*/true));
  return db->LoadTimeline();
}

}  // namespace hoststub
