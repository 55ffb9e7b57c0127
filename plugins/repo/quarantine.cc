// Setting damaged objects aside (see quarantine.h).
#include "repo/quarantine.h"

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "repo/chunk_store.h"
#include "repo/object_codec.h"
#include "repo/repository.h"
#include "repo/utc_time.h"
#include "repo/xxh3_state.h"
#include "repo/xxhash_dispatch.h"

namespace repo {
namespace {

constexpr const char* kRecordSuffix = ".json";

std::string RecordKey(const std::string& object) {
  return kQuarantinePrefix + object + kRecordSuffix;
}

}  // namespace

bool IsObjectKey(const std::string& key) {
  const std::string prefix = "objects/";
  constexpr size_t kHex = 32;
  if (key.size() != prefix.size() + 3 + kHex + 4 || key.rfind(prefix, 0) != 0) return false;
  const std::string hex = key.substr(prefix.size() + 3, kHex);
  return hex.find_first_not_of("0123456789abcdef") == std::string::npos &&
         key == ObjectKeyOf(hex, CodecOfObject(key));
}

std::optional<std::string> ObjectDamage(StorageDriver& driver, const std::string& object) {
  Xxh3State hash;
  XXH3_state_t* state = hash.get();
  XXH3_128bits_reset(state);
  try {
    auto reader = driver.Open(object);
    DecodeFrame(*reader, CodecOfObject(object), "'" + object + "'",
                [&](const char* data, size_t n) { XXH3_128bits_update(state, data, n); });
  } catch (const bkp::Error& e) {
    if (e.status() != BKP_E_CORRUPT) throw;
    return e.what();
  }
  const std::string named = ObjectKeyOf(driver, XXH3_128bits_digest(state), CodecOfObject(object));
  if (named != object) {
    return "'" + object + "' decodes to bytes that belong under '" + named + "', not its name";
  }
  return std::nullopt;
}

std::optional<std::string> SetAside(StorageDriver& driver, const std::string& object,
                                    const std::string& reason) {
  if (!driver.Stat(object)) return std::nullopt;
  const std::string to = kQuarantinePrefix + object;
  // Copied, not renamed: the driver interface has no rename (S3 has none
  // either), and the bytes must be safe before the object goes.
  {
    auto reader = driver.Open(object);
    auto writer = driver.CreateAt(to);
    std::string buf(1 << 20, '\0');
    for (size_t n; (n = reader->Read(buf.data(), buf.size())) > 0;) writer->Append(buf.data(), n);
    writer->Commit(to);
  }
  const nlohmann::json record = {
      {"object", object}, {"quarantined_ms", NowMs()}, {"reason", reason}};
  driver.PutSmall(RecordKey(object), record.dump(2) + "\n");
  driver.Remove({object});
  return to;
}

void RecordMissing(StorageDriver& driver, const std::string& object, const std::string& reason) {
  if (driver.Stat(RecordKey(object))) return;
  const nlohmann::json record = {
      {"object", object}, {"quarantined_ms", NowMs()}, {"reason", reason}};
  driver.PutSmall(RecordKey(object), record.dump(2) + "\n");
}

void RecordPending(StorageDriver& driver, const std::string& object, const std::string& reason) {
  const nlohmann::json record = {
      {"object", object}, {"quarantined_ms", NowMs()}, {"reason", reason}, {"pending", true}};
  driver.PutSmall(RecordKey(object), record.dump(2) + "\n");
}

void ClearPending(StorageDriver& driver, const std::string& object) {
  auto record = FindQuarantined(driver, object);
  if (record && record->pending) driver.Remove({RecordKey(object)});
}

std::optional<QuarantineRecord> FindQuarantined(StorageDriver& driver, const std::string& object) {
  const std::string key = RecordKey(object);
  if (!driver.Stat(key)) return std::nullopt;
  const bool set_aside = driver.Stat(kQuarantinePrefix + object).has_value();
  try {
    const auto doc = nlohmann::json::parse(driver.GetSmall(key));
    return QuarantineRecord{object, doc.value("quarantined_ms", int64_t{0}),
                            doc.value("reason", std::string()), set_aside,
                            doc.value("pending", false)};
  } catch (const nlohmann::json::exception&) {
    return QuarantineRecord{object, 0, "(its quarantine record " + key + " does not read)",
                            set_aside};
  }
}

std::set<std::string> QuarantinedObjects(StorageDriver& driver) {
  std::set<std::string> out;
  const std::string prefix = kQuarantinePrefix;
  const std::string suffix = kRecordSuffix;
  for (const auto& info : driver.List(prefix)) {
    const std::string& key = info.key;
    if (key.size() > prefix.size() + suffix.size() &&
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.insert(key.substr(prefix.size(), key.size() - prefix.size() - suffix.size()));
    }
  }
  return out;
}

}  // namespace repo

namespace repo {

std::set<std::string> PendingObjects(StorageDriver& driver,
                                     const std::set<std::string>& quarantined) {
  std::set<std::string> out;
  for (const auto& object : quarantined) {
    // Only a record whose object is still there can be pending.
    if (!driver.Stat(object)) continue;
    try {
      const auto doc = nlohmann::json::parse(driver.GetSmall(RecordKey(object)));
      if (doc.value("pending", false)) out.insert(object);
    } catch (const nlohmann::json::exception&) {
      // As FindQuarantined reads it: not pending (an old record, damaged).
    } catch (const bkp::Error& e) {
      if (e.status() != BKP_E_NOT_FOUND) throw;  // dropped meanwhile: healed
    }
  }
  return out;
}

}  // namespace repo
