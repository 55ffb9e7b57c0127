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
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "backup/backup_runner.h"
#include "cli/hostd_command.h"
#include "cli/hostd_offline.h"
#include "storage/checker.h"

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
};

void PrintFailure(const RestoreArgs& args, const std::string& provider, const fs::path& target,
                  const Status& status) {
  const std::string what = fmt::format("restore of backup '{}' via provider '{}' into '{}'",
                                       args.backup_id, provider, target.string());
  switch (status.code()) {
    case Status::Code::kRefused:
      std::cerr << fmt::format(
          "hostd: {} refused: {}\n"
          "hostd: the safe policy (the default) never restores over a data directory that is "
          "not empty. Restore into an empty directory (--data-dir DIR), or pass --policy force: "
          "the current content is then moved aside, not deleted.\n",
          what, status.message());
      return;
    case Status::Code::kBusy:
      std::cerr << fmt::format(
          "hostd: {} refused: {}\nhostd: restore works on a stopped host only: stop the hostd "
          "that uses the directory, then run the restore again.\n",
          what, status.message());
      return;
    case Status::Code::kCancelled:
      std::cerr << fmt::format("hostd: {} cancelled; the data directory is as it was: {}\n", what,
                               status.message());
      return;
    default:
      std::cerr << fmt::format("hostd: {} failed; the data directory is as it was: {}\n", what,
                               status.ToString());
  }
}

int RunRestoreCommand(const RestoreArgs& args) {
  OfflineProvider loaded;
  if (int code = LoadOfflineProvider(args.config_file, args.provider, &loaded); code != kExitOk) {
    return code;
  }
  const LoadedProvider& provider = *loaded.provider;
  const fs::path target =
      args.data_dir.empty() ? loaded.config.storage.data_dir : fs::path(args.data_dir);
  StorageOptions options = loaded.config.storage;
  options.data_dir = target;
  const RestorePolicy policy =
      args.policy == "force" ? RestorePolicy::kForce : RestorePolicy::kSafe;

  std::cerr << fmt::format("hostd: restoring backup '{}' via provider '{}' into '{}' ({} policy)\n",
                           args.backup_id, provider.name(), target.string(), args.policy);
  ProgressLines progress("restore");
  bkp_operation op;
  op.on_progress = [&progress](const bkp_progress& p) { progress.Report(p); };
  Result<RestoreReport> report = [&] {
    CancelOnSignal cancel(op, "restore");
    const ProviderRef ref{provider.name(), provider.table(), provider.instance()};
    return RunRestore(ref, args.backup_id, target, policy, options, op);
  }();
  if (!report.ok()) {
    PrintFailure(args, provider.name(), target, report.status());
    return kExitProblemsFound;
  }

  std::cout << fmt::format("restored backup '{}' via provider '{}' into '{}': {} files, {}\n",
                           args.backup_id, provider.name(), report->data_dir.string(),
                           report->files, FormatBytes(report->bytes));
  if (!report->previous_moved_to.empty()) {
    std::cout << fmt::format(
        "the previous content of '{}' was moved to '{}' (remove it once the restored host is "
        "verified)\n",
        target.string(), report->previous_moved_to.string());
  }
  for (const std::string& note : report->recovery_notes) {
    std::cout << "recovery: " << note << '\n';
  }
  PrintCheckReport(report->check, std::cout);
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace

Command AddRestoreCommand(CLI::App& parent) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "restore",
      "Restore a backup into a stopped host's data directory (control DB, then log, then "
      "events), recover it and check it before it replaces the directory");
  cmd->add_option("--config", args->config_file,
                  "TOML config file; without it the built-in defaults apply");
  cmd->add_option("--provider", args->provider,
                  "Provider holding the backup (its config name); may be left out when only one "
                  "is configured");
  cmd->add_option("--backup", args->backup_id, "Id of the backup to restore")->required();
  cmd->add_option("--policy", args->policy,
                  "safe: refuse a data directory that is not empty; force: restore anyway and "
                  "move the old content aside")
      ->check(CLI::IsMember({"safe", "force"}))
      ->capture_default_str();
  cmd->add_option("--data-dir", args->data_dir,
                  "Restore into this directory instead of the config's [storage] data_dir");
  return {cmd, [args] { return RunRestoreCommand(*args); }};
}

}  // namespace hostd
