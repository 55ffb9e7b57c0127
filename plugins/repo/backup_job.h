// The backup pipeline: lists the host's backup source in its order (control
// DB, log, events, snapshots), then stores every file as chunks of
// content-addressed LZ4 frames, and publishes the manifest last.
//
// Reuse: the newest backup's state is the base. A file the base already
// holds is checked by reading only the last few KiB of what the base has of
// it; if they match, those bytes are reused unread and only what was
// appended since is read and stored (a closed segment: nothing at all). So a
// second backup of a host reads and writes about what changed.
//
// Trust: a closed segment is immutable, and the host lists it with its
// name, size and [base, next) range from its own segment registry. When the
// base holds a closed segment under the same name with the same size and
// range, the backup takes the host's word that it is unchanged and does not
// read its tail: the cost of an incremental then follows what changed, not
// how many files the host holds. A file changed behind the host's back (a
// disk fault, a hand edit) is caught by the periodic full re-check: every
// `full_check_every`-th backup in a row reads the tail of every file it
// reuses, as every backup did before (the manifest's since_full_check
// counts the backups since); 1 checks every time.
//
// Full and incremental: a full manifest lists every file with all its
// chunks and depends on no other backup; an incremental (its parent being
// the newest backup) lists only the files that are new or grew, plus the
// control DB, and needs its chain to restore. Either way the data files are
// stored once.
//
// Parallelism and memory: the listed files are cut into pieces of at most
// kMaxChunkBytes, which `workers` threads compress and checksum, largest
// first; memory stays at about 3 MiB per worker. On a driver whose commit
// waits on the disk, one more thread commits the finished objects while the
// workers go on (committer.h).
//
// Errors: throws bkp::Error. An incremental with no backup to base it on is
// BKP_E_MISSING_FULL_BACKUP; on a broken base chain, BKP_E_BROKEN_CHAIN. On
// any failure or cancellation no manifest is written: nothing that looks like
// a backup remains (objects already stored are reused by the next backup or
// collected by retention).
// Thread-safety: one job per repository at a time.
#pragma once

#include <cstdint>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/codec.h"
#include "repo/repository.h"

namespace repo {

// The default of the `full_check_every` setting: every backup reads the
// tail of every closed segment it reuses, as before the setting existed.
// Trusting the host's word is opt-in: a name, size and token range do not
// identify a segment's bytes across a restore of the host's directory (a
// context restored to an earlier point, then written again, can close a
// segment with the same name, range and size and other events), and a
// backup that reused the old chunks then would restore the old history.
inline constexpr uint32_t kDefaultFullCheckEvery = 1;

struct BackupOptions {
  uint32_t workers = 2;         // compression/checksum threads, >= 1
  uint64_t rate_limit_bps = 0;  // read cap in bytes/s, 0 = none
  // Every Nth backup in a row reads the tail of every reused file (see
  // "Trust" above); 1: every backup does. >= 1.
  uint32_t full_check_every = kDefaultFullCheckEvery;
  std::string provider_name;
  std::string provider_version;
  uint32_t timeline = 1;  // the host's (bkp_backup_args.timeline), recorded in the manifest
  // The ABI version host and plugin agreed at open (NegotiatedAbiVersion),
  // recorded in the manifest.
  uint32_t abi_version = BKP_ABI_VERSION;
  Compression compression{};  // of the objects it stores (codec.h)
};

struct BackupStats {
  std::string id;
  uint64_t files = 0;         // files of the host the backup covers
  uint64_t bytes_read = 0;    // read from the host (reused bytes are not read)
  uint64_t bytes_reused = 0;  // original bytes referenced unread
  uint64_t bytes_new = 0;     // stored bytes added to the repository
};

// `type` is BKP_BACKUP_FULL or BKP_BACKUP_INCREMENTAL. `lock`, the
// repository lock held for the backup (or NULL), is checked just before the
// manifest is published: a backup that lost its lock publishes nothing.
BackupStats RunBackupJob(Repository& repository, const bkp::Source& source,
                         const bkp::Operation& op, const bkp::Host& host,
                         const BackupOptions& options, uint32_t type,
                         RepositoryLock* lock = nullptr);

}  // namespace repo
