// The scheduler's loop and the run of one schedule (see scheduler.h).
#include "backup/scheduler.h"

#include <algorithm>
#include <random>
#include <utility>

#include <fmt/format.h>

#include "util/human_format.h"
#include "util/log.h"

namespace hoststub {
namespace {

// How long a wait for the scheduled backup's end sleeps between looks at
// whether the scheduler is stopping.
constexpr std::chrono::milliseconds kFinishPoll{250};

std::chrono::seconds RandomJitter(std::chrono::seconds jitter) {
  if (jitter.count() <= 0) return std::chrono::seconds(0);
  thread_local std::mt19937_64 random{std::random_device{}()};
  std::uniform_int_distribution<int64_t> pick(0, jitter.count() - 1);
  return std::chrono::seconds(pick(random));
}

RetentionPolicy PolicyOf(const KeepRules& keep) {
  RetentionPolicy policy;
  policy.keep_last = keep.last;
  policy.keep_hourly = keep.hourly;
  policy.keep_daily = keep.daily;
  policy.keep_weekly = keep.weekly;
  policy.keep_monthly = keep.monthly;
  return policy;
}

}  // namespace

Scheduler::Scheduler(BackupCoordinator& coordinator, Options options)
    : coordinator_(coordinator), options_(std::move(options)) {
  if (!options_.jitter) options_.jitter = RandomJitter;
}

Scheduler::~Scheduler() { Stop(); }

SystemTime Scheduler::WithJitter(const ScheduleConfig& config, SystemTime base) {
  return base + options_.jitter(config.jitter);
}

void Scheduler::SetSchedules(const std::vector<ScheduleConfig>& schedules) {
  const SystemTime now = options_.now();
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<Entry> next;
  for (const ScheduleConfig& config : schedules) {
    const auto same = std::find_if(entries_.begin(), entries_.end(),
                                   [&](const Entry& e) { return e.status.config.SameAs(config); });
    if (same != entries_.end()) {
      next.push_back(*same);
      continue;
    }
    Entry entry;
    entry.status.config = config;
    entry.status.in_effect_since = now;
    entry.base_due = config.NextAfter(now);
    entry.status.next_due = WithJitter(config, entry.base_due);
    next.push_back(std::move(entry));
  }
  entries_ = std::move(next);
  changed_ = true;
  wake_.notify_all();
}

void Scheduler::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void Scheduler::Stop() {
  std::thread thread;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    thread = std::move(thread_);
  }
  wake_.notify_all();
  if (!thread.joinable()) return;
  // A drill runs on this thread inside the coordinator: cancel it so the
  // join does not wait for a whole restore.
  if (const auto op = coordinator_.Current();
      op && op->running() && op->kind == OperationKind::kDrill) {
    static_cast<void>(coordinator_.Cancel());
  }
  thread.join();
}

std::vector<ScheduleStatus> Scheduler::Schedules() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ScheduleStatus> out;
  for (const Entry& e : entries_) out.push_back(e.status);
  return out;
}

bool Scheduler::stopping() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stop_;
}

void Scheduler::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stop_) {
    std::optional<SystemTime> next;
    for (const Entry& e : entries_) {
      if (!next || e.status.next_due < *next) next = e.status.next_due;
    }
    changed_ = false;
    auto woken = [this] { return stop_ || changed_; };
    if (!next) {
      wake_.wait(lock, woken);
      continue;
    }
    // The wall clock may jump (or be a test's): wait in slices and ask
    // Options::now whether the time has come.
    const SystemTime now = options_.now();
    if (now < *next) {
      const auto left =
          std::min<std::chrono::system_clock::duration>(*next - now, std::chrono::seconds(1));
      wake_.wait_for(lock, left, woken);
      continue;
    }
    lock.unlock();
    RunDue(options_.now());
    lock.lock();
  }
}

size_t Scheduler::RunDue(SystemTime now) {
  std::vector<ScheduleConfig> due;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<const Entry*> ready;
    for (const Entry& e : entries_) {
      if (e.status.next_due <= now) ready.push_back(&e);
    }
    std::stable_sort(ready.begin(), ready.end(), [](const Entry* a, const Entry* b) {
      return a->status.next_due < b->status.next_due;
    });
    for (const Entry* e : ready) due.push_back(e->status.config);
  }
  size_t ran = 0;
  for (const ScheduleConfig& config : due) {
    if (stopping()) break;
    ScheduleStatus result;
    result.last_run = options_.now();
    if (config.kind == ScheduleKind::kDrill) {
      RunDrillSchedule(config, result);
    } else {
      RunBackupSchedule(config, result);
    }
    ++ran;
    std::lock_guard<std::mutex> lock(mu_);
    // A reload during the run replaced or removed the schedule: its new
    // settings plan their own next run.
    const auto it = std::find_if(entries_.begin(), entries_.end(),
                                 [&](const Entry& e) { return e.status.config.SameAs(config); });
    if (it == entries_.end()) continue;
    ScheduleStatus& s = it->status;
    s.last_run = result.last_run;
    s.last_ok = result.last_ok;
    s.last_backup_id = result.last_backup_id;
    s.last_error = result.last_error;
    s.last_expired = result.last_expired;
    s.expired_total += result.last_expired.size();
    if (result.last_drill) s.last_drill = result.last_drill;
    // Missed periods (a long backup, a suspended host) are not made up:
    // the next run is the first one due after now.
    if (it->base_due <= now) {
      if (config.cron) {
        it->base_due = config.cron->Next(now);
      } else {
        // Whole periods from when it was due, in one step (a long pause
        // must not cost one loop turn per missed period).
        const auto periods = (now - it->base_due) / config.every + 1;
        it->base_due += periods * config.every;
      }
    }
    s.next_due = WithJitter(config, it->base_due);
  }
  return ran;
}

template <typename T, typename F>
Result<T> Scheduler::WhenIdle(F&& start) {
  while (true) {
    Result<T> started = start();
    if (started.ok() || started.status().code() != Status::Code::kBusy) return started;
    if (stopping()) return Status::Cancelled("hostd is stopping");
    static_cast<void>(coordinator_.WaitIdle(options_.busy_poll));
  }
}

void Scheduler::RunBackupSchedule(const ScheduleConfig& config, ScheduleStatus& status) {
  uint32_t type = config.kind == ScheduleKind::kFull ? BKP_BACKUP_FULL : BKP_BACKUP_INCREMENTAL;
  auto fail = [&](const Status& why) {
    status.last_ok = false;
    status.last_error = why.message();
    LogError(fmt::format("schedule '{}': {}", config.name, why.message()));
  };
  if (type == BKP_BACKUP_INCREMENTAL) {
    Result<std::vector<BackupListing>> listed =
        WhenIdle<std::vector<BackupListing>>([&] { return coordinator_.List(config.provider); });
    // A provider that cannot list decides for itself what to base it on.
    if (!listed.ok() && listed.status().code() != Status::Code::kUnsupported) {
      return fail(listed.status());
    }
    const bool has_full =
        listed.ok() && std::any_of(listed->begin(), listed->end(), [](const BackupListing& b) {
          return b.type == BKP_BACKUP_FULL;
        });
    if (listed.ok() && !has_full) {
      LogInfo(fmt::format(
          "schedule '{}': provider '{}' holds no full backup for an incremental to build on: "
          "taking a full backup instead",
          config.name, config.provider));
      type = BKP_BACKUP_FULL;
    }
  }
  Result<OperationSnapshot> started =
      WhenIdle<OperationSnapshot>([&] { return coordinator_.StartBackup(config.provider, type); });
  if (!started.ok()) return fail(started.status());
  LogInfo(fmt::format("schedule '{}' ({}): started {}", config.name, config.DescribeWhen(),
                      started->Describe()));
  std::optional<OperationSnapshot> finished;
  while (true) {
    finished = coordinator_.WaitIdle(kFinishPoll);
    if (finished && finished->id == started->id && !finished->running()) break;
    if (finished && finished->id != started->id) break;  // ours ended, another began
    if (stopping()) {
      status.last_error = "hostd stopped before the backup ended";
      return;
    }
  }
  if (finished->id != started->id) {
    // Only possible if ours ended and another started between two looks;
    // the coordinator's log line has its result.
    status.last_ok = true;
    return;
  }
  if (finished->state != OperationState::kSucceeded) {
    // The coordinator's observer has logged it at ERROR already.
    status.last_ok = false;
    status.last_error = finished->error.message();
    return;
  }
  status.last_ok = true;
  status.last_backup_id = finished->backup_id;
  if (!config.keep.any()) return;
  Result<std::vector<BackupListing>> removed = WhenIdle<std::vector<BackupListing>>(
      [&] { return coordinator_.Expire(config.provider, PolicyOf(config.keep)); });
  if (!removed.ok()) return fail(removed.status());
  std::string ids;
  for (const BackupListing& b : *removed) {
    status.last_expired.push_back(b.id);
    ids += fmt::format("{}{}", ids.empty() ? "" : ", ", b.id);
  }
  LogInfo(fmt::format("schedule '{}': retention removed {} backup(s){}", config.name,
                      removed->size(), ids.empty() ? "" : ": " + ids));
}

void Scheduler::RunDrillSchedule(const ScheduleConfig& config, ScheduleStatus& status) {
  Result<DrillResult> drill = WhenIdle<DrillResult>(
      [&] { return coordinator_.Drill(config.provider, options_.drill_scratch); });
  DrillResult result;
  if (drill.ok()) {
    result = std::move(drill).value();
  } else {
    result.provider = config.provider;
    result.started = result.finished = options_.now();
    result.error = drill.status().message();
  }
  result.schedule = config.name;
  status.last_ok = result.ok;
  status.last_backup_id = result.backup_id;
  status.last_error = result.error;
  status.last_drill = result;
  if (result.ok) {
    LogInfo(fmt::format(
        "schedule '{}': restore drill passed: backup '{}' via provider '{}' restored in {:.1f} s "
        "({} files, {}), checked in {:.1f} s, scratch copy deleted",
        config.name, result.backup_id, result.provider,
        static_cast<double>(result.restore_time.count()) / 1000.0, result.files,
        FormatBytes(result.bytes), static_cast<double>(result.check_time.count()) / 1000.0));
  } else {
    LogError(fmt::format("schedule '{}': restore drill FAILED: {}", config.name, result.error));
  }
}

}  // namespace hoststub
