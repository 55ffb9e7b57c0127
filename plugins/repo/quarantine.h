// Quarantine: stored objects verify found damaged, set aside so that no new
// backup or archive piece references them, their bytes kept for forensics:
//
//   quarantine/<object key>        the damaged bytes, as they were found
//   quarantine/<object key>.json   when it was set aside, and why (also
//                                  written alone for an object found missing,
//                                  or, "pending": true, for a damaged object
//                                  verify could not move yet)
//
// An object set aside is gone from objects/: a writer that needs those
// bytes again finds it missing and stores them anew from the live host,
// under the same key when the bytes are the same (keys are content hashes),
// which heals every older backup that references it too.
//
// A pending record stands for the set-aside when verify could not take the
// repository to itself (another operation held it): the damaged object stays
// in objects/, but writers treat it as set aside all the same: they never
// reuse it, and where the host has its bytes they store them over it (the
// same key, so every backup naming it heals) and drop the record. Writing
// the record is additive, so it is safe under a shared lock. Garbage
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

#include "repo/storage_driver.h"

namespace repo {

inline constexpr const char* kQuarantinePrefix = "quarantine/";

struct QuarantineRecord {
  std::string object;  // the key it had under objects/
  int64_t quarantined_ms = 0;
  std::string reason;      // what verify found
  bool set_aside = false;  // its damaged bytes are kept (else it was found missing)
  bool pending = false;    // damaged, still in objects/: verify could not move it yet
};

// Whether `key` is an object's key, objects/<xx>/<32 hex digits>.lz4 or
// .zst: only such keys are ever set aside (a manifest may name anything).
bool IsObjectKey(const std::string& key);

// Why the stored object `object` is itself damaged: its frame (LZ4 or zstd,
// as its key says) does not
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

// Records that `object`, damaged and left in place, must not be reused
// (see above). Replaces an older record of it (one of an earlier set-aside
// whose object was stored anew since, and is damaged again).
void RecordPending(StorageDriver& driver, const std::string& object, const std::string& reason);

// Drops the pending record of `object`, once a writer stored its bytes anew
// over it (or verify found it intact): a record that is not pending stays.
void ClearPending(StorageDriver& driver, const std::string& object);

// The record of `object`, if it was ever set aside (and the record reads).
std::optional<QuarantineRecord> FindQuarantined(StorageDriver& driver, const std::string& object);

// The object keys ever set aside or recorded missing: one listing, for
// writers that check many chunks.
std::set<std::string> QuarantinedObjects(StorageDriver& driver);

// Of `quarantined` (QuarantinedObjects), those with a pending record: one
// read per record whose object is still there, for writers about to decide
// what to reuse. A record that does not read counts as not pending, as
// FindQuarantined reads it.
std::set<std::string> PendingObjects(StorageDriver& driver,
                                     const std::set<std::string>& quarantined);

}  // namespace repo
