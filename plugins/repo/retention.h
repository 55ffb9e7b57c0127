// Retention: deleting backups, and the garbage collection that follows,
// above both the repository (manifests) and the archive (archive records):
// what an object is still referenced by is the union of the two, and
// expiring backups also expires the archived segments only they needed.
// Neither repository.h nor archive.h includes this, so the engine's include
// graph stays free of cycles.
//
// Every function here deletes: the caller holds an exclusive RepositoryLock
// (Repository::Lock) across processes, and within the process each takes
// the repository's ExclusivePublishLock while it decides what is garbage.
//
// Errors: throws bkp::Error. Garbage collection never deletes anything while
// a manifest or an archive record cannot be read (BKP_E_CORRUPT): an object
// it might reference stays; nor an object younger than the repository's
// gc_grace, whatever the locks say.
// Thread-safety: as Repository.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "repo/manifest.h"
#include "repo/repository.h"

namespace repo {

// Removes one backup and every object no other backup references.
// Refuses (BKP_E_REFUSED_BY_POLICY, naming them) while incrementals name
// it as their parent; BKP_E_NOT_FOUND (or BKP_E_CORRUPT) before deleting
// anything when its manifest is absent (or unreadable).
void RemoveBackup(Repository& repository, const std::string& id);

// Removes each backup that is neither among the newest `keep_last` (0: no
// such rule) nor created at or after `keep_newer_ms` (0: no such rule);
// the newest backup is always kept, and so is every ancestor of a kept
// incremental: a chain is never broken. Archived segments shipped before
// the oldest backup kept go with it. Returns the removed manifests.
// BKP_E_INVALID_ARGUMENT with neither rule.
std::vector<Manifest> ExpireBackups(Repository& repository, uint32_t keep_last,
                                    int64_t keep_newer_ms);

// Deletes objects no manifest or archive record references that are
// older than the repository's options().gc_grace, and writes abandoned an
// hour ago or more (a killed backup's temporary files); returns how many.
uint64_t CollectGarbage(Repository& repository);

}  // namespace repo
