// The engine's state behind one bkp_instance, shared by the provider edge's
// callbacks (provider_edge.cc). Internal to the engine, not installed: a
// provider only ever holds the opaque pointer OpenInstance returns.
//
// Ownership: the instance owns its Repository (and through it the storage
// driver) from OpenInstance until CloseInstance deletes it.
// Thread-safety: the host calls one instance's operations one at a time,
// except the archive's calls, which serialise on archive_mu.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "bkp/bkp_plugin.hpp"
#include "repo/backup_job.h"
#include "repo/chain.h"
#include "repo/repository.h"

struct bkp_instance {
  bkp::Host host;
  std::unique_ptr<repo::Repository> repository;
  repo::BackupOptions options;
  bool incremental = false;  // the provider takes BKP_BACKUP_INCREMENTAL
  // The archive reuses what the newest backup stores; its state is kept
  // here between archive calls (which run beside other operations).
  std::mutex archive_mu;
  std::optional<repo::BackupState> archive_reuse;
  // Timelines whose history object this instance stored or found (under
  // archive_mu).
  std::set<uint32_t> timelines_published;
};
