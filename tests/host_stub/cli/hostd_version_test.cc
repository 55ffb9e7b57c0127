// `hostd --version` and `hostctl --version`, run as the real binaries: the
// project version, the commit of the source tree (asked of git here, not
// of the build) and the plugin ABI; and `hostd restore --help`'s statement
// of the role order.
// Single-threaded.
#include <filesystem>
#include <string>

#include <doctest/doctest.h>

#include "bkp/bkp_plugin.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;

TEST_CASE("--version: hostd and hostctl name the version, the git commit and the plugin ABI") {
  ts::CommandResult git =
      ts::RunCommand({"git", "-C", BKP_SOURCE_DIR, "rev-parse", "--short=12", "HEAD"});
  // Outside a checkout (a source tarball) the build says "unknown".
  const std::string commit = git.exit_code == 0 && git.output.size() > 1
                                 ? git.output.substr(0, git.output.size() - 1)
                                 : std::string("unknown");
  for (const std::string binary : {HOSTD_BIN, HOSTCTL_BIN}) {
    const ts::CommandResult r = ts::RunCommand({binary, "--version"});
    INFO(r.output);
    CHECK(r.exit_code == 0);
    CHECK(r.output == fs::path(binary).filename().string() + " " + BKP_PROJECT_VERSION +
                          " (commit " + commit + ", plugin ABI " +
                          std::to_string(BKP_ABI_VERSION_MAJOR) + "." +
                          std::to_string(BKP_ABI_VERSION_MINOR) + ")\n");
  }
}

TEST_CASE("hostd restore --help states the role order bkp_plugin.h states, snapshots included") {
  const ts::CommandResult r = ts::RunCommand({HOSTD_BIN, "restore", "--help"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("control DB, then log, then events, then snapshots") != std::string::npos);
}
