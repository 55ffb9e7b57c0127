// Quarantine: stored objects verify found damaged, set aside so that no new
// backup or archive piece references them, their bytes kept for forensics:
//
//   quarantine/<object key>        the damaged bytes, as they were found
//   quarantine/<object key>.json   when it was set aside, and why (also
//                                  written alone for an object found missing)
//
// An object set aside is gone from objects/: a writer that needs those
// bytes again finds it missing and stores them anew from the live host,
// under the same key when the bytes are the same (keys are content hashes),
// which heals every older backup that references it too. Garbage
// collection never touches quarantine/; an operator removes it by hand.
//
// Errors: throws bkp::Error (the driver's).
// Thread-safety: as the driver's; setting one object aside twice at once
// is harmless (the same bytes, the same record).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "storage_driver.h"

namespace repo {

inline constexpr const char* kQuarantinePrefix = "quarantine/";

struct QuarantineRecord {
  std::string object;  // the key it had under objects/
  int64_t quarantined_ms = 0;
  std::string reason;      // what verify found
  bool set_aside = false;  // its damaged bytes are kept (else it was found missing)
};

// Whether `key` is an object's key, objects/<xx>/<32 hex digits>.lz4: only
// such keys are ever set aside (a manifest may name anything).
bool IsObjectKey(const std::string& key);

// Why the stored object `object` is itself damaged: its LZ4 frame does not
// decode cleanly, or its content's XXH128 is not its name. nullopt when it
// is intact (a manifest that records another size or checksum for it is
// then what is wrong, and the object must stay). Decodes it whole.
std::optional<std::string> ObjectDamage(StorageDriver& driver, const std::string& object);

// Copies `object` to quarantine/<object> with a record of `reason`, then
// removes it from objects/. Returns the key it was moved to; nullopt when
// the object is not there (nothing to set aside).
std::optional<std::string> SetAside(StorageDriver& driver, const std::string& object,
                                    const std::string& reason);

// Records that the referenced `object` is missing (a record, no bytes), so
// that the next backup tries to store it again (repair_job.h). Keeps an
// earlier record.
void RecordMissing(StorageDriver& driver, const std::string& object, const std::string& reason);

// The record of `object`, if it was ever set aside (and the record reads).
std::optional<QuarantineRecord> FindQuarantined(StorageDriver& driver, const std::string& object);

// The object keys ever set aside or recorded missing: one listing, for
// writers that check many chunks.
std::set<std::string> QuarantinedObjects(StorageDriver& driver);

}  // namespace repo
