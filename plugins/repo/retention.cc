// Deleting backups and collecting garbage (see retention.h).
#include "repo/retention.h"

#include <chrono>
#include <map>
#include <set>

#include "bkp/bkp_plugin.hpp"
#include "repo/archive.h"
#include "repo/utc_time.h"

namespace repo {
namespace {

// A write untouched this long has no writer left: a running backup appends
// to its temporary object every few milliseconds.
constexpr std::chrono::seconds kAbandonedAfter{3600};

// Every manifest, or BKP_E_CORRUPT naming the first unreadable one:
// deleting objects an unreadable manifest may reference would turn one
// damaged file into a lost backup.
std::vector<Manifest> LoadAllOrRefuse(Repository& repository, const char* what) {
  std::vector<BrokenManifest> broken;
  auto manifests = repository.LoadAll(&broken);
  if (!broken.empty()) {
    throw bkp::Error(BKP_E_CORRUPT, std::string(what) + " skipped: the manifest of backup '" +
                                        broken.front().id + "' cannot be read (" +
                                        broken.front().error + ")");
  }
  return manifests;
}

}  // namespace

uint64_t CollectGarbage(Repository& repository) {
  const auto manifests = LoadAllOrRefuse(repository, "garbage collection");
  StorageDriver& driver = repository.driver();
  auto publishing = repository.ExclusivePublishLock();
  std::set<std::string> referenced;
  for (const auto& o : ArchiveObjects(driver)) referenced.insert(o);
  for (const auto& m : manifests) {
    for (const auto& f : m.files) {
      for (const auto& c : f.chunks) referenced.insert(c.object);
    }
  }
  // Young objects stay whatever the locks say: one may belong to a writer
  // that is not (or no longer) holding a lock.
  const int64_t young_after = NowMs() - repository.options().gc_grace.count();
  std::vector<std::string> garbage;
  for (const auto& object : driver.List("objects/")) {
    if (referenced.count(object.key) > 0) continue;
    if (object.modified_ms == 0 || object.modified_ms > young_after) continue;
    garbage.push_back(object.key);
  }
  driver.Remove(garbage);
  return garbage.size() + driver.RemoveAbandonedWrites(kAbandonedAfter);
}

void RemoveBackup(Repository& repository, const std::string& id) {
  repository.Load(id);  // NOT_FOUND, or CORRUPT, before anything is deleted
  std::vector<std::string> children;
  for (const auto& m : repository.LoadAll(nullptr)) {
    if (m.parent == id) children.push_back(m.id);
  }
  if (!children.empty()) {
    std::string list;
    for (const auto& c : children) list += (list.empty() ? "'" : ", '") + c + "'";
    throw bkp::Error(BKP_E_REFUSED_BY_POLICY,
                     "backup '" + id + "' is the parent of incremental backup(s) " + list +
                         ", which need it to restore: delete those first, or let retention "
                         "remove whole chains");
  }
  repository.driver().Remove({ManifestKey(id)});
  CollectGarbage(repository);
}

std::vector<Manifest> ExpireBackups(Repository& repository, uint32_t keep_last,
                                    int64_t keep_newer_ms) {
  if (keep_last == 0 && keep_newer_ms == 0) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "retention needs keep_last or keep_newer_than; with neither it would "
                     "remove every backup but the newest");
  }
  const auto manifests = LoadAllOrRefuse(repository, "retention");
  // What the rules keep, then every ancestor of that: a kept incremental
  // is only restorable with its whole chain.
  const size_t n = manifests.size();
  std::map<std::string, const Manifest*> by_id;
  for (const auto& m : manifests) by_id[m.id] = &m;
  std::set<std::string> keep;
  for (size_t i = 0; i < n; ++i) {
    const bool newest = i + 1 == n;
    const bool in_last = keep_last > 0 && i + keep_last >= n;
    const bool recent = keep_newer_ms > 0 && manifests[i].created_ms >= keep_newer_ms;
    if (!newest && !in_last && !recent) continue;
    for (const Manifest* m = &manifests[i]; m != nullptr && keep.insert(m->id).second;) {
      auto parent = m->parent ? by_id.find(*m->parent) : by_id.end();
      m = parent == by_id.end() ? nullptr : parent->second;
    }
  }
  std::vector<Manifest> removed;
  for (const auto& m : manifests) {
    if (keep.count(m.id) == 0) removed.push_back(m);
  }
  std::vector<std::string> keys;
  for (const auto& m : removed) keys.push_back(ManifestKey(m.id));
  repository.driver().Remove(keys);
  for (const auto& m : manifests) {
    if (keep.count(m.id) > 0) {  // the oldest kept: nothing archived before it is needed
      Archive(repository).ExpireBefore(m.created_ms);
      break;
    }
  }
  CollectGarbage(repository);
  return removed;
}

}  // namespace repo
