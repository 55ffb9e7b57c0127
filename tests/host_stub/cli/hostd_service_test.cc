// hostd as a service, through the real binary: `hostd config show` prints a
// config that hostd reads back as the same; `hostd serve` tells a service
// manager (a datagram socket standing in for systemd, the protocol of
// sd_notify(3)) READY=1 once it listens and STOPPING=1 on SIGTERM; `hostd
// plugins` and `hostd provider enable` write their log as [log] says.
// Single-threaded; each case has its own directories.
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "config/host_config.h"
#include "host_stub/hostd_process.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

std::string ConfigFor(const fs::path& dir) {
  return "[storage]\ndata_dir = " + Quoted(dir / "data") + "\n[server]\nport = 0\n" +
         "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
         Quoted(dir / "backups") + "\n";
}

// A bound AF_UNIX datagram socket: what systemd listens on for a
// Type=notify service.
class NotifySocket {
 public:
  explicit NotifySocket(const fs::path& path) : path_(path) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.string().size() < sizeof addr.sun_path);
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() { ::close(fd_); }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The next datagram, or "" if none came within `timeout_ms`.
  std::string Receive(int timeout_ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return "";
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

bool HasLine(const std::string& message, const std::string& line) {
  return Contains("\n" + message + "\n", "\n" + line + "\n");
}

}  // namespace

TEST_CASE("hostd config show: the effective config, every key documented, read back the same") {
  ts::TempDir dir;
  const fs::path config = dir / "hostd.toml";
  ts::WriteFile(config, ConfigFor(dir.path()) + "[log]\nformat = 'json'\n");
  ts::CommandResult shown =
      ts::RunCommand({HOSTD_BIN, "config", "show", "--config", config.string()});
  INFO(shown.output);
  REQUIRE(shown.exit_code == 0);
  CHECK(Contains(shown.output, "\nmax_connections_per_client = 8\n"));
  CHECK(Contains(shown.output, "\nformat = \"json\"\n"));
  // plugin_dir as hostd resolved it: beside this build's binary.
  CHECK(Contains(
      shown.output,
      "\nplugin_dir = \"" +
          (fs::path(HOSTD_BIN).parent_path() / "../lib/hostd/plugins").lexically_normal().string() +
          "\"\n"));
  // Written back to a file, it is a config hostd runs with the same values.
  const fs::path again = dir / "again.toml";
  ts::WriteFile(again, shown.output);
  auto original = hoststub::LoadHostConfig(config);
  auto reread = hoststub::LoadHostConfig(again);
  REQUIRE_MESSAGE(reread.ok(), reread.status().ToString());
  CHECK(reread->storage.data_dir == original->storage.data_dir);
  CHECK(reread->plugin_dir == original->plugin_dir);
  CHECK(reread->providers.size() == 1);
  ts::CommandResult twice =
      ts::RunCommand({HOSTD_BIN, "config", "show", "--config", again.string()});
  REQUIRE(twice.exit_code == 0);
  CHECK(twice.output.substr(twice.output.find("\nplugin_dir")) ==
        shown.output.substr(shown.output.find("\nplugin_dir")));
  // And `hostd plugins` loads the provider from it (plugin_dir resolved).
  ts::CommandResult plugins = ts::RunCommand({HOSTD_BIN, "plugins", "--config", again.string()});
  INFO(plugins.output);
  CHECK(plugins.exit_code == 0);

  // A bad config is the usual file:line error, exit 2.
  ts::WriteFile(config, "[server]\nport = 'x'\n");
  ts::CommandResult bad =
      ts::RunCommand({HOSTD_BIN, "config", "show", "--config", config.string()});
  CHECK(bad.exit_code == 2);
  CHECK(Contains(bad.output, "hostd.toml:2: 'server.port' must be an integer"));
}

TEST_CASE("hostd serve tells the service manager READY=1 once listening, STOPPING=1 on SIGTERM") {
  ts::TempDir dir;
  const fs::path config = dir / "hostd.toml";
  ts::WriteFile(config, ConfigFor(dir.path()));
  NotifySocket socket(dir / "notify.sock");
  // The child inherits the environment; NOTIFY_SOCKET only while it starts.
  ::setenv("NOTIFY_SOCKET", (dir / "notify.sock").c_str(), 1);
  hostd_process::HostProcess host(config, dir / "port", dir / "hostd.log");
  ::unsetenv("NOTIFY_SOCKET");
  // The port file is written just before READY=1, so it comes promptly.
  const std::string ready = socket.Receive(hostd_process::kStartTimeoutMs);
  INFO(host.Log());
  CHECK(HasLine(ready, "READY=1"));
  CHECK(HasLine(ready, "STATUS=listening on http://127.0.0.1:" + host.port()));

  // A reload is announced and ends ready again.
  host.Signal(SIGHUP);
  CHECK(HasLine(socket.Receive(hostd_process::kStartTimeoutMs), "RELOADING=1"));
  CHECK(HasLine(socket.Receive(hostd_process::kStartTimeoutMs), "READY=1"));

  CHECK(host.Stop(SIGTERM) == 0);
  CHECK(HasLine(socket.Receive(5000), "STOPPING=1"));
}

TEST_CASE("hostd provider enable writes its log lines as [log] says") {
  ts::TempDir dir;
  const fs::path config = dir / "hostd.toml";
  // Enabling a provider that was never disabled is an ERROR line: in JSON,
  // as [log] asks (`hostd plugins`: tests/plugin_host/hostd_plugins_test.cc).
  ts::WriteFile(config, ConfigFor(dir.path()) + "[log]\nformat = 'json'\n");
  ts::CommandResult enable =
      ts::RunCommand({HOSTD_BIN, "provider", "enable", "--config", config.string(), "local"});
  INFO(enable.output);
  CHECK(enable.exit_code == 1);
  const nlohmann::json line = nlohmann::json::parse(enable.output, nullptr, false);
  REQUIRE_FALSE(line.is_discarded());
  CHECK(line["level"] == "error");
  CHECK(line["program"] == "hostd");
}
