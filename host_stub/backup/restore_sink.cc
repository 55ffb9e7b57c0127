// The host's restore sink: ordered, staged, verified, then swapped in.
#include "backup/restore_sink.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <ctime>
#include <system_error>

#include <fmt/format.h>

#include "backup/timeline_history.h"
#include "bkp/bkp_plugin.hpp"
#include "plugin_host/abi_status.h"
#include "plugin_host/restore_rules.h"
#include "storage/control_db.h"
#include "storage/event_store.h"
#include "storage/segment.h"
#include "util/utc_time.h"

namespace hoststub {

namespace fs = std::filesystem;

namespace {

fs::path Normalised(const fs::path& p) {
  fs::path n = fs::absolute(p).lexically_normal();
  if (n.filename().empty()) n = n.parent_path();  // "dir/" -> "dir"
  return n;
}

// Where a forced restore moves the target's previous content: named by the
// time, and numbered when a directory of that second is there already (two
// forced restores in one second; renaming onto it would fail, or replace it
// if it were empty).
fs::path SetAsideName(const fs::path& target) {
  const std::string stem =
      target.string() + ".before-restore-" + FormatUtc(NowMs(), UtcFormat::kCompact);
  fs::path name = stem;
  std::error_code ec;
  for (int n = 2; fs::exists(fs::symlink_status(name, ec)); ++n) {
    name = stem + "-" + std::to_string(n);
  }
  return name;
}

// How much of a file is written before its write-back is started.
constexpr uint64_t kWriteBackEvery = 8ull << 20;

bool IsEmptyDir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir, ec) && fs::directory_iterator(dir, ec) == fs::directory_iterator();
}

// Every directory of the staged tree, synced: the entries of the files
// the syncer made durable.
Status SyncStagedDirectories(const fs::path& staging) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(staging, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->is_directory()) HOSTSTUB_RETURN_IF_ERROR(SyncDir(it->path()));
  }
  if (ec) {
    return Status::IOError(
        fmt::format("cannot list the restored data '{}': {}", staging.string(), ec.message()));
  }
  return SyncDir(staging);
}

}  // namespace

Result<std::unique_ptr<RestoreSink>> RestoreSink::Create(const fs::path& target_in,
                                                         RestorePolicy policy,
                                                         const RestoreTarget& point_in_time) {
  const fs::path target = Normalised(target_in);
  std::error_code ec;
  if (fs::exists(target, ec) && !fs::is_directory(target, ec)) {
    return Status::InvalidArgument(
        fmt::format("restore target '{}' exists and is not a directory", target.string()));
  }
  HOSTSTUB_RETURN_IF_ERROR(CheckDataDirNotInUse(target));
  if (policy == RestorePolicy::kSafe && fs::exists(target, ec) && !IsEmptyDir(target)) {
    return Status::Refused(fmt::format(
        "restore target '{}' is not empty and the safe policy never overwrites data: stop the "
        "host and move the directory away, or restore with the force policy (which keeps the "
        "current content aside, not deleted)",
        target.string()));
  }
  const fs::path staging = target.parent_path() / fmt::format(".{}.restore-staging-{}",
                                                              target.filename().string(), getpid());
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) {
    return Status::IOError(fmt::format("cannot create restore staging directory '{}': {}",
                                       staging.string(), ec.message()));
  }
  return std::unique_ptr<RestoreSink>(new RestoreSink(target, staging, policy, point_in_time));
}

Result<std::unique_ptr<RestoreSink>> RestoreSink::CreateForContext(
    const fs::path& data_dir_in, ContextRestore what, const RestoreTarget& point_in_time) {
  HOSTSTUB_RETURN_IF_ERROR(ValidateContextName(what.context));
  if (!what.as.empty()) HOSTSTUB_RETURN_IF_ERROR(ValidateContextName(what.as));
  const fs::path data_dir = Normalised(data_dir_in);
  const fs::path staging =
      data_dir / kContextRestoreDir / fmt::format("staging-{}-{}", getpid(), what.name());
  std::error_code ec;
  fs::remove_all(staging, ec);
  fs::create_directories(staging, ec);
  if (ec) {
    return Status::IOError(fmt::format("cannot create restore staging directory '{}': {}",
                                       staging.string(), ec.message()));
  }
  std::unique_ptr<RestoreSink> sink(new RestoreSink(data_dir, staging, what.policy, point_in_time));
  sink->context_ = std::move(what);
  return sink;
}

RestoreSink::~RestoreSink() {
  file_.reset();
  // Every descriptor of the staged tree closed before it is removed: with
  // files still open, removing it can fail for want of a descriptor (EMFILE)
  // and leave the staging behind.
  syncer_.Abandon();
  std::error_code ec;
  if (context_) {
    // The staged context is live or abandoned by now, unless a durable swap
    // marker still names it: then the next open of the store finishes it.
    if (!fs::exists(target_ / kContextRestoreDir / "swap", ec)) {
      fs::remove_all(staging_, ec);
      fs::remove(staging_.parent_path(), ec);  // only if no other staging is there
    }
    return;
  }
  if (!committed_) {
    fs::remove_all(staging_, ec);
  }
}

std::string RestoreSink::WhatToDo(const Status& st) const {
  std::string msg = st.message();
  if (st.code() == Status::Code::kNoSpace) {
    msg += fmt::format(
        ": the file system of the restore staging directory '{}' is full after {} restored "
        "file(s), {} byte(s); free space there or restore to a directory on another file "
        "system. The target is left as it was",
        staging_.string(), files_, bytes_ + written_);
  }
  return msg;
}

std::string RestoreSink::NotDurable(const Status& st) const {
  return "a restored file could not be made durable, so the restore is not used: " + WhatToDo(st);
}

bkp_status RestoreSink::Refuse(bkp_status code, std::string why, std::string* error) {
  file_.reset();
  item_open_ = false;
  poisoned_ = why;
  *error = std::move(why);
  return code;
}

bkp_status RestoreSink::Begin(const bkp_item& item_in, std::string* error) {
  std::lock_guard lock(mu_);
  if (committed_) return Refuse(BKP_E_OUT_OF_ORDER, "the restore was already committed", error);
  if (!poisoned_.empty()) {
    *error = "the restore sink is unusable after an earlier error: " + poisoned_;
    return BKP_E_OUT_OF_ORDER;
  }
  // Read only what the plugin's struct holds; a newer field it lacks is 0.
  const bkp_item item = bkp::copy_versioned(&item_in);
  const char* name = item.name ? item.name : "(unnamed)";
  if (item_open_) {
    return Refuse(BKP_E_OUT_OF_ORDER,
                  fmt::format("sink_begin of '{}' while '{}' is still open: call sink_end first",
                              name, open_name_),
                  error);
  }
  // The item on its own (plugin_host/restore_rules.h), then its place in the order.
  auto relative = RestoredPath(item);
  if (!relative.ok()) return Refuse(BKP_E_INVALID_ARGUMENT, relative.status().message(), error);
  const fs::path path = staging_ / *relative;
  if (item.role == BKP_ROLE_CONTROL_DB && (have_control_db_ || role_ != 0)) {
    return Refuse(BKP_E_OUT_OF_ORDER,
                  "the control DB must be the first item of a restore, and come only once", error);
  }
  if (item.role != BKP_ROLE_CONTROL_DB) {
    if (!have_control_db_) {
      return Refuse(BKP_E_OUT_OF_ORDER,
                    fmt::format("{} item '{}' before the control DB: a restore writes the "
                                "control DB first, then log, then events, then snapshots",
                                BkpRoleName(item.role), name),
                    error);
    }
    if (item.role < role_) {
      return Refuse(BKP_E_OUT_OF_ORDER,
                    fmt::format("{} item '{}' after {} items: a restore writes the control DB, "
                                "then log, then events, then snapshots",
                                BkpRoleName(item.role), name, BkpRoleName(role_)),
                    error);
    }
    if (item.context != nullptr) {
      auto key = std::make_pair(std::string(item.context), item.role);
      auto last = last_base_.find(key);
      if (last != last_base_.end() && item.base <= last->second) {
        return Refuse(
            BKP_E_OUT_OF_ORDER,
            fmt::format("{} item '{}' of context '{}' has base {} after base {}: "
                        "segments are restored in ascending order",
                        BkpRoleName(item.role), name, item.context, item.base, last->second),
            error);
      }
    }
  }
  role_ = item.role;
  if (item.role != BKP_ROLE_CONTROL_DB) last_base_[{item.context, item.role}] = item.base;
  open_name_ = name;
  expected_ = item.size;
  written_ = 0;
  written_back_ = 0;
  // A per-context restore reads every item the provider feeds (the order
  // is checked all the same) but keeps only the context's.
  discarding_ = context_ && item.role != BKP_ROLE_CONTROL_DB &&
                (item.context == nullptr || context_->context != item.context);
  item_open_ = true;
  if (discarding_) return BKP_OK;
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) {
    return Refuse(BKP_E_IO,
                  fmt::format("cannot create '{}': {}", path.parent_path().string(), ec.message()),
                  error);
  }
  auto file = File::Open(path, File::Mode::kCreateNew);
  if (!file.ok()) return Refuse(ToBkpStatus(file.status()), WhatToDo(file.status()), error);
  file_ = std::move(*file);
  if (item.role == BKP_ROLE_CONTROL_DB) have_control_db_ = true;
  return BKP_OK;
}

bkp_status RestoreSink::Write(const void* data, size_t len, std::string* error) {
  std::lock_guard lock(mu_);
  if (!poisoned_.empty()) {
    *error = "the restore sink is unusable after an earlier error: " + poisoned_;
    return BKP_E_OUT_OF_ORDER;
  }
  if (!item_open_) return Refuse(BKP_E_OUT_OF_ORDER, "sink_write with no item open", error);
  if (len > 0 && data == nullptr)
    return Refuse(BKP_E_INVALID_ARGUMENT, "sink_write: data is NULL", error);
  if (len > expected_ - written_) {
    return Refuse(BKP_E_INVALID_ARGUMENT,
                  fmt::format("item '{}': more than the {} bytes announced", open_name_, expected_),
                  error);
  }
  if (discarding_) {
    written_ += len;
    return BKP_OK;
  }
  Status st = file_->PWriteAll(data, len, written_);
  if (!st.ok()) return Refuse(ToBkpStatus(st), WhatToDo(st), error);
  written_ += len;
  // Keep write-back going as the file grows, not only once it is whole: the
  // sync at Commit then waits for a tail, not for most of the directory.
  if (written_ - written_back_ >= kWriteBackEvery) {
    file_->StartWriteBack(written_back_, written_ - written_back_);
    written_back_ = written_;
  }
  return BKP_OK;
}

bkp_status RestoreSink::End(std::string* error) {
  std::lock_guard lock(mu_);
  if (!poisoned_.empty()) {
    *error = "the restore sink is unusable after an earlier error: " + poisoned_;
    return BKP_E_OUT_OF_ORDER;
  }
  if (!item_open_) return Refuse(BKP_E_OUT_OF_ORDER, "sink_end with no item open", error);
  if (written_ != expected_) {
    return Refuse(BKP_E_INVALID_ARGUMENT,
                  fmt::format("item '{}' ended after {} of the {} bytes announced", open_name_,
                              written_, expected_),
                  error);
  }
  item_open_ = false;
  if (discarding_) return BKP_OK;
  // Made durable while the provider feeds the next files; Commit waits for
  // what is left. The write-back starts now, so that the disk works while
  // the file waits its turn; Add waits while the syncer's queue is full,
  // which keeps the descriptors held bounded (background_syncer.h).
  file_->StartWriteBack(written_back_, 0);  // what the kicks in Write left
  if (Status st = syncer_.Add(std::move(file_)); !st.ok()) {
    return Refuse(ToBkpStatus(st), NotDurable(st), error);
  }
  ++files_;
  bytes_ += written_;
  return BKP_OK;
}

bkp_status RestoreSink::Timeline(uint32_t restored, uint32_t newest, std::string* error) {
  std::lock_guard lock(mu_);
  if (restored == 0 || restored > newest || newest == UINT32_MAX) {
    *error = fmt::format(
        "sink_timeline: restored timeline {} and newest timeline {} do not fit (1 <= restored <= "
        "newest)",
        restored, newest);
    return BKP_E_INVALID_ARGUMENT;
  }
  restored_timeline_ = restored;
  newest_timeline_ = newest;
  return BKP_OK;
}

Status RestoreSink::CheckComplete() const {
  if (!poisoned_.empty()) {
    return Status::InvalidArgument("the restore was not completed: " + poisoned_);
  }
  if (item_open_) {
    return Status::InvalidArgument(
        fmt::format("the restore ended with item '{}' still open", open_name_));
  }
  if (!have_control_db_) return Status::InvalidArgument("the restore fed no control DB");
  return Status::OK();
}

Status RestoreSink::NarrowToContext() {
  const std::string& from = context_->context;
  const std::string& to = context_->name();
  HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(staging_ / "control.db"));
  const std::vector<std::string> names = db->ListContexts();
  std::error_code ec;
  if (std::find(names.begin(), names.end(), from) == names.end() &&
      !fs::exists(staging_ / "contexts" / from, ec)) {
    std::string held;
    for (const std::string& n : names) held += (held.empty() ? "'" : ", '") + n + "'";
    return Status::NotFound(fmt::format("the backup holds no context '{}' (it holds: {})", from,
                                        held.empty() ? "none" : held));
  }
  for (const std::string& n : names) {
    if (n != from) HOSTSTUB_RETURN_IF_ERROR(db->RemoveContext(n));
  }
  if (to != from) {
    auto rows = db->ExportContext(from);
    if (!rows.ok() && rows.status().code() != Status::Code::kNotFound) return rows.status();
    ContextRows moved = rows.ok() ? *rows : ContextRows{NowMs(), {}, {}};
    HOSTSTUB_RETURN_IF_ERROR(db->RemoveContext(from));
    HOSTSTUB_RETURN_IF_ERROR(db->ImportContext(to, moved));
    fs::rename(staging_ / "contexts" / from, staging_ / "contexts" / to, ec);
    if (ec) {
      return Status::IOError(fmt::format("cannot rename the restored context '{}' to '{}': {}",
                                         from, to, ec.message()));
    }
  }
  return Status::OK();
}

Status RestoreSink::Prepare(StorageOptions options, RestoreReport* out) {
  RestoreReport& report = *out;
  using Clock = std::chrono::steady_clock;
  auto started = Clock::now();
  auto lap = [&started] {
    const auto now = Clock::now();
    const std::chrono::duration<double> took = now - started;
    started = now;
    return took;
  };
  if (Status st = syncer_.Finish(); !st.ok()) {
    return st.code() == Status::Code::kNoSpace ? Status::NoSpace(NotDurable(st))
                                               : Status::IOError(NotDurable(st));
  }
  HOSTSTUB_RETURN_IF_ERROR(SyncStagedDirectories(staging_));
  report.sync_time = lap();
  RestoreTarget point = point_in_time_;
  if (context_) {
    HOSTSTUB_RETURN_IF_ERROR(NarrowToContext());
    // The token counts in the restored context, under its new name.
    if (!point.context.empty()) point.context = context_->name();
  }
  // The cut before recovery, which would otherwise act on what lies past
  // the target (re-apply a log entry beyond it). It syncs what it changes.
  auto cut = CutToTarget(staging_, point);
  if (!cut.ok()) {
    return Status::Corruption("cannot cut the restored data back to " + point.Describe() + ": " +
                              cut.status().ToString());
  }
  report.cut = std::move(*cut);
  report.cut_time = lap();
  if (std::string empty = NothingLeftAfterCut(report.cut, point); !empty.empty()) {
    return Status::InvalidArgument(empty);
  }
  options.data_dir = staging_;
  options.fsync = FsyncPolicy::kBatch;
  options.compaction_interval = std::chrono::milliseconds(0);
  options.recovery_headers_only = true;  // CheckDataDir below reads them all
  std::vector<ContextState> branch_points;
  {
    // Recovery as on any start: torn tails truncated, log and events aligned.
    auto store = EventStore::Open(options);
    if (!store.ok()) {
      return Status::Corruption("the restored data does not open: " + store.status().ToString());
    }
    report.recovery_notes = (*store)->RecoveryNotes();
    for (const std::string& context : (*store)->Contexts()) {
      HOSTSTUB_ASSIGN_OR_RETURN(auto state, (*store)->State(context));
      branch_points.push_back(state);
    }
  }
  if (!context_) {
    // A restore from a continuous archive starts a new timeline: the host
    // then archives beside the history it came from, never into it. (A
    // per-context restore joins the live directory, which keeps its own.)
    HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(staging_ / "control.db"));
    if (newest_timeline_ > 0) {
      TimelineInfo info;
      info.timeline = newest_timeline_ + 1;
      info.history = EncodeTimelineHistory(info.timeline, restored_timeline_, NowMs(),
                                           "restore to " + point.Describe(), branch_points);
      HOSTSTUB_RETURN_IF_ERROR(db->SaveTimeline(info));
      report.branched_from = restored_timeline_;
    }
    HOSTSTUB_ASSIGN_OR_RETURN(auto timeline, db->LoadTimeline());
    report.timeline = timeline.timeline;
  }
  report.recovery_time = lap();
  report.check = CheckDataDir(staging_);
  report.check_time = lap();
  if (!report.check.ok()) {
    return Status::Corruption(
        fmt::format("the restored data fails the consistency check ({} violation(s)), first: {}",
                    report.check.violations.size(), report.check.violations.front()));
  }
  report.files = files_;
  report.bytes = bytes_;
  return Status::OK();
}

Result<RestoreReport> RestoreSink::CommitContext(StorageOptions options,
                                                 const ContextInstaller& install) {
  std::lock_guard lock(mu_);
  if (!context_) return Status::InvalidArgument("CommitContext on a whole-directory restore");
  HOSTSTUB_RETURN_IF_ERROR(CheckComplete());
  RestoreReport report;
  HOSTSTUB_RETURN_IF_ERROR(Prepare(std::move(options), &report));
  ContextSwapPlan plan;
  plan.context = context_->name();
  plan.staged = staging_ / "contexts" / plan.context;
  plan.keep_old_aside = policy_ == RestorePolicy::kForce;
  plan.source_newest_timeline = newest_timeline_;
  {
    HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(staging_ / "control.db"));
    HOSTSTUB_ASSIGN_OR_RETURN(plan.rows, db->ExportContext(plan.context));
  }
  HOSTSTUB_ASSIGN_OR_RETURN(report.previous_moved_to, install(plan));
  committed_ = true;
  report.data_dir = target_;
  report.context = plan.context;
  return report;
}

Result<RestoreReport> RestoreSink::Commit(StorageOptions options) {
  std::lock_guard lock(mu_);
  if (context_) return Status::InvalidArgument("Commit on a per-context restore");
  HOSTSTUB_RETURN_IF_ERROR(CheckComplete());
  RestoreReport report;
  HOSTSTUB_RETURN_IF_ERROR(Prepare(std::move(options), &report));
  std::error_code ec;
  HOSTSTUB_RETURN_IF_ERROR(CheckDataDirNotInUse(target_));
  if (fs::exists(target_, ec)) {
    if (IsEmptyDir(target_)) {
      fs::remove(target_, ec);
    } else if (policy_ == RestorePolicy::kSafe) {
      return Status::Refused(
          fmt::format("restore target '{}' was filled while the restore ran; nothing was changed",
                      target_.string()));
    } else {
      report.previous_moved_to = SetAsideName(target_);
      fs::rename(target_, report.previous_moved_to, ec);
      if (ec) {
        return Status::IOError(fmt::format("cannot move '{}' aside to '{}': {}", target_.string(),
                                           report.previous_moved_to.string(), ec.message()));
      }
    }
  }
  fs::rename(staging_, target_, ec);
  if (ec) {
    return Status::IOError(fmt::format("cannot move the restored data '{}' to '{}': {}",
                                       staging_.string(), target_.string(), ec.message()));
  }
  HOSTSTUB_RETURN_IF_ERROR(SyncDir(target_.parent_path()));
  committed_ = true;
  report.data_dir = target_;
  return report;
}

}  // namespace hoststub
