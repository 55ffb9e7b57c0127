// `hostd backup list|verify|create|repair|delete|expire|locks|unlock`: a
// provider's backups without a running host. Each loads the config and only
// the provider named.
// list and verify only read the repository (verify also sets damaged
// objects aside), so they may run beside a live host; create and repair (a
// verify, a full backup, a verify) open the data directory themselves, so
// the host must be stopped (a running one holds its lock); delete and expire
// refuse while the config's host runs, because a backup it is taking may be
// writing data that no manifest references yet, which garbage collection
// would take away.
// Other hosts and configs on the same repository are kept apart by the
// repository's own locks (a refusal names the holder, BKP_E_BUSY); `locks`
// shows them and `unlock` removes those left stale by a crash.
//
// Exit codes: 0 ok; 1 the provider reported a failure, verify found a
// problem, or the host is running; 2 usage or config error; 3 the plugin
// failed to load or the data directory failed to open.
//
// Thread-safety: runs on the main thread (the provider may use its own).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "api/backup_routes.h"
#include "backup/backup_ids.h"
#include "backup/backup_runner.h"
#include "backup/coordinator.h"
#include "backup/retention_tiers.h"
#include "cli/hostd_command.h"
#include "cli/hostd_offline.h"
#include "plugin_host/abi_status.h"
#include "plugin_host/provider_calls.h"
#include "storage/event_store.h"
#include "util/log.h"
#include "util/utc_time.h"

namespace hostd {
namespace {

using namespace hoststub;

struct BackupArgs {
  std::string config_file;
  std::string provider;
  bool json = false;
  std::string type = "full";    // create
  std::string data_dir;         // create
  std::string backup_id;        // verify, delete
  uint32_t keep_last = 0;       // expire
  uint32_t keep_hourly = 0;     // expire
  uint32_t keep_daily = 0;      // expire
  uint32_t keep_weekly = 0;     // expire
  uint32_t keep_monthly = 0;    // expire
  std::string keep_newer_than;  // expire
  bool dry_run = false;         // delete, expire
};

void PrintTable(const std::vector<BackupListing>& backups) {
  std::vector<hoststub::BackupTableRow> rows;
  for (const BackupListing& b : backups) {
    rows.push_back({b.id, BackupTypeName(b.type), b.created_ms, b.bytes, b.stored_bytes, b.files,
                    b.parent_id, hoststub::TimelineOfDetails(b.details)});
  }
  hoststub::PrintBackupTable(std::cout, rows);
}

int ProviderFailed(const Status& status) {
  LogError(status.ToString());
  return kExitProblemsFound;
}

// Delete and expire must not race a backup the running host is taking.
bool RefuseWhileHostRuns(const OfflineProvider& loaded, const char* command) {
  Status in_use = CheckDataDirNotInUse(loaded.config.storage.data_dir);
  if (in_use.ok()) return false;
  LogError(fmt::format(
      "backup {} refused: the host of {} is running ({}). Use `hostctl backup {} "
      "--provider {}` against it, so it cannot race a backup in progress, or stop it first",
      command, loaded.config.source, in_use.message(), command, loaded.provider->name()));
  return true;
}

int RunList(const BackupArgs& args) {
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  Result<std::vector<BackupListing>> backups = ListProviderBackups(*loaded.provider);
  if (!backups.ok()) return ProviderFailed(backups.status());
  if (args.json) {
    nlohmann::json list = nlohmann::json::array();
    for (const BackupListing& b : *backups) list.push_back(BackupListingJson(b));
    std::cout << nlohmann::json{{"provider", loaded.provider->name()}, {"backups", list}}.dump()
              << '\n';
  } else if (backups->empty()) {
    std::cout << fmt::format("no backups via provider '{}'\n", loaded.provider->name());
  } else {
    PrintTable(*backups);
  }
  return kExitOk;
}

int RunVerify(const BackupArgs& args) {
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  const std::string name = loaded.provider->name();
  ProgressLines progress("verify");
  bkp_operation op;
  op.on_progress = [&progress](const bkp_progress& p) { progress.Report(p); };
  Result<VerifyReport> report = [&]() -> Result<VerifyReport> {
    std::string id;
    if (!args.backup_id.empty()) {
      HOSTSTUB_ASSIGN_OR_RETURN(id, ResolveProviderBackupId(*loaded.provider, args.backup_id));
    }
    CancelOnSignal cancel(op, "verify");
    return VerifyProviderBackups(*loaded.provider, id, &op);
  }();
  if (!report.ok()) return ProviderFailed(report.status());
  if (args.json) {
    nlohmann::json problems = nlohmann::json::array();
    for (const VerifyProblem& p : report->problems) problems.push_back(VerifyProblemJson(p));
    std::cout << nlohmann::json{{"ok", report->ok()},
                                {"problems", problems},
                                {"summary", report->summary}}
                     .dump()
              << '\n';
    return report->ok() ? kExitOk : kExitProblemsFound;
  }
  const std::string what =
      args.backup_id.empty() ? "all backups" : fmt::format("backup {}", args.backup_id);
  if (report->ok()) {
    std::cout << fmt::format("verified {} via provider '{}': no problems\n", what, name);
    return kExitOk;
  }
  for (const VerifyProblem& p : report->problems) {
    std::cout << fmt::format("PROBLEM {}file {}: {} [{}]\n",
                             // The archive's problems belong to no backup.
                             p.backup_id.empty() ? "" : "backup " + p.backup_id + " ",
                             p.file.empty() ? "?" : p.file, p.message, BkpStatusName(p.status));
  }
  std::cout << fmt::format("verify of {} via provider '{}' found {} problem(s)\n", what, name,
                           report->problems.size());
  return kExitProblemsFound;
}

int RunCreate(const BackupArgs& args) {
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  StorageOptions options = loaded.config.storage;
  if (!args.data_dir.empty()) options.data_dir = args.data_dir;
  const LoadedProvider& provider = *loaded.provider;
  ProgressLines progress("backup");
  bkp_operation op;
  op.on_progress = [&progress](const bkp_progress& p) { progress.Report(p); };
  // Before the store starts its threads, which would otherwise take
  // SIGINT and SIGTERM with their default action: death, not a cancel.
  CancelOnSignal cancel(op, "backup");
  std::unique_ptr<EventStore> store;
  if (int code = OpenOfflineStore(
          options, "create",
          fmt::format(". Take the backup through it: `hostctl backup create --provider {}`",
                      provider.name()),
          &store);
      code != kExitOk) {
    return code;
  }
  const uint32_t type = args.type == "incremental" ? BKP_BACKUP_INCREMENTAL : BKP_BACKUP_FULL;
  const ProviderRef ref{provider.name(), provider.table(), provider.instance()};
  Result<BackupOutcome> outcome = RunBackup(*store, ref, type, op);
  if (!outcome.ok()) return ProviderFailed(outcome.status());
  std::cout << fmt::format(
      "backup {} created via provider '{}': {} files, {} read, {} newly stored, in {:.1f} s\n",
      outcome->backup_id, provider.name(), outcome->files_listed, FormatBytes(outcome->bytes_read),
      FormatBytes(outcome->bytes_stored), outcome->elapsed.count());
  return kExitOk;
}

// Verify's problem saying that another operation held the repository, so
// the damaged objects it found stay in place, recorded as damaged (pending)
// rather than set aside: a note on the damage, not damage itself.
bool IsDeferredSetAside(const VerifyProblem& problem) { return problem.status == BKP_E_BUSY; }

size_t DamageFound(const VerifyReport& report) {
  return static_cast<size_t>(
      std::count_if(report.problems.begin(), report.problems.end(),
                    [](const VerifyProblem& p) { return !IsDeferredSetAside(p); }));
}

// Verify (which sets damaged objects aside), then a full backup of the
// stopped host, which first stores again every lost or damaged object whose
// bytes the host still holds, then verify again: what stays damaged, and
// why. Another operation on the repository (another host's backup, say) is
// no reason to refuse: verify moves objects only under the repository's
// exclusive lock, so it then records the damage in place instead (a pending
// record), which no backup reuses and which this backup writes over from
// the host's bytes; the last verify names what is still damaged.
int RunRepair(const BackupArgs& args) {
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  StorageOptions options = loaded.config.storage;
  if (!args.data_dir.empty()) options.data_dir = args.data_dir;
  const LoadedProvider& provider = *loaded.provider;
  ProgressLines progress("repair");
  bkp_operation op;
  op.on_progress = [&progress](const bkp_progress& p) { progress.Report(p); };
  CancelOnSignal cancel(op, "repair");
  // The host's data first: a running host refuses before anything moves.
  std::unique_ptr<EventStore> store;
  if (int code = OpenOfflineStore(options, "repair",
                                  "; stop it first (a repair reads the host's files to store lost "
                                  "data again)",
                                  &store);
      code != kExitOk) {
    return code;
  }
  Result<VerifyReport> before = VerifyProviderBackups(provider, "", &op);
  if (!before.ok()) return ProviderFailed(before.status());
  const ProviderRef ref{provider.name(), provider.table(), provider.instance()};
  Result<BackupOutcome> outcome = RunBackup(*store, ref, BKP_BACKUP_FULL, op);
  if (!outcome.ok()) return ProviderFailed(outcome.status());
  Result<VerifyReport> after = VerifyProviderBackups(provider, "", &op);
  if (!after.ok()) return ProviderFailed(after.status());
  std::cout << fmt::format(
      "repair via provider '{}': verify found {} problem(s); backup {} stored again what the "
      "host still holds; {} problem(s) remain\n",
      provider.name(), DamageFound(*before), outcome->backup_id, DamageFound(*after));
  if (after->ok()) {
    std::cout << "every backup and the archive verify\n";
    return kExitOk;
  }
  std::set<std::string> damaged;
  for (const VerifyProblem& p : after->problems) {
    if (IsDeferredSetAside(p)) {
      std::cout << fmt::format("NOT SET ASIDE YET {}: {}\n", p.file, p.message);
      continue;
    }
    std::cout << fmt::format("STILL DAMAGED {}file {}: {} [{}]\n",
                             p.backup_id.empty() ? "" : "backup " + p.backup_id + " ",
                             p.file.empty() ? "?" : p.file, p.message, BkpStatusName(p.status));
    damaged.insert(p.backup_id.empty() ? std::string("the archive") : "backup " + p.backup_id);
  }
  std::string list;
  for (const auto& d : damaged) list += (list.empty() ? "" : ", ") + d;
  std::cout << fmt::format(
      "{} remain(s) damaged: the host no longer holds those bytes (the warnings above say "
      "why); backup {} is whole\n",
      list, outcome->backup_id);
  return kExitProblemsFound;
}

int RunDelete(const BackupArgs& args) {
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  Result<std::string> id = ResolveProviderBackupId(*loaded.provider, args.backup_id);
  if (!id.ok()) return ProviderFailed(id.status());
  if (args.dry_run) {
    // What the engine would refuse, refused here too: a parent of incrementals.
    Result<std::vector<BackupListing>> all = ListProviderBackups(*loaded.provider);
    if (!all.ok()) return ProviderFailed(all.status());
    for (const BackupListing& b : *all) {
      if (b.parent_id == *id) {
        return ProviderFailed(Status::Refused(fmt::format(
            "backup '{}' is the parent of incremental backup '{}', which needs it to restore: "
            "delete that first",
            *id, b.id)));
      }
    }
    std::cout << fmt::format(
        "dry run: would delete backup {} via provider '{}'; nothing was "
        "deleted\n",
        *id, loaded.provider->name());
    return kExitOk;
  }
  if (RefuseWhileHostRuns(loaded, "delete")) return kExitProblemsFound;
  Status deleted = DeleteProviderBackup(*loaded.provider, *id);
  if (!deleted.ok()) return ProviderFailed(deleted);
  std::cout << fmt::format("deleted backup {} via provider '{}'\n", *id, loaded.provider->name());
  return kExitOk;
}

int RunExpire(const BackupArgs& args) {
  RetentionPolicy policy;
  policy.keep_last = args.keep_last;
  if (!args.keep_newer_than.empty()) {
    std::optional<std::chrono::milliseconds> age = ParseDuration(args.keep_newer_than);
    if (!age || age->count() == 0) {
      LogError(
          fmt::format("--keep-newer-than '{}' is not a duration: use a number and a unit, e.g. 7d, "
                      "12h, 30m, 45s",
                      args.keep_newer_than));
      return kExitUsage;
    }
    policy.keep_newer_than = *age;
  }
  policy.keep_hourly = args.keep_hourly;
  policy.keep_daily = args.keep_daily;
  policy.keep_weekly = args.keep_weekly;
  policy.keep_monthly = args.keep_monthly;
  policy.dry_run = args.dry_run;
  if (policy.keep_last == 0 && policy.keep_newer_than.count() == 0 && !HasRetentionTiers(policy)) {
    LogError(
        "expire needs a rule: --keep-last, --keep-hourly, --keep-daily, --keep-weekly, "
        "--keep-monthly and/or --keep-newer-than (with none, every backup but the newest would "
        "be removed)");
    return kExitUsage;
  }
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  if (!policy.dry_run && RefuseWhileHostRuns(loaded, "expire")) return kExitProblemsFound;
  Result<std::vector<BackupListing>> removed =
      ApplyRetention(*loaded.provider, policy, std::chrono::system_clock::now());
  if (!removed.ok()) return ProviderFailed(removed.status());
  if (removed->empty()) {
    std::cout << fmt::format("nothing to remove via provider '{}': every backup is kept\n",
                             loaded.provider->name());
    return kExitOk;
  }
  if (policy.dry_run) {
    std::cout << fmt::format(
        "dry run: would remove {} backup(s) via provider '{}'; nothing was removed:\n",
        removed->size(), loaded.provider->name());
    for (const BackupListing& b : *removed) {
      std::cout << fmt::format("  {}  created {}\n", b.id, FormatEpochMs(b.created_ms));
    }
    return kExitOk;
  }
  std::cout << fmt::format(
      "removed {} backup(s) via provider '{}' (and the data no remaining backup uses):\n",
      removed->size(), loaded.provider->name());
  for (const BackupListing& b : *removed) {
    std::cout << fmt::format("  {}  created {}\n", b.id, FormatEpochMs(b.created_ms));
  }
  return kExitOk;
}

std::string DescribeLock(const RepositoryLockInfo& lock, int64_t now_ms) {
  if (lock.operation.empty()) return fmt::format("{}: unreadable", lock.id);
  return fmt::format("{} ({}): {} on host '{}' (pid {}) since {}, refreshed {} s ago", lock.id,
                     lock.exclusive ? "exclusive" : "shared", lock.operation, lock.host, lock.pid,
                     FormatEpochMs(lock.since_ms),
                     std::max<int64_t>(0, now_ms - lock.refreshed_ms) / 1000);
}

// `locks` lists; `unlock` removes the stale ones and lists what stays.
int RunLocks(const BackupArgs& args, bool unlock) {
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  const std::string name = loaded.provider->name();
  Result<std::vector<RepositoryLockInfo>> locks = ProviderRepositoryLocks(*loaded.provider, unlock);
  if (!locks.ok()) return ProviderFailed(locks.status());
  const int64_t now = NowMs();
  size_t removed = 0;
  size_t stale_kept = 0;
  for (const RepositoryLockInfo& lock : *locks) {
    if (lock.removed) {
      ++removed;
      std::cout << fmt::format("removed stale lock {} [{}]\n", DescribeLock(lock, now), lock.stale);
    } else if (!lock.stale.empty()) {
      ++stale_kept;
      std::cout << fmt::format("STALE {} [{}]\n", DescribeLock(lock, now), lock.stale);
    } else {
      std::cout << fmt::format("live {}\n", DescribeLock(lock, now));
    }
  }
  const size_t live = locks->size() - removed - stale_kept;
  if (locks->empty()) {
    std::cout << fmt::format("no locks on the repository of provider '{}'\n", name);
  } else if (unlock) {
    std::cout << fmt::format(
        "removed {} stale lock(s) via provider '{}'; {} live lock(s) kept: each goes when its "
        "operation ends\n",
        removed, name, live);
  } else if (stale_kept > 0) {
    std::cout << fmt::format(
        "{} stale lock(s) block the operations they conflict with: if those operations no longer "
        "run, remove them with `hostd backup unlock --provider {}`\n",
        stale_kept, name);
  }
  return kExitOk;
}

CLI::App* AddSub(CLI::App* parent, const char* name, const char* description, BackupArgs& args) {
  CLI::App* cmd = parent->add_subcommand(name, description);
  cmd->add_option("--config", args.config_file,
                  "TOML config file; without it the built-in defaults apply");
  cmd->add_option("--provider", args.provider,
                  "Provider (its config name); may be left out when only one is configured");
  return cmd;
}

}  // namespace

Command AddBackupCommand(CLI::App& parent) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* backup = parent.add_subcommand(
      "backup",
      "Backups without a running host: list, verify, create, repair, delete, expire, locks, "
      "unlock");
  backup->require_subcommand(1);

  CLI::App* list = AddSub(backup, "list", "List a provider's backups, oldest first", *args);
  list->add_flag("--json", args->json, "Print JSON");

  CLI::App* verify = AddSub(
      backup, "verify", "Re-read and re-check one backup, or all; exit 1 on any problem", *args);
  verify->add_option("id", args->backup_id,
                     "Backup id, 'latest' or a unique prefix (default: every backup)");
  verify->add_flag("--json", args->json, "Print JSON");

  CLI::App* create =
      AddSub(backup, "create", "Back up a stopped host's data directory through a provider", *args);
  create->add_option("--type", args->type, "Backup type")
      ->check(CLI::IsMember({"full", "incremental"}))
      ->capture_default_str();
  create->add_option("--data-dir", args->data_dir,
                     "Data directory (overrides the config's [storage] data_dir)");

  CLI::App* repair =
      AddSub(backup, "repair",
             "Verify, then store again from the stopped host the damaged or missing data it still "
             "holds; exit 1 naming what stays damaged",
             *args);
  repair->add_option("--data-dir", args->data_dir,
                     "Data directory (overrides the config's [storage] data_dir)");

  CLI::App* del =
      AddSub(backup, "delete", "Delete one backup and the stored data no other backup uses", *args);
  del->add_option("id", args->backup_id, "Backup id, 'latest' or a unique prefix")->required();
  del->add_flag("--dry-run", args->dry_run, "Say what would be deleted; delete nothing");

  CLI::App* expire = AddSub(
      backup, "expire",
      "Apply a retention policy: keep the newest N and/or those newer than an age (and always "
      "the newest); remove the rest and the data only they used",
      *args);
  expire->add_option("--keep-last", args->keep_last, "Keep the newest N backups")
      ->check(CLI::Range(1u, UINT32_MAX));
  expire->add_option("--keep-newer-than", args->keep_newer_than,
                     "Keep backups younger than this age: 7d, 12h, 30m, 45s, 2w");
  for (auto [flag, field, period] : {std::tuple{"--keep-hourly", &args->keep_hourly, "hours"},
                                     std::tuple{"--keep-daily", &args->keep_daily, "days"},
                                     std::tuple{"--keep-weekly", &args->keep_weekly, "ISO weeks"},
                                     std::tuple{"--keep-monthly", &args->keep_monthly, "months"}}) {
    expire
        ->add_option(flag, *field,
                     fmt::format("Keep the newest backup of each of the N most recent {} (UTC) "
                                 "that have one",
                                 period))
        ->check(CLI::Range(1u, UINT32_MAX));
  }
  expire->add_flag("--dry-run", args->dry_run, "Say what would be removed; remove nothing");

  CLI::App* locks =
      AddSub(backup, "locks", "Show the locks on the provider's repository, live and stale", *args);
  CLI::App* unlock =
      AddSub(backup, "unlock",
             "Remove the stale locks on the provider's repository (their process is gone, or they "
             "were not refreshed in time); live ones stay",
             *args);

  return {backup, [args, list, verify, create, repair, del, expire, locks, unlock] {
            if (list->parsed()) return RunList(*args);
            if (verify->parsed()) return RunVerify(*args);
            if (create->parsed()) return RunCreate(*args);
            if (repair->parsed()) return RunRepair(*args);
            if (del->parsed()) return RunDelete(*args);
            if (expire->parsed()) return RunExpire(*args);
            if (locks->parsed()) return RunLocks(*args, false);
            if (unlock->parsed()) return RunLocks(*args, true);
            return static_cast<int>(kExitUsage);
          }};
}

}  // namespace hostd
