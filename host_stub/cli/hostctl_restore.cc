// hostctl restore: restores one context of a backup (or a point in time)
// into the running host through its admin API (POST /v1/restores, role
// admin), and follows the operation with the same progress as `hostctl
// backup create`. The host swaps the context in atomically at the end;
// its appends are refused meanwhile, other contexts keep serving.
//
// Thread-safety: main thread only.
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "cli/hostctl_common.h"
#include "util/utc_time.h"

namespace hostctl {

using namespace hoststub;

namespace {

struct RestoreArgs {
  std::string provider;
  std::string backup_id;
  std::string context;
  std::string as_context;
  std::optional<uint64_t> to_token;
  std::string to_time;
  std::string policy = "safe";
  uint32_t timeline = 0;
  bool detach = false;
  bool no_progress = false;
  bool json = false;
};

int RunRestore(const GlobalArgs& global, const RestoreArgs& args) {
  nlohmann::json body = {{"context", args.context}, {"policy", args.policy}};
  if (!args.provider.empty()) body["provider"] = args.provider;
  if (!args.backup_id.empty()) body["backup_id"] = args.backup_id;
  if (!args.as_context.empty()) body["as"] = args.as_context;
  if (args.timeline != 0) body["timeline"] = args.timeline;
  if (args.to_token) body["to_token"] = *args.to_token;
  if (!args.to_time.empty()) {
    const std::optional<int64_t> ms = ParseUtcMs(args.to_time);
    if (!ms || *ms < 0) {
      return Usage(fmt::format(
          "--to-time '{}' is not a UTC time like 2026-11-30T10:00:00Z (or .250Z), nor ms since "
          "the epoch",
          args.to_time));
    }
    body["to_time_ms"] = *ms;
  }
  if (args.backup_id.empty() && !args.to_token && args.to_time.empty()) {
    return Usage("say what to restore: --backup ID, or a point in time (--to-token or --to-time)");
  }
  AdminClient client = MakeClient(global);
  ApiResult<OperationInfo> started = client.StartRestore(body);
  if (!started.ok()) return Fail(started.error());
  const std::string name = args.as_context.empty() ? args.context : args.as_context;
  if (args.detach) {
    if (args.json) {
      std::cout << client.last_reply_body() << '\n';
    } else {
      std::cout << fmt::format(
          "restore operation {} of context '{}' started via provider '{}' (`hostctl status` "
          "follows it, `hostctl cancel` stops it)\n",
          started->id, name, started->provider);
    }
    return kExitOk;
  }
  const ProgressStyle style = ChooseProgressStyle(args.no_progress, args.json);
  if (style == ProgressStyle::kLines) {
    std::cout << fmt::format("restore operation {} of context '{}' started via provider '{}'\n",
                             started->id, name, started->provider)
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

}  // namespace

Command AddRestoreCommand(CLI::App& parent, const GlobalArgs& global) {
  auto args = std::make_shared<RestoreArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "restore",
      "Restore one context of a backup into the running host: staged, recovered and checked, "
      "then swapped in atomically; other contexts keep serving");
  cmd->add_option("--provider", args->provider,
                  "Backup provider (its name in the host config); may be left out when the host "
                  "has only one");
  cmd->add_option("--backup", args->backup_id,
                  "Id of the backup; with a point in time, the provider may pick one");
  cmd->add_option("--context", args->context, "The context to restore")->required();
  cmd->add_option("--as", args->as_context,
                  "Restore it under this name, beside the live one (for inspection)");
  CLI::Option* token =
      cmd->add_option("--to-token", args->to_token,
                      "Point in time: keep the context's events up to this token (whole appends)");
  cmd->add_option("--to-time", args->to_time,
                  "Point in time: keep events appended at or before this UTC time "
                  "(2026-11-30T10:00:00Z, or ms since the epoch)")
      ->excludes(token);
  cmd->add_option("--timeline", args->timeline,
                  "Restore along this timeline of the archive; default: the newest")
      ->check(CLI::Range(1u, 0xfffffffeu));
  cmd->add_option("--policy", args->policy,
                  "safe: refuse a context that exists; force: restore anyway and keep the old "
                  "context aside")
      ->check(CLI::IsMember({"safe", "force"}))
      ->capture_default_str();
  cmd->add_flag("--detach", args->detach, "Return once the restore has started");
  cmd->add_flag("--no-progress", args->no_progress, "Plain progress lines even on a terminal");
  cmd->add_flag("--json", args->json,
                "Print the final operation (or, detached, the first) as JSON, and no progress");
  return {cmd, [&global, args] { return RunRestore(global, *args); }};
}

}  // namespace hostctl
