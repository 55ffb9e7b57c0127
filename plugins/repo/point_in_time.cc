// Choosing what a point-in-time restore feeds (see point_in_time.h).
#include "repo/point_in_time.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "bkp/bkp_plugin.hpp"
#include "repo/archive.h"

namespace repo {
namespace {

std::string StreamLabel(const std::string& context, uint32_t role) {
  return "context '" + context + "' " + RoleName(role);
}

const char* UnitOf(uint32_t role) { return role == BKP_ROLE_LOG ? "index" : "token"; }

bool TargetsContext(const RestoreTarget& t, const std::string& context) {
  return t.kind == BKP_TARGET_TIME || t.context.empty() || t.context == context;
}

// Whether everything the backup holds lies at or before the target.
bool WhollyBefore(const Manifest& m, const RestoreTarget& t) {
  if (t.kind == BKP_TARGET_TIME) return m.created_ms <= t.time_ms;
  for (const auto& c : m.contexts) {
    if (TargetsContext(t, c.name) && c.events.next > t.token + 1) return false;
  }
  return true;
}

// What of `m` lies past the target, for messages.
std::string DescribeReach(const Manifest& m, const RestoreTarget& t) {
  if (t.kind == BKP_TARGET_TIME) {
    return "taken at " + std::to_string(m.created_ms) + " ms, after the target's " +
           std::to_string(t.time_ms) + " ms";
  }
  std::string out;
  for (const auto& c : m.contexts) {
    if (!TargetsContext(t, c.name) || c.events.next <= t.token + 1) continue;
    out += (out.empty() ? "" : ", ") + ("context '" + c.name + "' to token ") +
           std::to_string(c.events.next - 1);
  }
  return "it holds " + out;
}

std::string LineageLabel(const std::vector<TimelineHistory>& lineage) {
  std::string out;
  for (auto it = lineage.rbegin(); it != lineage.rend(); ++it) {
    out += (out.empty() ? "" : " <- ") + std::to_string(it->timeline);
  }
  return "timeline " + out;
}

BackupState PickBackup(Repository& repository, const RestoreTarget& target,
                       const std::vector<TimelineHistory>& lineage) {
  std::vector<BrokenManifest> broken;
  const auto manifests = repository.LoadAll(&broken);
  if (manifests.empty()) {
    throw bkp::Error(BKP_E_MISSING_FULL_BACKUP,
                     "no backup in " + repository.Describe() +
                         " to restore from: archived segments alone cannot be restored, they "
                         "extend a backup");
  }
  // Newest first among those wholly before the target, then oldest first
  // among the rest; a backup whose chain is broken is passed over.
  // Only backups of the timeline's history: one of another history
  // holds data the timeline never had.
  std::vector<const Manifest*> order;
  for (auto it = manifests.rbegin(); it != manifests.rend(); ++it) {
    if (BackupOnLineage(*it, lineage) && WhollyBefore(*it, target)) order.push_back(&*it);
  }
  for (const auto& m : manifests) {
    if (BackupOnLineage(m, lineage) && !WhollyBefore(m, target)) order.push_back(&m);
  }
  if (order.empty()) {
    throw bkp::Error(BKP_E_MISSING_FULL_BACKUP,
                     "no backup in " + repository.Describe() + " belongs to the history of " +
                         LineageLabel(lineage) +
                         ": archived segments alone cannot be restored, they extend a backup");
  }
  std::string last_error;
  for (const Manifest* m : order) {
    try {
      return ResolveState(repository, m->id, /*explain=*/false);
    } catch (const bkp::Error& e) {
      last_error = e.what();
    }
  }
  throw bkp::Error(BKP_E_BROKEN_CHAIN,
                   "no backup in " + repository.Describe() + " can be restored: " + last_error);
}

// Extends one stream of `state` with the archived segments that follow it.
// Stops after the first segment that reaches `stop_token` (one past the
// last token wanted), or before the first whose first event is younger than
// `stop_ms`.
void Extend(BackupState* state, Archive& archive, const std::vector<TimelineHistory>& lineage,
            const std::string& context, uint32_t role, std::optional<uint64_t> stop_token,
            std::optional<int64_t> stop_ms) {
  // The stream's newest file in the state: what the archive continues.
  const FileEntry* last = nullptr;
  for (const auto& [key, file] : state->files) {
    if (key.role == role && key.context == context && (last == nullptr || file.base > last->base)) {
      last = &file;
    }
  }
  // A token target stops after the segment that reaches it; a time target
  // before the first segment begun after it (one shipped after the target
  // may still hold events from before: the archive can lag).
  auto reached = [&](const FileEntry& f) { return stop_token && f.next >= *stop_token; };
  if (last != nullptr && stop_token && last->next >= *stop_token) return;
  for (ArchivedSegment& seg : archive.SegmentsAlong(context, role, lineage)) {
    FileEntry& f = seg.file;
    if (last != nullptr && f.base < last->base) continue;  // the backup holds it
    if (last != nullptr && f.base == last->base && f.size <= last->size) continue;
    if (last != nullptr && f.base > last->base && f.base != last->next) {
      throw bkp::Error(BKP_E_BROKEN_CHAIN,
                       "the archive of " + StreamLabel(context, role) +
                           " has a gap: it holds nothing from " + UnitOf(role) + " " +
                           std::to_string(last->next) + " (after '" + last->name + "') to " +
                           std::to_string(f.base) + " (segment '" + f.name +
                           "'); the newest point that can be restored there is " + UnitOf(role) +
                           " " + std::to_string(last->next == 0 ? 0 : last->next - 1));
    }
    if (stop_ms && seg.first_ms > *stop_ms) break;
    for (auto& c : f.chunks) c.stored_by = kArchiveOrigin;
    const FileKey key = f.key();
    state->files[key] = std::move(f);
    last = &state->files[key];
    if (reached(*last)) break;
  }
}

uint64_t EventsReach(const BackupState& state, const std::string& context) {
  uint64_t reach = 0;
  for (const auto& [key, file] : state.files) {
    if (key.role == BKP_ROLE_EVENTS && key.context == context) reach = std::max(reach, file.next);
  }
  return reach;
}

}  // namespace

BackupState StateForTarget(Repository& repository, const std::optional<std::string>& backup_id,
                           const RestoreTarget& target, uint32_t* timeline) {
  const auto timelines = LoadTimelines(repository.driver());
  if (backup_id && target.kind == BKP_TARGET_NONE && target.timeline == 0) {
    BackupState state = ResolveState(repository, *backup_id);
    *timeline = state.tip.timeline;
    return state;
  }
  *timeline = target.timeline != 0 ? target.timeline : NewestTimeline(timelines);
  const std::vector<TimelineHistory> lineage = Lineage(timelines, *timeline);
  BackupState state =
      backup_id ? ResolveState(repository, *backup_id) : PickBackup(repository, target, lineage);
  if (!BackupOnLineage(state.tip, lineage)) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "backup '" + state.tip.id + "' was taken on timeline " +
                         std::to_string(state.tip.timeline) + " and holds data the history of " +
                         LineageLabel(lineage) +
                         " never had: name a backup of that history, or another timeline");
  }
  if (target.kind == BKP_TARGET_NONE) return state;
  // A backup only rolls forward in time: one named by the operator and
  // taken after a time target would restore a control DB (contexts, users,
  // grants) from after it. (A token target may cut a backup back: it names
  // the events wanted exactly, in a backup that holds them.)
  if (backup_id && target.kind == BKP_TARGET_TIME && !WhollyBefore(state.tip, target)) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "the target lies before backup '" + *backup_id + "' (" +
                         DescribeReach(state.tip, target) +
                         "): a backup is rolled forward through the archive, never back. Name an "
                         "older backup, or leave out the backup so that one before the target is "
                         "picked");
  }

  // Every context the backup or the archive knows: one created after the
  // backup exists only in the archive (the host registers it in the
  // control DB from its segments, as recovery does for any context
  // directory without a row).
  Archive archive(repository);
  std::set<uint32_t> on_lineage;
  for (const TimelineHistory& t : lineage) on_lineage.insert(t.timeline);
  std::set<std::string> contexts;
  for (const auto& c : state.tip.contexts) contexts.insert(c.name);
  for (const auto& [context, role] : archive.Streams(on_lineage)) contexts.insert(context);
  std::map<std::string, uint64_t> reaches;  // token targets: how far each context's events go
  for (const std::string& name : contexts) {
    const bool targeted = TargetsContext(target, name);
    std::optional<uint64_t> stop_token;
    std::optional<int64_t> stop_ms;
    if (targeted && target.kind == BKP_TARGET_TOKEN) stop_token = target.token + 1;
    if (targeted && target.kind == BKP_TARGET_TIME) stop_ms = target.time_ms;
    Extend(&state, archive, lineage, name, BKP_ROLE_EVENTS, stop_token, stop_ms);
    if (stop_token) reaches[name] = EventsReach(state, name);
    // All of the log and snapshots the archive holds: which entries the
    // events kept came from is known only inside the segments, so the host
    // cuts the log where they end. (A segment shipped late, after a backlog,
    // may hold entries older than events shipped before it.)
    for (uint32_t role : {BKP_ROLE_LOG, BKP_ROLE_SNAPSHOTS}) {
      Extend(&state, archive, lineage, name, role, std::nullopt, std::nullopt);
    }
  }
  // A token nothing reaches is a mistake worth stopping for; in a restore
  // of every context, one that ends before it simply keeps all it has.
  if (target.kind == BKP_TARGET_TOKEN) {
    bool any = false;
    std::string reach_list;
    for (const auto& [name, reach] : reaches) {
      any = any || reach > target.token;
      reach_list += (reach_list.empty() ? "" : ", ") + ("'" + name + "' reaches token ") +
                    (reach == 0 ? std::string("none") : std::to_string(reach - 1));
    }
    if (!any) {
      throw bkp::Error(BKP_E_NOT_FOUND, "token " + std::to_string(target.token) +
                                            " is beyond the backup and the archive: " +
                                            (reach_list.empty() ? "no context" : reach_list));
    }
  }
  return state;
}

}  // namespace repo
