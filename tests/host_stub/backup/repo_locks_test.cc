// Repository locks across processes, through the real binaries: a hot,
// rate-limited backup taken by `hostd serve` on one data directory, and
// `hostd backup delete|expire` run from a second config (another data
// directory, the same repository). The delete and the garbage collection
// must be refused while the backup runs, naming who holds the repository;
// the backup must stay whole and restorable. Every wait polls with a
// bounded deadline.
// Single-threaded; each test case has its own directories and port.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "host_stub/hostd_process.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using nlohmann::json;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

constexpr auto kRepoLocksDeadline = std::chrono::seconds(90);

// A config on `data_dir` whose one provider, 'local', keeps its backups in
// `repo`, reading at most `rate_limit` bytes/s (0: no cap).
fs::path WriteConfig(const fs::path& file, const fs::path& data_dir, const fs::path& repo,
                     int rate_limit) {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(data_dir) + "\n";
  toml += "event_segment_size = '1MiB'\nlog_segment_size = '1MiB'\nfsync = 'never'\n";
  toml += "[server]\nport = 0\n";
  toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
          Quoted(repo) + "\nworkers = 1\n";
  if (rate_limit > 0) toml += "rate_limit = " + std::to_string(rate_limit) + "\n";
  ts::WriteFile(file, toml);
  return file;
}

ts::CommandResult RepoLocksHostd(std::vector<std::string> args) {
  args.insert(args.begin(), HOSTD_BIN);
  return ts::RunCommand(args);
}

std::set<std::string> ObjectFiles(const fs::path& repo) {
  std::set<std::string> out;
  if (!fs::exists(repo / "objects")) return out;
  for (const auto& e : fs::recursive_directory_iterator(repo / "objects")) {
    if (e.is_regular_file()) out.insert(e.path().lexically_relative(repo).generic_string());
  }
  return out;
}

json Operation(const hostd_process::HostProcess& host) {
  return host.Json({"status", "--json"}).at("operation");
}

std::string Hostname() {
  char name[256] = "";
  ::gethostname(name, sizeof name - 1);
  return name;
}

}  // namespace

TEST_CASE("repository locks: a delete and a GC from another config wait for a hot backup") {
  ts::TempDir dir;
  const fs::path repo = dir / "repo";
  // A reads at 1 MB/s, so its backup of a few MB runs for seconds.
  const fs::path config_a = WriteConfig(dir / "a.toml", dir / "data-a", repo, 1'000'000);
  const fs::path config_b = WriteConfig(dir / "b.toml", dir / "data-b", repo, 0);
  hostd_process::HostProcess host(config_a, dir / "a.port", dir / "a.log");

  REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "300"}).exit_code == 0);
  ts::CommandResult r = host.Ctl({"backup", "create", "--provider", "local", "--no-progress"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const std::string first = Operation(host).at("result").at("backup_id").get<std::string>();
  const std::set<std::string> first_objects = ObjectFiles(repo);

  // The second backup builds on the first (it reuses its objects unread)
  // and stores what was appended since: seconds at 1 MB/s.
  REQUIRE(
      host.Ctl({"append", "--context", "orders", "--count", "2500", "--batch", "500"}).exit_code ==
      0);
  REQUIRE(host.Ctl({"backup", "create", "--provider", "local", "--detach"}).exit_code == 0);
  // Wait until it has stored an object of its own, not yet published.
  std::set<std::string> unpublished;
  const auto deadline = std::chrono::steady_clock::now() + kRepoLocksDeadline;
  while (unpublished.empty()) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline,
                    "the backup stored nothing; host log:\n"
                        << host.Log());
    for (const auto& o : ObjectFiles(repo)) {
      if (first_objects.count(o) == 0) unpublished.insert(o);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(Operation(host).at("state") == "running");

  // Another process, another data directory, the same repository.
  r = RepoLocksHostd({"backup", "delete", "--config", config_b.string(), first});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "BKP_E_BUSY"));
  CHECK(Contains(r.output, "locked by backup"));
  CHECK(Contains(r.output, "host '" + Hostname() + "'"));
  CHECK(Contains(r.output, "pid "));
  CHECK(Contains(r.output, "since "));
  CHECK(Contains(r.output, "retry"));
  r = RepoLocksHostd({"backup", "expire", "--config", config_b.string(), "--keep-last", "1"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "locked by backup"));

  json op;
  while (true) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the backup never ended");
    op = Operation(host);
    if (op.at("state") != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE_MESSAGE(op.at("state") == "succeeded", op.dump());
  const std::string second = op.at("result").at("backup_id").get<std::string>();
  // Nothing the running backup had stored was collected under it.
  const std::set<std::string> now = ObjectFiles(repo);
  for (const auto& o : unpublished) CHECK_MESSAGE(now.count(o) == 1, o << " was deleted");
  r = RepoLocksHostd({"backup", "verify", "--config", config_b.string(), second});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  r = RepoLocksHostd({"backup", "list", "--config", config_b.string()});
  CHECK(Contains(r.output, first));
  CHECK(Contains(r.output, second));

  // Once the backup ended, its lock is gone and the delete goes through.
  CHECK((!fs::exists(repo / "locks") || ts::ListSorted(repo / "locks").empty()));
  r = RepoLocksHostd({"backup", "delete", "--config", config_b.string(), first});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  r = RepoLocksHostd({"backup", "verify", "--config", config_b.string(), second});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(host.Stop() == 0);
}

TEST_CASE(
    "repository locks: a killed host's lock is refreshed, then stale, and unlock removes it") {
  ts::TempDir dir;
  const fs::path repo = dir / "repo";
  const fs::path config_a = WriteConfig(dir / "a.toml", dir / "data-a", repo, 1'000'000);
  const fs::path config_b = WriteConfig(dir / "b.toml", dir / "data-b", repo, 0);
  // Refreshed five times a second (the default is once a minute), for the
  // host started here; the setting is for tests only.
  ::setenv("BKP_TEST_LOCK_REFRESH_MS", "200", 1);
  hostd_process::HostProcess host(config_a, dir / "a.port", dir / "a.log");
  ::unsetenv("BKP_TEST_LOCK_REFRESH_MS");
  REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "200"}).exit_code == 0);
  REQUIRE(host.Ctl({"backup", "create", "--provider", "local", "--no-progress"}).exit_code == 0);
  REQUIRE(
      host.Ctl({"append", "--context", "orders", "--count", "3000", "--batch", "500"}).exit_code ==
      0);
  REQUIRE(host.Ctl({"backup", "create", "--provider", "local", "--detach"}).exit_code == 0);

  // The running backup's lock, rewritten while it runs.
  const auto deadline = std::chrono::steady_clock::now() + kRepoLocksDeadline;
  fs::path lock_file;
  while (lock_file.empty()) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "no lock; log:\n" << host.Log());
    if (fs::exists(repo / "locks") && !ts::ListSorted(repo / "locks").empty()) {
      lock_file = ts::ListSorted(repo / "locks").front();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const json first = json::parse(ts::ReadFile(lock_file));
  CHECK(first.at("operation") == "backup");
  CHECK(first.at("exclusive") == false);
  CHECK(first.at("host") == Hostname());
  const int64_t pid = first.at("pid").get<int64_t>();
  while (json::parse(ts::ReadFile(lock_file)).at("refreshed_ms") == first.at("refreshed_ms")) {
    REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "the lock was never refreshed");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(Operation(host).at("state") == "running");
  CHECK(host.Stop(SIGKILL) == -SIGKILL);  // a crash: the lock stays behind

  ts::CommandResult r =
      RepoLocksHostd({"backup", "expire", "--config", config_b.string(), "--keep-last", "1"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "BKP_E_BUSY"));
  CHECK(Contains(r.output, "that lock is stale (its process " + std::to_string(pid) +
                               " on this host is gone)"));
  CHECK(Contains(r.output, "remove it with `hostd backup unlock --provider local`"));
  r = RepoLocksHostd({"backup", "locks", "--config", config_b.string()});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "STALE locks/"));
  CHECK(Contains(r.output, "backup on host '" + Hostname() + "' (pid " + std::to_string(pid)));
  CHECK(Contains(r.output, "hostd backup unlock --provider local"));

  r = RepoLocksHostd({"backup", "unlock", "--config", config_b.string()});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "removed stale lock " + lock_file.lexically_relative(repo).string()));
  CHECK(Contains(r.output, "removed 1 stale lock(s) via provider 'local'; 0 live lock(s) kept"));
  CHECK(ts::ListSorted(repo / "locks").empty());
  r = RepoLocksHostd({"backup", "locks", "--config", config_b.string()});
  CHECK(Contains(r.output, "no locks on the repository of provider 'local'"));
  r = RepoLocksHostd({"backup", "expire", "--config", config_b.string(), "--keep-last", "1"});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "nothing to remove"));
}
