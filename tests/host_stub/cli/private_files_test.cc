// What hostd creates is private to its user whatever umask it inherits
// (issue 18): a host started under umask 000 with a local_disk provider,
// after appends and a backup, has no file or directory in its data
// directory or repository that its group or others can read.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>
#include <vector>

#include "host_stub/hostd_process.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;

TEST_CASE("private files: hostd under umask 000 creates data and repository 0700/0600") {
  ts::TempDir dir;
  const fs::path config = dir / "host.toml";
  const fs::path port_file = dir / "port";
  ts::WriteFile(config, "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) +
                            "'\n[storage]\ndata_dir = '" + (dir / "data").string() +
                            "'\n[server]\nport = 0\n[[providers]]\nname = 'local'\nplugin = "
                            "'local_disk'\n[providers.settings]\npath = '" +
                            (dir / "backups").string() + "'\n");
  ts::ChildProcess host({"/bin/sh", "-c",
                         "umask 000; exec '" HOSTD_BIN "' serve --config '" + config.string() +
                             "' --port-file '" + port_file.string() + "'"},
                        dir / "hostd.log");
  std::string port = ts::WaitForFile(port_file, hostd_process::kStartTimeoutMs);
  REQUIRE_MESSAGE(!port.empty(), ts::ReadFile(dir / "hostd.log"));
  port.pop_back();
  auto ctl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {HOSTCTL_BIN, "--port", port});
    return ts::RunCommand(args);
  };
  REQUIRE(ctl({"append", "--context", "orders", "--count", "50"}).exit_code == 0);
  const ts::CommandResult backup = ctl({"backup", "create", "--provider", "local", "--wait"});
  INFO(backup.output);
  REQUIRE(backup.exit_code == 0);
  CHECK(host.Stop(SIGTERM) == 0);

  size_t checked = 0;
  for (const fs::path& top : {dir / "data", dir / "backups"}) {
    std::vector<fs::path> paths{top};
    for (const auto& entry : fs::recursive_directory_iterator(top)) paths.push_back(entry.path());
    for (const fs::path& p : paths) {
      struct stat st {};
      REQUIRE(::lstat(p.c_str(), &st) == 0);
      CAPTURE(p);
      CAPTURE(st.st_mode);
      CHECK((st.st_mode & 077) == 0);
      ++checked;
    }
  }
  CHECK(checked > 10);
}
