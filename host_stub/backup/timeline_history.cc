// Timeline history objects (see timeline_history.h).
#include "backup/timeline_history.h"

#include <algorithm>
#include <chrono>

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

Result<TimelineInfo> TimelineForContextRestore(EventStore& store, const std::string& context,
                                               uint32_t newest, const std::string& reason) {
  HOSTSTUB_ASSIGN_OR_RETURN(const TimelineInfo current, DataDirTimeline(store.options().data_dir));
  std::vector<ContextState> branch_points;
  for (const std::string& name : store.Contexts()) {
    if (name == context) continue;
    HOSTSTUB_ASSIGN_OR_RETURN(auto state, store.State(name));
    branch_points.push_back(std::move(state));
  }
  TimelineInfo next;
  next.timeline = std::max(newest, current.timeline) + 1;
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  next.history =
      EncodeTimelineHistory(next.timeline, current.timeline, now.count(), reason, branch_points);
  return next;
}

Result<TimelineInfo> DataDirTimeline(const std::filesystem::path& data_dir) {
  HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(data_dir / "control.db", /*read_only=*/true));
  return db->LoadTimeline();
}

}  // namespace hoststub
