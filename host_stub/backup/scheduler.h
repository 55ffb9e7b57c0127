// Scheduler: runs the [[schedules]] of the host config (config/
// schedule_config.h) while hostd serves. Each schedule goes through the
// BackupCoordinator like an admin-API request: a backup (StartBackup, then
// waiting for it), retention after a scheduled backup that succeeded
// (Expire with the schedule's keep_* tiers), or a restore drill (Drill).
// When another operation holds the host's slot, a due schedule waits for it
// to end and then runs; it is never skipped for being busy. An incremental
// schedule whose provider holds no full backup takes a full one instead
// (logged at INFO), as pgBackRest does.
//
// Time is injectable (Options::now, Options::jitter): tests call RunDue
// with the time they choose instead of waiting for the thread.
//
// Thread-safety: every public member may be called from any thread. One
// schedule runs at a time, on the scheduler's thread (Start) or the caller
// of RunDue. SetSchedules (a config reload) takes effect between runs: a
// running schedule finishes on the settings it started with. Ownership:
// the coordinator is borrowed and must outlive the scheduler; Stop (or the
// destructor) must run before the coordinator is destroyed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "backup/coordinator.h"
#include "backup/restore_drill.h"
#include "config/schedule_config.h"

namespace hoststub {

// One schedule as the scheduler sees it, for status output.
struct ScheduleStatus {
  ScheduleConfig config;
  SystemTime next_due;  // jitter included
  // When this schedule (with these settings) took effect: hostd's start or
  // the reload that added or changed it.
  SystemTime in_effect_since;
  // The last run, if any since hostd started: when it started, whether it
  // succeeded, and for a backup the new backup's id.
  std::optional<SystemTime> last_run;
  bool last_ok = false;
  std::string last_backup_id;
  std::string last_error;
  // Retention after the last backup: what it removed; and how many backups
  // its retention removed since the schedule took effect.
  std::vector<std::string> last_expired;
  uint64_t expired_total = 0;
  // A drill schedule's last drill.
  std::optional<DrillResult> last_drill;
};

class Scheduler {
 public:
  struct Options {
    // The wall clock; schedules are in UTC.
    std::function<SystemTime()> now = [] { return std::chrono::system_clock::now(); };
    // The random delay of a schedule with `jitter`: a value in [0, jitter).
    // Null: uniformly random.
    std::function<std::chrono::seconds(std::chrono::seconds jitter)> jitter;
    // Where drills restore to (each in a directory of its own, deleted after).
    std::filesystem::path drill_scratch;
    // How long a due schedule waits for a busy host before trying again.
    std::chrono::milliseconds busy_poll{500};
  };

  Scheduler(BackupCoordinator& coordinator, Options options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Replaces the schedules. One whose settings did not change keeps its
  // next due time; a new or changed one is next due from now.
  void SetSchedules(const std::vector<ScheduleConfig>& schedules);

  // Starts the thread that runs schedules as they fall due.
  void Start();
  // Stops the thread: a backup it is waiting for is left to the coordinator
  // (whose owner cancels it); a drill it runs is cancelled. Idempotent.
  void Stop();

  // Runs every schedule due at or before `now`, earliest first, each to its
  // end (waiting while the host is busy), then computes its next due time
  // from `now`. Returns how many ran.
  size_t RunDue(SystemTime now);

  std::vector<ScheduleStatus> Schedules() const;

 private:
  struct Entry {
    ScheduleStatus status;
    SystemTime base_due;  // without jitter
  };

  SystemTime WithJitter(const ScheduleConfig& config, SystemTime base);
  void Loop();
  // Each returns how the run ended, and fills `status`.
  void RunBackupSchedule(const ScheduleConfig& config, ScheduleStatus& status);
  void RunDrillSchedule(const ScheduleConfig& config, ScheduleStatus& status);
  // Calls `start` until it is not Busy (waiting for the host between
  // tries) or the scheduler stops.
  template <typename T, typename F>
  Result<T> WhenIdle(F&& start);
  bool stopping() const;

  BackupCoordinator& coordinator_;
  Options options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::vector<Entry> entries_;  // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  bool changed_ = false;        // guarded by mu_: wake the loop to re-plan
  std::thread thread_;
};

}  // namespace hoststub
