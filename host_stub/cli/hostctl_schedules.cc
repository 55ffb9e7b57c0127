// `hostctl schedules`: the host's [[schedules]], when each runs next, and
// how its last run went (GET /v1/schedules). Exits 1 when a schedule's
// last run failed, a failed restore drill above all, so a cron job or a
// monitoring check can alert on it.
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "cli/hostctl_common.h"
#include "util/human_format.h"

namespace hostctl {
namespace {

using nlohmann::json;

struct SchedulesArgs {
  bool json = false;
};

std::string WhenMs(const json& ms) {
  return ms.is_number_integer() ? hoststub::FormatEpochMs(ms.get<int64_t>()) : "never";
}

int RunSchedules(const GlobalArgs& global, const SchedulesArgs& args) {
  hoststub::AdminClient client = MakeClient(global);
  hoststub::ApiResult<json> reply = client.Call("GET", "/v1/schedules");
  if (!reply.ok()) return Fail(reply.error());
  const json& schedules = reply->at("schedules");
  bool failed = false;
  for (const json& s : schedules) {
    if (!s.at("last_run_ms").is_null() && !s.at("last_ok").get<bool>()) failed = true;
  }
  if (args.json) {
    std::cout << reply->dump() << '\n';
    return failed ? kExitHostError : kExitOk;
  }
  if (schedules.empty()) {
    std::cout << "no schedules: add [[schedules]] to the host config (docs/operations.md)\n";
    return kExitOk;
  }
  for (const json& s : schedules) {
    std::cout << fmt::format("{}: {} via provider '{}', {}; next {}\n",
                             s.at("name").get<std::string>(), s.at("kind").get<std::string>(),
                             s.at("provider").get<std::string>(), s.at("when").get<std::string>(),
                             WhenMs(s.at("next_due_ms")));
    if (s.at("last_run_ms").is_null()) continue;
    const bool ok = s.at("last_ok").get<bool>();
    std::string line =
        fmt::format("  last run {}: {}", WhenMs(s.at("last_run_ms")), ok ? "succeeded" : "FAILED");
    const json& drill = s.at("last_drill");
    if (!drill.is_null() && drill.at("ok").get<bool>()) {
      line += fmt::format(", backup {} restored in {:.1f} s and checked",
                          drill.at("backup_id").get<std::string>(),
                          static_cast<double>(drill.at("restore_ms").get<int64_t>()) / 1000.0);
    } else if (ok && !s.at("last_backup_id").get<std::string>().empty()) {
      line += ", backup " + s.at("last_backup_id").get<std::string>();
    }
    if (!ok) line += ": " + s.at("last_error").get<std::string>();
    std::cout << line << '\n';
  }
  return failed ? kExitHostError : kExitOk;
}

}  // namespace

Command AddSchedulesCommand(CLI::App& parent, const GlobalArgs& global) {
  auto args = std::make_shared<SchedulesArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "schedules",
      "Show the host's schedules and their last runs; exit 1 if a last run (a drill) failed");
  cmd->add_flag("--json", args->json, "Print the host's JSON reply");
  return {cmd, [&global, args] { return RunSchedules(global, *args); }};
}

}  // namespace hostctl
