// `hostd check`: verifies the invariants of a stopped host's data directory
// (read-only). Exit 0 when healthy, 1 with violations, 2 when the directory
// is missing.
//
// Thread-safety: runs on the main thread.
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "cli/hostd_command.h"
#include "storage/checker.h"
#include "util/log.h"

namespace hostd {
namespace {

namespace fs = std::filesystem;

struct CheckArgs {
  std::string data_dir;
};

int RunCheck(const CheckArgs& args) {
  std::error_code ec;
  if (!fs::is_directory(args.data_dir, ec)) {
    hoststub::LogError(
        fmt::format("data directory '{}' {} (pass the data_dir of a stopped hostd)", args.data_dir,
                    fs::exists(args.data_dir, ec) ? "is not a directory" : "does not exist"));
    return kExitUsage;
  }
  hoststub::CheckReport report = hoststub::CheckDataDir(args.data_dir);
  hoststub::PrintCheckReport(report, std::cout);
  std::cout << std::flush;
  return report.ok() ? kExitOk : kExitProblemsFound;
}

}  // namespace

Command AddCheckCommand(CLI::App& parent) {
  auto args = std::make_shared<CheckArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "check", "Verify the invariants of a stopped host's data directory (read-only)");
  cmd->add_option("--data-dir", args->data_dir, "Data directory to check")->required();
  return {cmd, [args] { return RunCheck(*args); }};
}

}  // namespace hostd
