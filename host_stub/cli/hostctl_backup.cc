// hostctl backup create|list|verify|delete|expire: the running host's backup
// operations through its admin API (api/backup_routes.h). `create` follows
// the backup until it ends unless --detach; verify, delete and expire wait
// for the host's answer, which comes when the provider is done.
//
// Thread-safety: main thread only.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "cli/hostctl_common.h"

namespace hostctl {

using namespace hoststub;

namespace {

// Verify re-reads a whole repository and the host answers only at the end.
constexpr std::chrono::hours kLongCallTimeout{24};

struct BackupArgs {
  std::string provider;
  bool json = false;
  // create
  std::string type = "full";
  bool wait = false;  // queue behind a running operation; following is the default
  bool detach = false;
  bool no_progress = false;
  // verify, delete
  std::string backup_id;
  // expire
  uint32_t keep_last = 0;
  uint32_t keep_hourly = 0;
  uint32_t keep_daily = 0;
  uint32_t keep_weekly = 0;
  uint32_t keep_monthly = 0;
  std::string keep_newer_than;
  bool dry_run = false;  // delete, expire: say what would go
};

// The provider the host used, from its reply (the user may have left it to
// the host).
std::string ProviderOf(const AdminClient& client, const std::string& fallback) {
  nlohmann::json reply = nlohmann::json::parse(client.last_reply_body(), nullptr, false);
  if (reply.is_object()) {
    auto it = reply.find("provider");
    if (it != reply.end() && it->is_string()) return it->get<std::string>();
    auto op = reply.find("operation");
    if (op != reply.end() && op->is_object() && op->contains("provider")) {
      return op->at("provider").get<std::string>();
    }
  }
  return fallback;
}

// --wait: how long each start request queues on the host before it is
// repeated (the host allows at most 10 s per request).
constexpr std::chrono::milliseconds kQueueWaitPerRequest{10'000};

int RunCreate(const GlobalArgs& global, const BackupArgs& args) {
  AdminClient client = MakeClient(global);
  ApiResult<OperationInfo> started = client.StartBackup(args.provider, args.type);
  // --wait queues behind the running operation, however long it takes,
  // instead of failing; the host holds each later request up to 10 s. The
  // first asks without waiting, so the user learns at once what it waits for.
  if (args.wait && !started.ok() && client.last_reply_busy()) {
    if (!args.json) std::cerr << "hostctl: " << started.error().message << "; waiting for it\n";
    while (!started.ok() && client.last_reply_busy()) {
      started = client.StartBackup(args.provider, args.type, kQueueWaitPerRequest);
    }
  }
  if (!started.ok()) return Fail(started.error());
  if (args.detach) {
    if (args.json) {
      std::cout << client.last_reply_body() << '\n';
    } else {
      std::cout << fmt::format(
          "backup operation {} started via provider '{}' (`hostctl status` follows it, "
          "`hostctl cancel` stops it)\n",
          started->id, started->provider);
    }
    return kExitOk;
  }
  const ProgressStyle style = ChooseProgressStyle(args.no_progress, args.json);
  if (style == ProgressStyle::kLines) {
    std::cout << fmt::format("backup operation {} started via provider '{}' ({})\n", started->id,
                             started->provider, args.type)
              << std::flush;
  }
  ApiResult<OperationInfo> done = WaitForOperation(client, started->id, style);
  if (!done.ok()) return Fail(done.error());
  if (args.json) {
    std::cout << client.last_reply_body() << '\n';
  } else if (done->state == "succeeded") {
    std::cout << DescribeOutcome(*done) << '\n';
  } else {
    std::cerr << "hostctl: " << DescribeOutcome(*done) << '\n';
  }
  return done->state == "succeeded" ? kExitOk : kExitHostError;
}

void PrintBackupTable(const std::vector<BackupInfo>& backups) {
  std::vector<hoststub::BackupTableRow> rows;
  for (const BackupInfo& b : backups) {
    rows.push_back({b.id, b.type, b.created_ms, b.bytes, b.stored_bytes, b.files, b.parent,
                    b.details.is_null() ? 1u : hoststub::TimelineOfDetails(b.details.dump())});
  }
  hoststub::PrintBackupTable(std::cout, rows);
}

int RunList(const GlobalArgs& global, const BackupArgs& args) {
  AdminClient client = MakeClient(global, kLongCallTimeout);
  ApiResult<std::vector<BackupInfo>> backups = client.ListBackups(args.provider);
  if (!backups.ok()) return Fail(backups.error());
  if (args.json) {
    std::cout << client.last_reply_body() << '\n';
  } else if (backups->empty()) {
    std::cout << fmt::format("no backups via provider '{}'\n", ProviderOf(client, args.provider));
  } else {
    PrintBackupTable(*backups);
  }
  return kExitOk;
}

int RunVerify(const GlobalArgs& global, const BackupArgs& args) {
  AdminClient client = MakeClient(global, kLongCallTimeout);
  ApiResult<VerifyResult> result = client.VerifyBackups(args.provider, args.backup_id);
  if (!result.ok()) return Fail(result.error());
  if (args.json) {
    std::cout << client.last_reply_body() << '\n';
    return result->ok ? kExitOk : kExitHostError;
  }
  const std::string provider = result->operation ? result->operation->provider : args.provider;
  const std::string what =
      args.backup_id.empty() ? "all backups" : fmt::format("backup {}", args.backup_id);
  if (result->ok) {
    std::cout << fmt::format("verified {} via provider '{}': no problems\n", what, provider);
    return kExitOk;
  }
  for (const VerifyProblemInfo& p : result->problems) {
    std::cout << fmt::format("PROBLEM {}file {}: {} [{}]\n",
                             // The archive's problems belong to no backup.
                             p.backup_id.empty() ? "" : "backup " + p.backup_id + " ",
                             p.file.empty() ? "?" : p.file, p.message, p.status);
  }
  std::cout << fmt::format("verify of {} via provider '{}' found {} problem(s){}\n", what, provider,
                           result->problems.size(),
                           result->summary.empty() ? "" : ": " + result->summary);
  return kExitHostError;
}

int RunDelete(const GlobalArgs& global, const BackupArgs& args) {
  AdminClient client = MakeClient(global, kLongCallTimeout);
  if (args.dry_run) {
    ApiResult<BackupInfo> would = client.PlanDeleteBackup(args.provider, args.backup_id);
    if (!would.ok()) return Fail(would.error());
    if (args.json) {
      std::cout << client.last_reply_body() << '\n';
    } else {
      std::cout << fmt::format(
          "dry run: would delete backup {} ({}, created {}) via provider "
          "'{}'; nothing was deleted\n",
          would->id, would->type, FormatEpochMs(would->created_ms),
          ProviderOf(client, args.provider));
    }
    return kExitOk;
  }
  ApiResult<OperationInfo> deleted = client.DeleteBackup(args.provider, args.backup_id);
  if (!deleted.ok()) return Fail(deleted.error());
  if (args.json) {
    std::cout << client.last_reply_body() << '\n';
  } else {
    // The id the host resolved (`latest` or a prefix may have been given).
    std::cout << fmt::format("deleted backup {} via provider '{}'\n",
                             deleted->backup_id.empty() ? args.backup_id : deleted->backup_id,
                             deleted->provider);
  }
  return kExitOk;
}

int RunExpire(const GlobalArgs& global, const BackupArgs& args) {
  std::chrono::milliseconds age{0};
  if (!args.keep_newer_than.empty()) {
    std::optional<std::chrono::milliseconds> parsed = ParseDuration(args.keep_newer_than);
    if (!parsed || parsed->count() == 0) {
      return Usage(fmt::format(
          "--keep-newer-than '{}' is not a duration: use a number and a unit, e.g. 7d, 12h, "
          "30m, 45s",
          args.keep_newer_than));
    }
    age = *parsed;
  }
  AdminClient::ExpireRules rules;
  rules.keep_last = args.keep_last;
  rules.keep_hourly = args.keep_hourly;
  rules.keep_daily = args.keep_daily;
  rules.keep_weekly = args.keep_weekly;
  rules.keep_monthly = args.keep_monthly;
  rules.keep_newer_than = age;
  rules.dry_run = args.dry_run;
  if (rules.keep_last + rules.keep_hourly + rules.keep_daily + rules.keep_weekly +
              rules.keep_monthly ==
          0 &&
      age.count() == 0) {
    return Usage(
        "expire needs a rule: --keep-last, --keep-hourly, --keep-daily, --keep-weekly, "
        "--keep-monthly and/or --keep-newer-than (with none, every backup but the newest would "
        "be removed)");
  }
  AdminClient client = MakeClient(global, kLongCallTimeout);
  ApiResult<std::vector<BackupInfo>> removed = client.ExpireBackups(args.provider, rules);
  if (!removed.ok()) return Fail(removed.error());
  if (args.json) {
    std::cout << client.last_reply_body() << '\n';
    return kExitOk;
  }
  const std::string provider = ProviderOf(client, args.provider);
  if (removed->empty()) {
    std::cout << fmt::format("nothing to remove via provider '{}': every backup is kept\n",
                             provider);
    return kExitOk;
  }
  if (args.dry_run) {
    std::cout << fmt::format(
        "dry run: would remove {} backup(s) via provider '{}'; nothing was "
        "removed:\n",
        removed->size(), provider);
    for (const BackupInfo& b : *removed) {
      std::cout << fmt::format("  {}  created {}\n", b.id, FormatEpochMs(b.created_ms));
    }
    return kExitOk;
  }
  std::cout << fmt::format(
      "removed {} backup(s) via provider '{}' (and the data no remaining "
      "backup uses):\n",
      removed->size(), provider);
  for (const BackupInfo& b : *removed) {
    std::cout << fmt::format("  {}  created {}\n", b.id, FormatEpochMs(b.created_ms));
  }
  return kExitOk;
}

void AddProviderOption(CLI::App* cmd, BackupArgs& args) {
  cmd->add_option("--provider", args.provider,
                  "Backup provider (its name in the host config); may be left out when the host "
                  "has only one");
}

}  // namespace

Command AddBackupCommand(CLI::App& parent, const GlobalArgs& global) {
  auto args = std::make_shared<BackupArgs>();
  CLI::App* backup = parent.add_subcommand(
      "backup", "Create, list, verify, delete and expire backups of the running host");
  backup->require_subcommand(1);

  CLI::App* create = backup->add_subcommand(
      "create", "Take a hot backup through a provider and follow it until it ends");
  AddProviderOption(create, *args);
  create->add_option("--type", args->type, "Backup type")
      ->check(CLI::IsMember({"full", "incremental"}))
      ->capture_default_str();
  CLI::Option* wait = create->add_flag(
      "--wait", args->wait,
      "If another operation runs, wait for it to end and start then (instead of failing); then "
      "follow the backup, as by default");
  create->add_flag("--detach", args->detach, "Return once the backup has started")->excludes(wait);
  create->add_flag("--no-progress", args->no_progress, "Plain progress lines even on a terminal");
  create->add_flag("--json", args->json,
                   "Print the final operation (or, detached, the first) as "
                   "JSON, and no progress");

  CLI::App* list = backup->add_subcommand("list", "List a provider's backups, oldest first");
  AddProviderOption(list, *args);
  list->add_flag("--json", args->json, "Print the host's JSON reply");

  CLI::App* verify = backup->add_subcommand(
      "verify", "Re-read and re-check one backup, or all; exit 1 if any problem is found");
  AddProviderOption(verify, *args);
  verify->add_option("id", args->backup_id,
                     "Backup id, 'latest' or a unique prefix (default: every backup)");
  verify->add_flag("--json", args->json, "Print the host's JSON reply");

  CLI::App* del = backup->add_subcommand(
      "delete", "Delete one backup and the stored data no other backup uses");
  AddProviderOption(del, *args);
  del->add_option("id", args->backup_id, "Backup id, 'latest' or a unique prefix")->required();
  del->add_flag("--dry-run", args->dry_run, "Say what would be deleted; delete nothing");
  del->add_flag("--json", args->json, "Print the host's JSON reply");

  CLI::App* expire = backup->add_subcommand(
      "expire",
      "Apply a retention policy: keep the newest N, those newer than an age, and/or the newest "
      "of each recent hour, day, week, month (a backup any rule keeps stays, with its chain, "
      "and so does the newest); remove the rest");
  AddProviderOption(expire, *args);
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
  expire->add_flag("--json", args->json, "Print the host's JSON reply");

  return {backup, [&global, args, create, list, verify, del, expire] {
            if (create->parsed()) return RunCreate(global, *args);
            if (list->parsed()) return RunList(global, *args);
            if (verify->parsed()) return RunVerify(global, *args);
            if (del->parsed()) return RunDelete(global, *args);
            if (expire->parsed()) return RunExpire(global, *args);
            return Usage("backup needs a subcommand");
          }};
}

}  // namespace hostctl
