// FaultyDirDriver: a repo::StorageDriver over a local directory, written
// against the installed engine headers only, that fails on request the way
// storage fails. Keys are files under the root; an object being written is
// a file in <root>/.faulty-tmp/ until Commit renames it into place.
//
// Faults (Faults::kind), each from a threshold on (Faults::after):
//   kNoSpace     Append fails with BKP_E_NO_SPACE once `after` bytes were
//                written by this driver, as a full disk does;
//   kShortWrite  Append stores only part of its bytes once `after` bytes
//                were written and reports it as BKP_E_IO;
//   kTornRename  Commit number `after` (from 0) fails with BKP_E_IO after
//                the bytes are durable but before the rename, as a rename
//                cut short by the storage does: the object never appears.
//
// Errors: bkp::Error with a bkp_status and a message naming the key and the
// root, as storage_driver.h requires. Thread-safety: every method may run
// on several engine threads at once; the fault counters are atomic.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "repo/storage_driver.h"

namespace faulty_dir {

struct Faults {
  enum class Kind { kNone, kNoSpace, kShortWrite, kTornRename };
  Kind kind = Kind::kNone;
  uint64_t after = 0;  // bytes (kNoSpace, kShortWrite) or commits (kTornRename)
};

// What the driver's writers share with it: the root and the fault state.
struct DriverState {
  std::string root;
  Faults faults;
  std::atomic<uint64_t> bytes_written{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> next_temp{0};
};

class FaultyDirDriver final : public repo::StorageDriver {
 public:
  // Creates `root` (and its temp folder) if absent; throws bkp::Error
  // (BKP_E_IO) when it cannot.
  FaultyDirDriver(std::string root, Faults faults);

  std::string Describe() const override;
  std::unique_ptr<repo::ObjectWriter> Create() override;
  std::unique_ptr<repo::ObjectReader> Open(const std::string& key) override;
  std::optional<uint64_t> Stat(const std::string& key) override;
  std::vector<repo::ObjectInfo> List(const std::string& prefix) override;
  void Remove(const std::vector<std::string>& keys) override;
  uint64_t RemoveAbandonedWrites(std::chrono::seconds idle) override;

 private:
  std::shared_ptr<DriverState> state_;
};

}  // namespace faulty_dir
