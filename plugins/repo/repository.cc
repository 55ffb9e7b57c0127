// Opening a repository, and reading and publishing its manifests.
#include "repo/repository.h"

#include <chrono>
#include <cstdlib>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "repo/document_fields.h"
#include "repo/utc_time.h"

namespace repo {
namespace {

constexpr const char* kFormatKey = "format.json";
constexpr const char* kRepositoryFormat = "eventstore-backup-repository";

}  // namespace

std::string NewBackupId(int64_t now_ms) {
  static thread_local std::mt19937 rng{std::random_device{}()};
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x", static_cast<unsigned>(rng() & 0xffff));
  return FormatUtcCompact(now_ms) + suffix;
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
      throw bkp::Error(BKP_E_UNSUPPORTED,
                       Describe() + ": format.json declares repository format version " +
                           std::to_string(version) + ", newer than this provider reads (up to " +
                           std::to_string(kRepositoryFormatVersion) +
                           "): use a newer provider (docs/repository-format.md)");
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
                        {"version", options_.encryption.empty() ? kRepositoryFormatCreated
                                                                : kRepositoryFormatEncrypted},
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
  // Streamed: the document of a backup of many files is never held whole.
  const std::string key = ManifestKey(manifest.id);
  auto writer = driver_->CreateAt(key);
  EncodeManifest(manifest,
                 [&writer](std::string_view piece) { writer->Append(piece.data(), piece.size()); });
  writer->Commit(key);
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
