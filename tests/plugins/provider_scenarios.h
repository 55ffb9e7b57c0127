// Provider behaviours every repository-backed provider shares, written once
// and run on each kind of storage: local_disk on a directory
// (local_disk_test.cc) and remote on S3 (remote_test.cc). Each scenario
// gets a ProviderKind that opens a provider on a fresh, empty repository
// under a scratch directory and reads that repository's storage directly.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "plugins/plugins_test_util.h"
#include "repo/storage_driver.h"

namespace plugins_test {

struct ProviderKind {
  // A provider on a fresh, empty repository belonging to `scratch`.
  std::function<std::unique_ptr<Provider>(const std::filesystem::path& scratch)> open;
  // The storage of that same repository, to read what the provider wrote.
  std::function<std::shared_ptr<repo::StorageDriver>(const std::filesystem::path& scratch)> storage;
};

// The provider's table: the engine's callbacks, and incremental backups and
// the archive exactly as `incremental` and `archive` say, each capability
// bit with its callbacks, so the host never calls a null entry.
void CheckTableOffers(const Provider& provider, bool incremental, bool archive);

// `rounds` hot backups during concurrent appends, each verified and
// restored: every acknowledged event is there, byte for byte, and the
// restored host takes writes.
void HotBackupUnderLoadRestoresEveryAcknowledgedEvent(const ProviderKind& kind, int rounds);
// Retention keep_last 2 over 5 backups keeps the newest two whole and
// collects exactly the objects only the removed ones held.
void RetentionKeepsTheNewestTwoWhole(const ProviderKind& kind);
// A full backup and two increments: each increment stores only what is
// new, every one verifies and restores, a parent cannot be removed while an
// increment needs it, and removing the tip collects only what it alone held.
void IncrementalChainRestoresVerifiesAndDeletesInOrder(const ProviderKind& kind);
// List reports each backup's files, bytes, stored bytes and per-context
// details, oldest first.
void ListReportsFilesBytesAndDetails(const ProviderKind& kind);

}  // namespace plugins_test
