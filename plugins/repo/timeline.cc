// Timelines (see timeline.h).
#include "repo/timeline.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"

namespace repo {
namespace {

using nlohmann::json;

constexpr const char* kHistoryFormat = "eventstore-timeline-history";
constexpr int kHistoryVersion = 1;

std::string HistoryKey(uint32_t timeline) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%08u", timeline);
  return std::string(kTimelinePrefix) + digits + ".json";
}

bool SameHistory(const TimelineHistory& a, const TimelineHistory& b) {
  if (a.timeline != b.timeline || a.parent != b.parent || a.contexts.size() != b.contexts.size()) {
    return false;
  }
  for (const auto& [name, p] : a.contexts) {
    auto other = b.contexts.find(name);
    if (other == b.contexts.end() || other->second.log != p.log ||
        other->second.events != p.events || other->second.snapshots != p.snapshots) {
      return false;
    }
  }
  return true;
}

}  // namespace

uint64_t BranchPoint::Of(uint32_t role) const {
  return role == BKP_ROLE_LOG ? log : role == BKP_ROLE_EVENTS ? events : snapshots;
}

TimelineHistory DecodeTimelineHistory(const std::string& text, const std::string& what) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": not valid JSON (" + e.what() + ")");
  }
  try {
    if (doc.at("format").get<std::string>() != kHistoryFormat) {
      throw bkp::Error(BKP_E_CORRUPT, what + ": not a timeline history");
    }
    if (doc.at("format_version").get<int>() > kHistoryVersion) {
      throw bkp::Error(BKP_E_UNSUPPORTED, what + ": timeline history format " +
                                              std::to_string(doc.at("format_version").get<int>()) +
                                              " is newer than this provider reads: upgrade it");
    }
    TimelineHistory h;
    h.timeline = doc.at("timeline").get<uint32_t>();
    h.parent = doc.at("parent").get<uint32_t>();
    h.created_ms = doc.at("created_ms").get<int64_t>();
    h.reason = doc.value("reason", "");
    for (const auto& c : doc.at("contexts")) {
      h.contexts[c.at("name").get<std::string>()] = {c.at("log").get<uint64_t>(),
                                                     c.at("events").get<uint64_t>(),
                                                     c.at("snapshots").get<uint64_t>()};
    }
    if (h.timeline < 2 || h.parent < 1 || h.parent >= h.timeline) {
      throw bkp::Error(BKP_E_CORRUPT, what + ": timeline " + std::to_string(h.timeline) +
                                          " with parent " + std::to_string(h.parent) +
                                          " (a timeline above 1 branches from a lower one)");
    }
    return h;
  } catch (const json::exception& e) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": malformed timeline history (" + e.what() + ")");
  }
}

std::string EncodeTimelineHistory(const TimelineHistory& h) {
  json contexts = json::array();
  for (const auto& [name, p] : h.contexts) {
    contexts.push_back(
        {{"name", name}, {"log", p.log}, {"events", p.events}, {"snapshots", p.snapshots}});
  }
  const json doc = {{"format", kHistoryFormat},   {"format_version", kHistoryVersion},
                    {"timeline", h.timeline},     {"parent", h.parent},
                    {"created_ms", h.created_ms}, {"reason", h.reason},
                    {"contexts", contexts}};
  return doc.dump(2) + "\n";
}

std::map<uint32_t, TimelineHistory> LoadTimelines(StorageDriver& driver) {
  std::map<uint32_t, TimelineHistory> out;
  out[1] = TimelineHistory{};
  for (const auto& object : driver.List(kTimelinePrefix)) {
    const std::string what = "timeline history '" + object.key + "'";
    TimelineHistory h = DecodeTimelineHistory(driver.GetSmall(object.key), what);
    if (object.key != HistoryKey(h.timeline)) {
      throw bkp::Error(BKP_E_CORRUPT, what + " describes timeline " + std::to_string(h.timeline));
    }
    out[h.timeline] = std::move(h);
  }
  return out;
}

uint32_t NewestTimeline(const std::map<uint32_t, TimelineHistory>& timelines) {
  return timelines.empty() ? 1 : timelines.rbegin()->first;
}

std::vector<TimelineHistory> Lineage(const std::map<uint32_t, TimelineHistory>& timelines,
                                     uint32_t timeline) {
  if (timelines.count(timeline) == 0) {
    std::string known;
    for (const auto& [n, h] : timelines) known += (known.empty() ? "" : ", ") + std::to_string(n);
    throw bkp::Error(BKP_E_NOT_FOUND, "timeline " + std::to_string(timeline) +
                                          " is not in the archive, which knows timeline(s) " +
                                          known);
  }
  std::vector<TimelineHistory> out;
  for (uint32_t t = timeline; t != 0;) {
    auto found = timelines.find(t);
    if (found == timelines.end()) {
      throw bkp::Error(BKP_E_CORRUPT, "timeline " + std::to_string(out.back().timeline) +
                                          " branched from timeline " + std::to_string(t) +
                                          ", whose history object is missing");
    }
    out.push_back(found->second);
    t = found->second.parent;  // strictly lower: no loop
  }
  std::reverse(out.begin(), out.end());
  return out;
}

void PublishTimeline(Repository& repository, const TimelineHistory& history) {
  StorageDriver& driver = repository.driver();
  const std::string key = HistoryKey(history.timeline);
  if (driver.Stat(key)) {
    const TimelineHistory stored =
        DecodeTimelineHistory(driver.GetSmall(key), "timeline history '" + key + "'");
    if (!SameHistory(stored, history)) {
      throw bkp::Error(BKP_E_REFUSED_BY_POLICY,
                       "timeline " + std::to_string(history.timeline) + " of " +
                           repository.Describe() + " is another history (branched from timeline " +
                           std::to_string(stored.parent) + " by '" + stored.reason +
                           "'): two restores chose the same timeline. Restore this "
                           "host again from the archive, which puts it on a timeline of its own");
    }
    return;
  }
  repository.RequireFormatVersion(kRepositoryFormatTimelines);
  driver.PutSmall(key, EncodeTimelineHistory(history));
}

bool BackupOnLineage(const Manifest& m, const std::vector<TimelineHistory>& lineage) {
  for (size_t i = 0; i < lineage.size(); ++i) {
    if (lineage[i].timeline != m.timeline) continue;
    if (i + 1 == lineage.size()) return true;
    const TimelineHistory& child = lineage[i + 1];
    for (const auto& c : m.contexts) {
      auto branch = child.contexts.find(c.name);
      const BranchPoint at = branch == child.contexts.end() ? BranchPoint{} : branch->second;
      const bool empty = c.log.next <= c.log.first && c.events.next <= c.events.first &&
                         c.snapshots.next <= c.snapshots.first;
      if (empty) continue;
      if (c.log.next > at.log || c.events.next > at.events || c.snapshots.next > at.snapshots) {
        return false;
      }
    }
    return true;
  }
  return false;
}

}  // namespace repo
