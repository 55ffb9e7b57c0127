// Backup chains: a full backup, then incrementals that each hold only what
// changed since their parent. Resolving a backup walks its chain from the
// full base up and yields its complete state: every file of the host at
// that backup, with all the chunks that make it up.
//
// Errors: throws bkp::Error. The backup asked for missing is BKP_E_NOT_FOUND;
// a missing or unreadable ancestor, or an incremental that does not fit its
// parent, is BKP_E_BROKEN_CHAIN naming the missing link and the newest
// backup of the chain that can still be restored.
// Thread-safety: plain values; ResolveState reads the repository only.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "repo/manifest.h"
#include "repo/repository.h"

namespace repo {

struct BackupState {
  Manifest tip;                    // the backup itself, its files in `files` (tip.files is empty)
  std::vector<std::string> chain;  // ids from the full base to the tip
  // Every file, complete: inherit 0 and chunks from offset 0, each chunk's
  // stored_by naming the backup that stored it.
  std::map<FileKey, FileEntry> files;

  // The files in restore order: role, then context, then ascending base.
  std::vector<FileEntry> RestoreOrder() const;
  uint64_t TotalBytes() const;
};

// `explain` adds to a broken-chain error the newest older backup that can
// still be restored (which takes more reads).
BackupState ResolveState(Repository& repository, const std::string& id, bool explain = true);

// Applies one more backup on top of a state (the state of its parent, or
// an empty one for a full backup). Throws BKP_E_BROKEN_CHAIN when an
// incremental's files do not fit the parent's.
void ApplyManifest(BackupState* state, Manifest manifest);

}  // namespace repo
