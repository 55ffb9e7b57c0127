// Verify: resolves each backup's chain (chain.h) and decodes every object
// it needs through the LZ4 decoder, checking the frame, size and XXH3-64
// against the manifest, reporting each bad file and why. A verify of every
// backup covers the continuous archive's records and objects too.
//
// It writes one thing: an object whose frame is damaged (or whose content
// no longer matches its name) is set aside (quarantine.h), so that no new
// backup builds on it; one that is intact while a record of it disagrees
// stays, as other backups may need it. Moving objects needs the repository
// to itself: the caller holds a shared lock for the reading, and the job
// takes the exclusive one (and the publish lock) for the set-aside alone.
// When that is refused (a backup runs elsewhere), nothing moves: each
// damaged object gets a pending quarantine record (an addition, safe under
// the shared lock: writers then never reuse it, quarantine.h) and is
// reported as not set aside yet, plus one BKP_E_BUSY problem on
// "quarantine/" naming the holder; the next verify sets them aside. A
// pending record whose object verifies intact (a backup stored it anew) is
// dropped.
//
// Errors: problems are reported, not thrown; bkp::Error only for an unknown
// backup id (BKP_E_NOT_FOUND), a cancel, or the repository failing as a whole.
// Thread-safety: one job per repository at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/manifest.h"
#include "repo/repository.h"

namespace repo {

struct VerifyProblem {
  bkp_status status = BKP_E_CORRUPT;
  std::string backup_id;  // empty for the archive's
  std::string file;       // "<context>/<role>/<name>", "manifest", or an archive record's key
  std::string message;
};

// The host's reason to refuse a file in a restore (the items' names are
// its rules: bkp_host_services.restore_item_check), or nullopt.
using RestoreItemCheck = std::function<std::optional<std::string>(const FileEntry&)>;

// Verifies one backup, or every backup when `backup_id` is empty: each
// backup's chain must resolve, and every object it needs must decode to the
// recorded size and checksum (shared objects are decoded once, by `workers`
// threads). What a restore would feed the sink is checked too, before any
// object is read: exactly one control DB, and each file as `admit` (when
// given) says the host takes it. Calls `report` per problem, on the calling
// thread; returns how many. `op` may be null (offline use without progress).
uint64_t RunVerifyJob(Repository& repository, const std::string& backup_id,
                      const bkp::Operation* op, uint32_t workers,
                      const std::function<void(const VerifyProblem&)>& report,
                      const RestoreItemCheck& admit = {});

}  // namespace repo
