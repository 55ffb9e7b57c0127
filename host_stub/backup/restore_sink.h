// The restore sink a provider writes a backup into: the host's
// implementation of the ABI's bkp_sink (plugin_host/host_handles.h).
// It enforces the restore order of docs/design.md §2 instead of trusting each
// plugin: exactly one control DB first, then log segments, then event
// segments, then snapshot segments, each context's stream in ascending base,
// one item open at a time, every item exactly as long as announced, and each
// item named as plugin_host/restore_rules.h says. The first violation makes the sink
// unusable.
//
// Files go to a staging directory beside the target. Only Commit (after the
// provider's restore returned BKP_OK) recovers the staged directory (which
// truncates torn tails and aligns log and events), runs the consistency
// checker on it, records its timeline (a new one when the provider said
// the restore came from a continuous archive), and then makes it the
// target directory. A failed or
// abandoned restore leaves the target as it was.
//
// Ownership: created by the host for one restore operation. Thread-safety:
// calls are serialised internally, but a plugin must still feed one item at
// a time in order.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bkp/bkp_plugin.h"
#include "plugin_host/host_handles.h"
#include "storage/checker.h"
#include "storage/options.h"
#include "storage/point_in_time.h"
#include "util/background_syncer.h"
#include "util/file.h"
#include "util/status.h"

namespace hoststub {

enum class RestorePolicy {
  // Refuse a target directory that exists and is not empty (the default).
  kSafe,
  // Restore anyway; the previous directory is kept aside, not deleted.
  kForce,
};

struct RestoreReport {
  std::filesystem::path data_dir;
  // Where the previous content of data_dir was moved (force policy), if any.
  std::filesystem::path previous_moved_to;
  uint64_t files = 0;
  uint64_t bytes = 0;
  std::vector<std::string> recovery_notes;
  CheckReport check;
  // A point-in-time restore: what each context holds after the cut.
  std::vector<CutReport> cut;
  // The timeline the restored directory is on, and, when the restore
  // started it (the provider called sink_timeline), the one it branched from.
  uint32_t timeline = 1;
  std::optional<uint32_t> branched_from;
  // Where the time went after the provider fed the last byte: waiting for
  // the disk, cutting to the point in time, recovery, the check. For the
  // operator's report of a slow restore.
  std::chrono::duration<double> sync_time{}, cut_time{}, recovery_time{}, check_time{};
};

class RestoreSink final : public bkp_sink {
 public:
  // Checks the policy against `target` (Refused: not empty under kSafe;
  // Busy: a running host holds it) and prepares an empty staging directory.
  // With a point in time set, Commit cuts what was fed back to it.
  static Result<std::unique_ptr<RestoreSink>> Create(const std::filesystem::path& target,
                                                     RestorePolicy policy,
                                                     const RestoreTarget& point_in_time = {});
  // Removes the staging directory unless Commit succeeded.
  ~RestoreSink() override;

  // See bkp_host_services.sink_begin / sink_write / sink_end.
  bkp_status Begin(const bkp_item& item, std::string* error) override;
  bkp_status Write(const void* data, size_t len, std::string* error) override;
  bkp_status End(std::string* error) override;
  // See bkp_host_services.sink_timeline: Commit puts the restored directory
  // on timeline `newest` + 1, branching from `restored`.
  bkp_status Timeline(uint32_t restored, uint32_t newest, std::string* error) override;

  // Cuts the staged directory back to the point in time (if one is set),
  // recovers and checks it with `options` (data_dir is replaced by the
  // staging path), then swaps it in as the target. Fails,
  // leaving the target untouched, if any item is open, the sink was misused,
  // no control DB arrived, recovery fails, or the checker finds a violation.
  Result<RestoreReport> Commit(StorageOptions options);

  const std::filesystem::path& staging_dir() const { return staging_; }

 private:
  RestoreSink(std::filesystem::path target, std::filesystem::path staging, RestorePolicy policy,
              RestoreTarget point_in_time)
      : target_(std::move(target)),
        staging_(std::move(staging)),
        policy_(policy),
        point_in_time_(std::move(point_in_time)) {}
  bkp_status Refuse(bkp_status code, std::string why, std::string* error);

  std::mutex mu_;
  const std::filesystem::path target_;
  const std::filesystem::path staging_;
  const RestorePolicy policy_;
  const RestoreTarget point_in_time_;
  bool committed_ = false;
  std::string poisoned_;  // non-empty: why the sink is unusable
  bool have_control_db_ = false;
  uint32_t role_ = 0;  // role of the last item begun
  // Last base begun per (context, role): bases must ascend.
  std::map<std::pair<std::string, uint32_t>, uint64_t> last_base_;
  // The open item.
  std::unique_ptr<File> file_;
  std::string open_name_;
  uint64_t expected_ = 0;
  uint64_t written_ = 0;
  uint64_t written_back_ = 0;  // write-back started up to here
  // Syncs each file once it is whole (see End).
  BackgroundSyncer syncer_;
  uint64_t files_ = 0;
  uint64_t bytes_ = 0;
  // From sink_timeline: 0 when the provider did not call it.
  uint32_t restored_timeline_ = 0;
  uint32_t newest_timeline_ = 0;
};

}  // namespace hoststub
