// Manifests, references, garbage collection and retention.
#include "repository.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "archive.h"
#include "bkp/bkp_plugin.hpp"

namespace repo {
namespace {

constexpr const char* kFormatKey = "format.json";
constexpr const char* kRepositoryFormat = "eventstore-backup-repository";
// A write untouched this long has no writer left: a running backup appends
// to its temporary object every few milliseconds.
constexpr std::chrono::seconds kAbandonedAfter{3600};

}  // namespace

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string NewBackupId(int64_t now_ms) {
  std::time_t seconds = static_cast<std::time_t>(now_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
  static thread_local std::mt19937 rng{std::random_device{}()};
  char id[64];
  std::snprintf(id, sizeof id, "%s%03dZ-%04x", stamp, static_cast<int>(now_ms % 1000),
                static_cast<unsigned>(rng() & 0xffff));
  return id;
}

RepositoryOptions RepositoryOptions::FromEnvironment() {
  RepositoryOptions options;
  options.locks = LockTimings::FromEnvironment();
  if (const char* value = std::getenv("BKP_TEST_GC_GRACE_MS"); value != nullptr && *value != 0) {
    char* end = nullptr;
    const long long ms = std::strtoll(value, &end, 10);
    if (*end == '\0' && ms >= 0) options.gc_grace = std::chrono::milliseconds(ms);
  }
  return options;
}

std::unique_ptr<RepositoryLock> Repository::Lock(RepositoryLock::Mode mode,
                                                 const std::string& operation) {
  return std::make_unique<RepositoryLock>(*driver_, mode, operation, lock_owner_, options_.locks,
                                          options_.unlock_hint);
}

Repository::Repository(std::shared_ptr<StorageDriver> driver, RepositoryOptions options)
    : driver_(std::move(driver)),
      options_(std::move(options)),
      lock_owner_(NewBackupId(NowMs()) + "-" + std::to_string(std::random_device{}())) {
  if (auto size = driver_->Stat(kFormatKey)) {
    nlohmann::json doc;
    try {
      doc = nlohmann::json::parse(driver_->GetSmall(kFormatKey));
    } catch (const nlohmann::json::exception& e) {
      throw bkp::Error(BKP_E_CORRUPT,
                       Describe() + ": format.json is not valid JSON (" + e.what() + ")");
    }
    if (doc.value("format", "") != kRepositoryFormat) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                       Describe() + ": format.json does not describe a backup repository");
    }
    const int version = doc.value("version", 0);
    if (version > kRepositoryFormatVersion) {
      throw bkp::Error(BKP_E_UNSUPPORTED, Describe() + ": repository format " +
                                              std::to_string(version) +
                                              " is newer than this provider reads (" +
                                              std::to_string(kRepositoryFormatVersion) + ")");
    }
    CheckEncryption(doc);
    return;
  }
  // Never scatter files into a directory that holds something else.
  if (!driver_->List("").empty()) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     Describe() + " is not empty and is not a backup repository (no " + kFormatKey +
                         "): choose an empty or new location");
  }
  nlohmann::json doc = {{"format", kRepositoryFormat},
                        {"version", kRepositoryFormatCreated},
                        {"created_ms", NowMs()}};
  if (!options_.encryption.empty()) {
    doc["encryption"] = options_.encryption;
    doc["encryption_key_check"] = options_.encryption_key_check;
  }
  driver_->PutSmall(kFormatKey, doc.dump(2) + "\n");
}

void Repository::CheckEncryption(const nlohmann::json& format) const {
  const std::string recorded = format.value("encryption", "");
  if (recorded.empty() && !options_.encryption.empty()) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     Describe() +
                         " is an unencrypted repository, but encryption_identity is set: "
                         "encryption is chosen when a repository is created; remove the setting, "
                         "or point the provider at a new, empty location (docs/operations.md)");
  }
  if (!recorded.empty() && options_.encryption.empty()) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     Describe() + " is encrypted (" + recorded +
                         "): set encryption_identity to the path of its age identity file");
  }
  if (recorded != options_.encryption) {
    throw bkp::Error(BKP_E_UNSUPPORTED, Describe() + " is encrypted with '" + recorded +
                                            "', which this provider does not read");
  }
  if (format.value("encryption_key_check", "") != options_.encryption_key_check) {
    throw bkp::Error(BKP_E_AUTH,
                     Describe() +
                         ": the identity in encryption_identity is not this repository's (its "
                         "key check in format.json differs): use the identity it was created with");
  }
}

void Repository::RequireFormatVersion(int version) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(driver_->GetSmall(kFormatKey));
  } catch (const nlohmann::json::exception& e) {
    throw bkp::Error(BKP_E_CORRUPT,
                     Describe() + ": format.json is not valid JSON (" + e.what() + ")");
  }
  if (doc.value("version", 0) >= version) return;
  doc["version"] = version;
  driver_->PutSmall(kFormatKey, doc.dump(2) + "\n");
}

std::vector<std::string> Repository::ListIds() {
  std::vector<std::string> ids;
  for (const auto& object : driver_->List("backups/")) {
    if (auto id = IdFromManifestKey(object.key)) ids.push_back(*id);
  }
  return ids;  // keys are listed in order, and ids sort by time
}

Manifest Repository::Load(const std::string& id) {
  const std::string key = ManifestKey(id);
  if (id.empty() || id.find('/') != std::string::npos || !driver_->Stat(key)) {
    throw bkp::Error(BKP_E_NOT_FOUND, "no backup '" + id + "' in " + Describe());
  }
  const std::string what = "manifest " + key;
  Manifest m = DecodeManifest(driver_->GetSmall(key, kMaxDocumentBytes), what);
  // The file names the backup: a manifest copied or renamed would otherwise
  // list (and be deleted) under another backup's id.
  if (m.id != id) {
    throw bkp::Error(BKP_E_CORRUPT, what + " names itself backup '" + m.id + "', not '" + id + "'");
  }
  return m;
}

std::vector<Manifest> Repository::LoadAll(std::vector<BrokenManifest>* broken) {
  std::vector<Manifest> out;
  for (const auto& id : ListIds()) {
    try {
      out.push_back(Load(id));
    } catch (const bkp::Error& e) {
      if (broken == nullptr) throw;
      broken->push_back({id, e.what()});
    }
  }
  return out;
}

void Repository::Publish(const Manifest& manifest) {
  driver_->PutSmall(ManifestKey(manifest.id), EncodeManifest(manifest));
}

uint64_t Repository::CollectGarbage() {
  std::vector<BrokenManifest> broken;
  const auto manifests = LoadAll(&broken);
  if (!broken.empty()) {
    // Deleting objects an unreadable manifest may reference would turn one
    // damaged file into a lost backup.
    throw bkp::Error(BKP_E_CORRUPT, "garbage collection skipped: the manifest of backup '" +
                                        broken.front().id + "' cannot be read (" +
                                        broken.front().error + ")");
  }
  std::unique_lock publishing(publish_mu_);
  std::set<std::string> referenced;
  for (const auto& o : ArchiveObjects(*driver_)) referenced.insert(o);
  for (const auto& m : manifests) {
    for (const auto& f : m.files) {
      for (const auto& c : f.chunks) referenced.insert(c.object);
    }
  }
  // Young objects stay whatever the locks say: one may belong to a writer
  // that is not (or no longer) holding a lock.
  const int64_t young_after = NowMs() - options_.gc_grace.count();
  std::vector<std::string> garbage;
  for (const auto& object : driver_->List("objects/")) {
    if (referenced.count(object.key) > 0) continue;
    if (object.modified_ms == 0 || object.modified_ms > young_after) continue;
    garbage.push_back(object.key);
  }
  driver_->Remove(garbage);
  return garbage.size() + driver_->RemoveAbandonedWrites(kAbandonedAfter);
}

void Repository::Remove(const std::string& id) {
  Load(id);  // NOT_FOUND, or CORRUPT, before anything is deleted
  std::vector<std::string> children;
  for (const auto& m : LoadAll(nullptr)) {
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
  driver_->Remove({ManifestKey(id)});
  CollectGarbage();
}

std::vector<Manifest> Repository::Expire(uint32_t keep_last, int64_t keep_newer_ms) {
  if (keep_last == 0 && keep_newer_ms == 0) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "retention needs keep_last or keep_newer_than; with neither it would "
                     "remove every backup but the newest");
  }
  std::vector<BrokenManifest> broken;
  auto manifests = LoadAll(&broken);
  if (!broken.empty()) {
    throw bkp::Error(BKP_E_CORRUPT, "retention skipped: the manifest of backup '" +
                                        broken.front().id + "' cannot be read (" +
                                        broken.front().error + ")");
  }
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
  driver_->Remove(keys);
  for (const auto& m : manifests) {
    if (keep.count(m.id) > 0) {  // the oldest kept: nothing archived before it is needed
      Archive(*this).ExpireBefore(m.created_ms);
      break;
    }
  }
  CollectGarbage();
  return removed;
}

std::vector<uint64_t> Repository::ExclusiveBytes(const std::vector<Manifest>& manifests) {
  std::map<std::string, int> owners;
  for (const auto& m : manifests) {
    std::set<std::string> mine;
    for (const auto& f : m.files) {
      for (const auto& c : f.chunks) mine.insert(c.object);
    }
    for (const auto& o : mine) ++owners[o];
  }
  std::vector<uint64_t> out;
  for (const auto& m : manifests) {
    std::map<std::string, uint64_t> mine;
    for (const auto& f : m.files) {
      for (const auto& c : f.chunks) mine[c.object] = c.stored_size;
    }
    uint64_t total = 0;
    for (const auto& [object, size] : mine) {
      if (owners[object] == 1) total += size;
    }
    out.push_back(total);
  }
  return out;
}

}  // namespace repo
