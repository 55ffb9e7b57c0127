// Monitoring end to end, through the real binaries: `hostd serve` with the
// shipped local_disk and wal_archive providers and the fx_blocking fixture,
// driven by hostctl and curl. The scrape is judged by the stock promtool
// (Debian's prometheus package) and fetched by a real Prometheus server on
// loopback; the alert rules in docs/operations.md by `promtool check rules`.
// Also here: the operation history across a restart (hostctl status), and
// operations queueing instead of failing while a backup runs.
// Every wait polls with a bounded deadline. Single-threaded; each test case
// has its own directories and ports.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <regex>
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
using hostd_process::HostProcess;
using nlohmann::json;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

constexpr auto kMetricsE2eDeadline = std::chrono::seconds(60);

struct Providers {
  bool broken = false;  // fx_blocking whose backup fails at once (deadline 1 ms)
  bool slow = false;    // fx_blocking, released by DIR/release
};

fs::path WriteConfig(const ts::TempDir& dir, Providers extra = {},
                     const std::string& server_extra = "") {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\nfsync = 'never'\n";
  toml += "[server]\nport = 0\n" + server_extra;
  toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
          Quoted(dir / "repo") + "\nworkers = 1\n";
  toml += "[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\narchive = true\n";
  toml += "archive_timeout = 1\n[providers.settings]\npath = " + Quoted(dir / "wal") + "\n";
  const std::string blocking = Quoted(fs::path(BKP_HOST_FIXTURE_DIR) / "bkp_fx_blocking.so");
  if (extra.broken) {
    toml += "[[providers]]\nname = 'broken'\nplugin = " + blocking +
            "\n[providers.settings]\nrelease_file = " + Quoted(dir / "never") +
            "\ndeadline_ms = 1\n";
  }
  if (extra.slow) {
    toml += "[[providers]]\nname = 'slow'\nplugin = " + blocking +
            "\n[providers.settings]\nrelease_file = " + Quoted(dir / "release") + "\n";
  }
  const fs::path config = dir / "host.toml";
  ts::WriteFile(config, toml);
  return config;
}

// curl's body of GET URL (with `token` as a bearer token when given);
// fails the test on any HTTP error.
std::string Get(const std::string& url, const std::string& token = "") {
  std::vector<std::string> argv{"curl", "-sS", "--fail-with-body", "--max-time", "30"};
  if (!token.empty()) argv.insert(argv.end(), {"-H", "Authorization: Bearer " + token});
  argv.push_back(url);
  ts::CommandResult r = ts::RunCommand(argv);
  INFO(url << ": " << r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

std::string Url(const HostProcess& host, const std::string& path) {
  return "http://127.0.0.1:" + host.port() + path;
}

void AppendEvents(const HostProcess& host, int batches) {
  for (int i = 0; i < batches; ++i) {
    ts::CommandResult r = ts::RunCommand(
        {"curl", "-sS", "--fail-with-body", "-H", "Content-Type: application/json", "-d",
         R"({"events":["a","b","c"]})", Url(host, "/v1/contexts/orders/events")});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
  }
}

// `promtool check metrics` on `text` (written to DIR/scrape.prom first).
ts::CommandResult PromtoolCheckMetrics(const ts::TempDir& dir, const std::string& text) {
  const fs::path file = dir / "scrape.prom";
  ts::WriteFile(file, text);
  return ts::RunCommand({"sh", "-c", "promtool check metrics < " + Quoted(file)});
}

// The value of the sample whose line starts with `series` + ' ', or "".
std::string SampleValue(const std::string& scrape, const std::string& series) {
  const std::string prefix = series + " ";
  size_t at = scrape.rfind("\n" + prefix);
  if (at == std::string::npos) return "";
  at += 1 + prefix.size();
  return scrape.substr(at, scrape.find('\n', at) - at);
}

// The ```yaml block after "<!-- alert-rules -->" in docs/operations.md.
std::string AlertRulesFromDocs() {
  const std::string doc = ts::ReadFile(fs::path(BKP_SOURCE_DIR) / "docs" / "operations.md");
  size_t marker = doc.find("<!-- alert-rules -->");
  REQUIRE_MESSAGE(marker != std::string::npos, "docs/operations.md lost its alert-rules marker");
  size_t start = doc.find("```yaml\n", marker);
  REQUIRE(start != std::string::npos);
  start += 8;
  const size_t end = doc.find("```", start);
  REQUIRE(end != std::string::npos);
  return doc.substr(start, end - start);
}

// A port nothing listens on right now (bound to 0, then released).
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + kMetricsE2eDeadline;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

}  // namespace

TEST_CASE(
    "metrics: a real scrape passes promtool, results survive a restart, status fails on a "
    "failed backup") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, {.broken = true});
  {
    HostProcess host(config, dir / "port", dir / "hostd.log");
    AppendEvents(host, 5);
    ts::CommandResult ok = host.Ctl({"backup", "create", "--provider", "local", "--no-progress"});
    INFO(ok.output);
    REQUIRE(ok.exit_code == 0);
    // Healthy so far: the one backup succeeded.
    ts::CommandResult healthy = host.Ctl({"status"});
    INFO(healthy.output);
    CHECK(healthy.exit_code == 0);
    CHECK(Contains(healthy.output, "last operations (kept across restarts):"));

    ts::CommandResult failed =
        host.Ctl({"backup", "create", "--provider", "broken", "--no-progress"});
    INFO(failed.output);
    REQUIRE(failed.exit_code == 1);

    const std::string scrape = Get(Url(host, "/metrics"));
    ts::CommandResult lint = PromtoolCheckMetrics(dir, scrape);
    INFO(scrape);
    INFO(lint.output);
    CHECK(lint.exit_code == 0);
    CHECK(SampleValue(
              scrape,
              R"(hostd_operations_total{provider="broken",kind="backup",result="failed"})") == "1");
    CHECK(SampleValue(scrape, R"(hostd_operation_last_failed{provider="broken",kind="backup"})") ==
          "1");
    CHECK(SampleValue(scrape, R"(hostd_operation_last_failed{provider="local",kind="backup"})") ==
          "0");
    CHECK_FALSE(
        SampleValue(
            scrape,
            R"(hostd_operation_last_success_timestamp_seconds{provider="local",kind="backup"})")
            .empty());
    CHECK(SampleValue(scrape, R"(hostd_backup_last_read_bytes{provider="local"})") != "0");
    CHECK(SampleValue(scrape, R"(hostd_operation_running{provider="local"})") == "0");
    CHECK(SampleValue(scrape, R"(hostd_append_duration_seconds_count{stream="events"})") == "5");
    CHECK(SampleValue(scrape, R"(hostd_append_events_total{stream="events"})") == "15");
    CHECK_FALSE(SampleValue(scrape, R"(hostd_archive_lag_seconds{provider="pitr"})").empty());
    CHECK(SampleValue(scrape, "hostd_history_up") == "1");

    // Every hostd_ metric the documented alert rules use is in a real scrape.
    const std::string rules = AlertRulesFromDocs();
    std::regex metric(R"(hostd_[a-z_]+)");
    for (auto it = std::sregex_iterator(rules.begin(), rules.end(), metric);
         it != std::sregex_iterator(); ++it) {
      // A histogram's series are NAME_bucket, _sum and _count.
      const std::string name =
          std::regex_replace(it->str(), std::regex("_(bucket|sum|count)$"), "");
      INFO("alert rules use " << name);
      CHECK(Contains(scrape, "# TYPE " + name + " "));
    }
    REQUIRE(host.Stop() == 0);
  }

  // A restarted host still knows both results and still calls itself
  // unhealthy: the broken provider's last backup failed.
  HostProcess host(config, dir / "port", dir / "hostd2.log");
  ts::CommandResult status = host.Ctl({"status", "--json"});
  INFO(status.output);
  CHECK(status.exit_code == 1);
  CHECK(Contains(status.output, "hostctl: the last backup via provider 'broken' failed at "));
  const json reply = json::parse(status.output.substr(0, status.output.find('\n')));
  REQUIRE(reply["history"].size() == 2);
  CHECK(reply["history"][0]["provider"] == "broken");
  CHECK(reply["history"][0]["result"] == "failed");
  CHECK(reply["history"][1]["provider"] == "local");
  CHECK(reply["history"][1]["result"] == "succeeded");
  CHECK(reply["history"][1]["backup_id"].is_string());
  CHECK(reply["history"][1]["bytes_read"].get<uint64_t>() > 0);
  ts::CommandResult text = host.Ctl({"status"});
  CHECK(text.exit_code == 1);
  CHECK(Contains(text.output, "local     backup  succeeded"));
  const std::string scrape = Get(Url(host, "/metrics"));
  CHECK(SampleValue(
            scrape,
            R"(hostd_operations_total{provider="local",kind="backup",result="succeeded"})") == "1");
}

TEST_CASE("metrics: the alert rules in docs/operations.md pass promtool check rules") {
  ts::TempDir dir;
  const fs::path rules = dir / "hostd-alerts.yml";
  ts::WriteFile(rules, AlertRulesFromDocs());
  ts::CommandResult r = ts::RunCommand({"promtool", "check", "rules", rules.string()});
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(Contains(r.output, "SUCCESS"));
}

TEST_CASE("metrics: a real Prometheus server scrapes hostd with a read token on loopback") {
  ts::TempDir dir;
  const fs::path tokens = dir / "tokens";
  const std::string config_extra = "auth_tokens_file = " + Quoted(tokens) + "\n";
  // hostd token create prints the token once; it goes to a file of its own,
  // which Prometheus reads (credentials_file).
  const fs::path token_file = dir / "prometheus.token";
  ts::CommandResult made = ts::RunCommand(
      {"sh", "-c",
       std::string(HOSTD_BIN) + " token create --name prometheus --role read --tokens-file " +
           Quoted(tokens) + " > " + Quoted(token_file)});
  INFO(made.output);
  REQUIRE(made.exit_code == 0);
  std::string token = ts::ReadFile(token_file);
  token.pop_back();  // the newline
  HostProcess host(WriteConfig(dir, {}, config_extra), dir / "port", dir / "hostd.log");
  // Without the token the scrape is refused; a read token is enough.
  ts::CommandResult anonymous = ts::RunCommand(
      {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", Url(host, "/metrics")});
  CHECK(anonymous.output == "401");
  CHECK(Contains(Get(Url(host, "/metrics"), token), "# TYPE hostd_operation_running gauge"));

  const int port = FreePort();
  const fs::path prom_config = dir / "prometheus.yml";
  ts::WriteFile(prom_config,
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: hostd\n"
                "    authorization:\n      credentials_file: " +
                    token_file.string() +
                    "\n    static_configs:\n      - targets: ['127.0.0.1:" + host.port() + "']\n");
  ts::ChildProcess prometheus(
      {"prometheus", "--config.file=" + prom_config.string(),
       "--storage.tsdb.path=" + (dir / "tsdb").string(),
       "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
      dir / "prometheus.log");
  const std::string query =
      "http://127.0.0.1:" + std::to_string(port) +
      "/api/v1/query?query=hostd_operation_running%7Bprovider%3D%22local%22%7D";
  json answer;
  const bool scraped = WaitUntil([&] {
    ts::CommandResult r = ts::RunCommand({"curl", "-sf", "--max-time", "5", query});
    if (r.exit_code != 0) return false;
    answer = json::parse(r.output, nullptr, false);
    return answer.is_object() && answer["status"] == "success" && !answer["data"]["result"].empty();
  });
  INFO("prometheus log:\n" << ts::ReadFile(dir / "prometheus.log"));
  INFO("last answer: " << answer.dump());
  REQUIRE(scraped);
  CHECK(answer["data"]["result"][0]["metric"]["job"] == "hostd");
  CHECK(answer["data"]["result"][0]["value"][1] == "0");
  CHECK(prometheus.Stop(SIGTERM) == 0);
}

TEST_CASE(
    "metrics: backup create --wait queues behind a running backup, list and status answer "
    "meanwhile") {
  ts::TempDir dir;
  HostProcess host(WriteConfig(dir, {.slow = true}), dir / "port", dir / "hostd.log");
  AppendEvents(host, 2);
  ts::CommandResult started = host.Ctl({"backup", "create", "--provider", "slow", "--detach"});
  INFO(started.output);
  REQUIRE(started.exit_code == 0);

  // Without --wait a second backup is refused, as before.
  ts::CommandResult refused = host.Ctl({"backup", "create", "--provider", "local"});
  CHECK(refused.exit_code == 1);
  CHECK(Contains(refused.output, "backup in progress"));

  ts::ChildProcess waiter(
      host.CtlArgs({"backup", "create", "--provider", "local", "--wait", "--no-progress"}),
      dir / "waiter.log");
  CHECK(WaitUntil([&] { return Contains(ts::ReadFile(dir / "waiter.log"), "waiting for it"); }));

  // Read-only requests are answered while the backup runs, the list of the
  // very provider that is busy included.
  ts::CommandResult listed = host.Ctl({"backup", "list", "--provider", "slow", "--json"});
  INFO(listed.output);
  CHECK(listed.exit_code == 0);
  CHECK(host.Ctl({"backup", "list", "--provider", "local"}).exit_code == 0);
  ts::CommandResult status = host.Ctl({"status"});
  INFO(status.output);
  CHECK(status.exit_code == 0);
  CHECK(Contains(status.output, ": running (backup)"));
  CHECK(waiter.Running());

  ts::WriteFile(dir / "release", "go\n");
  const int exit_code = hostd_process::WaitExit(waiter, kMetricsE2eDeadline);
  INFO(ts::ReadFile(dir / "waiter.log"));
  CHECK(exit_code == 0);
  CHECK(Contains(ts::ReadFile(dir / "waiter.log"), "created via provider 'local'"));
  const json last = host.Json({"backup", "list", "--provider", "local", "--json"});
  CHECK(last["backups"].size() == 1);
}
