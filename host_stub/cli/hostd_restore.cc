// `hostd restore`: restores one backup into a stopped host's data directory,
// offline. Loads the config and only the provider named, feeds the backup
// through the host's ordered restore sink into a staging directory, and
// swaps it in only after recovery and the consistency checker passed; then
// prints what it did. Progress lines go to stderr; SIGINT/SIGTERM cancel.
//
// Exit codes: 0 restored; 1 the restore was refused (safe policy, a running
// host holds the directory) or failed (the message names the provider, the
// backup and why); 2 usage or config error; 3 the plugin failed to load.
//
// Thread-safety: runs on the main thread (the provider may use its own).
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>

#include "backup/backup_ids.h"
#include "backup/backup_runner.h"
#include "backup/target_state.h"
#include "cli/hostd_command.h"
#include "cli/hostd_offline.h"
#include "plugin_host/provider_calls.h"
#include "storage/checker.h"
#include "storage/context_swap.h"
#include "storage/control_db.h"
#include "storage/data_dir_lock.h"
#include "util/log.h"
#include "util/utc_time.h"

namespace hostd {
namespace {

namespace fs = std::filesystem;
using namespace hoststub;

struct RestoreArgs {
  std::string config_file;
  std::string provider;
  std::string backup_id;
  std::string policy = "safe";
  std::string data_dir;
  std::optional<uint64_t> to_token;
  std::string to_time;     // RFC 3339 UTC, or ms since the epoch
  std::string context;     // set: restore this context only
  std::string as_context;  // with context: restore it under this name
  uint32_t timeline = 0;   // 0: the newest
};

// The point in time asked for, or a usage error.
Result<RestoreTarget> TargetOf(const RestoreArgs& args) {
  RestoreTarget t;
  if (args.to_token && !args.to_time.empty()) {
    return Status::InvalidArgument("--to-token and --to-time exclude each other");
  }
  if (!args.as_context.empty() && args.context.empty()) {
    return Status::InvalidArgument("--as names the restored copy of --context C: give --context");
  }
  if (args.to_token) {
    t.kind = RestoreTarget::Kind::kToken;
    t.token = *args.to_token;
    t.context = args.context;
  } else if (!args.to_time.empty()) {
    auto ms = ParseUtcMs(args.to_time);
    if (!ms) {
      return Status::InvalidArgument(fmt::format(
          "--to-time '{}' is not a UTC time like 2026-11-30T10:00:00Z (or .250Z), nor ms since "
          "the epoch",
          args.to_time));
    }
    t.kind = RestoreTarget::Kind::kTime;
    t.time_ms = *ms;
  }
  t.timeline = args.timeline;
  if (!t.set() && args.backup_id.empty()) {
    return Status::InvalidArgument(
        "say what to restore: --backup ID, or a point in time (--to-token N or --to-time T)");
  }
  return t;
}

// "backup 'X'", "backup 'X' to token 5 in context 'c'", "the point ...",
// "context 'c' of backup 'X'".
std::string WhatIsRestored(const RestoreArgs& args, const RestoreTarget& point) {
  const std::string of = args.context.empty() ? "" : fmt::format("context '{}' of ", args.context);
  if (!point.set()) return fmt::format("{}backup '{}'", of, args.backup_id);
  if (args.backup_id.empty()) return of + "the point " + point.Describe();
  return fmt::format("{}backup '{}' to {}", of, args.backup_id, point.Describe());
}

// What the refused target holds against the backup, as a line, or "".
std::string TargetStateLine(const RestoreArgs& args, const LoadedProvider& provider,
                            const fs::path& target) {
  std::string details;
  if (!args.backup_id.empty()) {
    auto backups = ListProviderBackups(provider);
    if (backups.ok()) {
      for (const BackupListing& b : *backups) {
        if (b.id == args.backup_id) details = b.details;
      }
    }
  }
  const std::string held = DescribeTargetAgainstBackup(target, args.backup_id, details);
  return held.empty() ? "" : fmt::format("'{}': {}.", target.string(), held);
}

void PrintFailure(const RestoreArgs& args, const RestoreTarget& point,
                  const LoadedProvider& provider, const fs::path& target, const Status& status) {
  const std::string what =
      fmt::format("restore of {} via provider '{}' into '{}'", WhatIsRestored(args, point),
                  provider.name(), target.string());
  switch (status.code()) {
    case Status::Code::kRefused: {
      LogError(fmt::format("{} refused: {}", what, status.message()));
      if (!args.context.empty()) return;  // the message says what to do
      const std::string held = TargetStateLine(args, provider, target);
      if (!held.empty()) LogError(held);
      LogError(
          "the safe policy (the default) never restores over a data directory that is not "
          "empty. Restore into an empty directory (--data-dir DIR), or pass --policy force: the "
          "current content is then moved aside, not deleted.");
      return;
    }
    case Status::Code::kBusy:
      LogError(fmt::format("{} refused: {}", what, status.message()));
      LogError(
          args.context.empty()
              ? "restore works on a stopped host only: stop the hostd that uses the directory, "
                "then run the restore again."
              : "hostd restore works on a stopped host only: restore the context into the "
                "running host with hostctl restore --context, or stop it first.");
      return;
    case Status::Code::kCancelled:
      LogError(
          fmt::format("{} cancelled; the data directory is as it was: {}", what, status.message()));
      return;
    default:
      LogError(
          fmt::format("{} failed; the data directory is as it was: {}", what, status.ToString()));
  }
}

void PrintRestored(const RestoreArgs& args, const RestoreTarget& point,
                   const LoadedProvider& provider, const fs::path& target,
                   const RestoreReport& report) {
  std::cout << fmt::format("restored {} via provider '{}' into '{}': {} files, {}\n",
                           WhatIsRestored(args, point), provider.name(), report.data_dir.string(),
                           report.files, FormatBytes(report.bytes));
  // Appends are whole: say where each context really ends.
  for (const CutReport& c : report.cut) {
    if (c.left_out) {
      std::cout << fmt::format(
          "point in time: context '{}' was created after the target: left out\n", c.context);
      continue;
    }
    std::cout << fmt::format("point in time: context '{}' ends at {} (log index {}){}\n", c.context,
                             c.last_token
                                 ? fmt::format("token {}, appended {}", *c.last_token,
                                               RestoreTarget{RestoreTarget::Kind::kTime, 0,
                                                             c.last_time_ms.value_or(0), "", 0}
                                                   .Describe())
                                 : std::string("no event"),
                             c.last_log_index, c.cut ? "" : "; nothing lay past the target");
  }
  if (!report.context.empty()) {
    std::cout << fmt::format("context '{}' is live in '{}'; the other contexts are as they were\n",
                             report.context, target.string());
    if (!report.previous_moved_to.empty()) {
      std::cout << fmt::format(
          "the previous context '{}' was moved to '{}' (remove it once the restored context is "
          "verified)\n",
          report.context, report.previous_moved_to.string());
    }
  } else if (report.branched_from) {
    std::cout << fmt::format(
        "timeline: the restored directory starts timeline {}, branching from timeline {}: once "
        "started, its host archives on timeline {} beside the history it came from\n",
        report.timeline, *report.branched_from, report.timeline);
  } else {
    std::cout << fmt::format("timeline: {} (as the restored control DB records it)\n",
                             report.timeline);
  }
  if (report.context.empty() && !report.previous_moved_to.empty()) {
    std::cout << fmt::format(
        "the previous content of '{}' was moved to '{}' (remove it once the restored host is "
        "verified)\n",
        target.string(), report.previous_moved_to.string());
  }
  std::cout << fmt::format(
      "after the last byte: sync {:.2f} s, cut {:.2f} s, recovery {:.2f} s, check {:.2f} s\n",
      report.sync_time.count(), report.cut_time.count(), report.recovery_time.count(),
      report.check_time.count());
  for (const std::string& note : report.recovery_notes) {
    std::cout << "recovery: " << note << '\n';
  }
  if (!report.context.empty()) {
    // The staging was checked; the checker now judges the whole directory.
    PrintCheckReport(CheckDataDir(target), std::cout);
  } else {
    PrintCheckReport(report.check, std::cout);
  }
  std::cout << std::flush;
}

// The data directory's lock, held for a per-context restore so that no host
// starts on the directory meanwhile.
struct HeldLock {
  int fd = -1;
  ~HeldLock() {
    if (fd >= 0) ::close(fd);
  }
};

// `hostd restore --context C`: the one context, into the stopped directory.
Result<RestoreReport> RestoreOneContext(const RestoreArgs& args, const RestoreTarget& point,
                                        const LoadedProvider& provider, const fs::path& target,
                                        const StorageOptions& options, RestorePolicy policy,
                                        bkp_operation& op) {
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot create the data directory '{}': {}", target.string(), ec.message()));
  }
  HeldLock lock;
  HOSTSTUB_ASSIGN_OR_RETURN(lock.fd, LockDataDir(target));
  HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(target / "control.db"));
  // A swap an earlier crash interrupted is finished before this one starts.
  std::vector<std::string> notes;
  HOSTSTUB_RETURN_IF_ERROR(RecoverContextSwap(target, *db, &notes));
  for (const std::string& note : notes) LogInfo("recovery: " + note);
  const ContextRestore what{args.context, args.as_context, policy};
  // Refused before the provider reads a byte; SwapInContext checks again.
  if (policy == RestorePolicy::kSafe && ContextExists(target, *db, what.name())) {
    return Status::Refused(
        fmt::format("context {} already exists; use --as NEW or --policy force", what.name()));
  }
  CancelOnSignal cancel(op, "restore");
  const ProviderRef ref{provider.name(), provider.table(), provider.instance()};
  return RunContextRestore(
      ref, args.backup_id, target, what, options, op, point,
      [&](const ContextSwapPlan& plan) { return SwapInContext(target, *db, plan); });
}

int RunRestoreCommand(const RestoreArgs& given) {
  RestoreArgs args = given;  // its backup id resolved once the provider is loaded
  auto point = TargetOf(args);
  if (!point.ok()) {
    LogError("restore: " + point.status().message());
    return kExitUsage;
  }
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  const LoadedProvider& provider = *loaded.provider;
  // `latest` or a unique prefix names one backup from here on.
  if (!args.backup_id.empty()) {
    Result<std::string> id = ResolveProviderBackupId(provider, args.backup_id);
    if (!id.ok()) {
      LogError("restore: " + id.status().message());
      return id.status().code() == Status::Code::kInvalidArgument ? kExitUsage : kExitProblemsFound;
    }
    args.backup_id = *id;
  }
  const fs::path target =
      args.data_dir.empty() ? loaded.config.storage.data_dir : fs::path(args.data_dir);
  StorageOptions options = loaded.config.storage;
  options.data_dir = target;
  const RestorePolicy policy =
      args.policy == "force" ? RestorePolicy::kForce : RestorePolicy::kSafe;

  LogInfo(fmt::format("restoring {} via provider '{}' into '{}' ({} policy)",
                      WhatIsRestored(args, *point), provider.name(), target.string(), args.policy));
  ProgressLines progress("restore");
  bkp_operation op;
  op.on_progress = [&progress](const bkp_progress& p) { progress.Report(p); };
  Result<RestoreReport> report = [&]() -> Result<RestoreReport> {
    if (!args.context.empty()) {
      return RestoreOneContext(args, *point, provider, target, options, policy, op);
    }
    CancelOnSignal cancel(op, "restore");
    const ProviderRef ref{provider.name(), provider.table(), provider.instance()};
    return RunRestore(ref, args.backup_id, target, policy, options, op, *point);
  }();
  if (!report.ok()) {
    PrintFailure(args, *point, provider, target, report.status());
    return kExitProblemsFound;
  }

  PrintRestored(args, *point, provider, target, *report);
  return kExitOk;
}

}  // namespace

Command AddRestoreCommand(CLI::App& parent) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "restore",
      "Restore a backup into a stopped host's data directory (control DB, then log, then "
      "events, then snapshots), recover it and check it before it replaces the directory");
  cmd->add_option("--config", args->config_file,
                  "TOML config file; without it the built-in defaults apply");
  cmd->add_option("--provider", args->provider,
                  "Provider holding the backup (its config name); may be left out when only one "
                  "is configured");
  cmd->add_option("--backup", args->backup_id,
                  "Backup to restore: an id, 'latest' or a unique prefix; with a point in time, "
                  "the provider may pick one");
  cmd->add_option("--to-token", args->to_token,
                  "Point in time: keep events up to this token (whole appends: an append the "
                  "token falls inside is left out), in --context or every context");
  cmd->add_option("--to-time", args->to_time,
                  "Point in time: keep events appended at or before this UTC time "
                  "(2026-11-30T10:00:00Z, or ms since the epoch), in every context");
  cmd->add_option("--context", args->context,
                  "Restore this context only, leaving the directory's other contexts as they "
                  "are (--to-token then counts in it)");
  cmd->add_option("--as", args->as_context,
                  "With --context: restore it under this name, beside the live one");
  cmd->add_option("--timeline", args->timeline,
                  "Restore along this timeline of the archive (each restore from it starts a "
                  "new one); default: the newest, the highest number")
      ->check(CLI::Range(1u, 0xfffffffeu));
  cmd->add_option("--policy", args->policy,
                  "safe: refuse a data directory that is not empty (with --context: a context "
                  "that exists); force: restore anyway and move the old content aside")
      ->check(CLI::IsMember({"safe", "force"}))
      ->capture_default_str();
  cmd->add_option("--data-dir", args->data_dir,
                  "Restore into this directory instead of the config's [storage] data_dir");
  return {cmd, [args] { return RunRestoreCommand(*args); }};
}

}  // namespace hostd
