// The backup pipeline: reads the host's backup source in its order (control
// DB, log, events, snapshots), stores every file as a content-addressed LZ4
// frame, and publishes the manifest last. Closed segments already in the
// repository (same context, stream, name, size and tail checksum) are
// referenced, not read again, so a second backup of an unchanged host
// writes almost nothing. Each role's files are compressed and checksummed by
// `workers` threads in parallel; memory stays at about 3 MiB per worker.
//
// Errors: throws bkp::Error. On any failure or cancellation no manifest is
// written: nothing that looks like a backup remains (objects already stored
// are reused by the next backup or collected by retention).
// Thread-safety: one job per repository at a time.
#pragma once

#include <cstdint>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repository.h"

namespace repo {

struct BackupOptions {
  uint32_t workers = 2;         // compression/checksum threads, >= 1
  uint64_t rate_limit_bps = 0;  // read cap in bytes/s, 0 = none
  std::string provider_name;
  std::string provider_version;
};

struct BackupStats {
  std::string id;
  uint64_t files = 0;
  uint64_t bytes_read = 0;    // read from the host (reused files are not read)
  uint64_t bytes_reused = 0;  // original bytes of files referenced unread
  uint64_t bytes_new = 0;     // stored bytes added to the repository
};

BackupStats RunBackupJob(Repository& repository, const bkp::Source& source,
                         const bkp::Operation& op, const bkp::Host& host,
                         const BackupOptions& options);

}  // namespace repo
