// The host's log, as an operator reads it: the line format (util/log.h),
// then real `hostd serve` processes whose output is checked line by line:
// every line timestamped in UTC with a level, [log] level / --log-level
// filtering, JSON lines, a failed operation at ERROR.
// Single-threaded; each case has its own directories and port.
#include <time.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "host_stub/hostd_process.h"
#include "test_support.h"
#include "util/log.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using nlohmann::json;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Seconds since the epoch of "YYYY-MM-DDTHH:MM:SS.mmmZ", read as UTC
// (timegm, not the formatter's gmtime_r), or -1 when it is not that shape.
int64_t ParseIsoUtc(const std::string& text) {
  static const std::regex kIso(R"((\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)\.\d{3}Z)");
  std::smatch m;
  if (!std::regex_match(text, m, kIso)) return -1;
  struct tm t {};
  t.tm_year = std::stoi(m[1]) - 1900;
  t.tm_mon = std::stoi(m[2]) - 1;
  t.tm_mday = std::stoi(m[3]);
  t.tm_hour = std::stoi(m[4]);
  t.tm_min = std::stoi(m[5]);
  t.tm_sec = std::stoi(m[6]);
  return static_cast<int64_t>(timegm(&t));
}

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

fs::path WriteConfig(const ts::TempDir& dir, const std::string& log_table) {
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\nfsync = 'never'\n";
  toml += "[server]\nport = 0\n";
  toml += log_table;
  toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
          Quoted(dir / "repo") + "\n";
  const fs::path config = dir / "host.toml";
  ts::WriteFile(config, toml);
  return config;
}

}  // namespace

TEST_CASE("log: a text line is the UTC time with milliseconds, the level, the program, the text") {
  hoststub::LogOptions options;
  options.program = "hostd";
  // 2026-12-07 11:44:47.123 UTC.
  const auto time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796643887123));
  CHECK(hoststub::FormatLogLine(time, hoststub::LogLevel::kInfo, "listening", "", options) ==
        "2026-12-07T11:44:47.123Z INFO  hostd: listening\n");
  // A provider's line names it; a message with a newline stays one line.
  CHECK(hoststub::FormatLogLine(time, hoststub::LogLevel::kWarn, "a\nb", "nightly", options) ==
        "2026-12-07T11:44:47.123Z WARN  hostd: [nightly] a\\nb\n");

  options.format = hoststub::LogFormat::kJson;
  const std::string line = hoststub::FormatLogLine(time, hoststub::LogLevel::kError,
                                                   "say \"x\"\n\x01", "nightly", options);
  CHECK(line.back() == '\n');
  CHECK(line.find('\n') == line.size() - 1);
  const json parsed = json::parse(line);
  CHECK(parsed.at("time") == "2026-12-07T11:44:47.123Z");
  CHECK(parsed.at("level") == "error");
  CHECK(parsed.at("program") == "hostd");
  CHECK(parsed.at("provider") == "nightly");
  CHECK(parsed.at("msg") == "say \"x\"\n\x01");

  CHECK(hoststub::ParseLogLevel("WARNING") == hoststub::LogLevel::kWarn);
  CHECK(hoststub::ParseLogLevel("Debug") == hoststub::LogLevel::kDebug);
  CHECK_FALSE(hoststub::ParseLogLevel("loud").has_value());
}

TEST_CASE("hostd log: every line is timestamped in UTC with a level, a failed operation is ERROR") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "");
  const int64_t before = NowSeconds();
  hostd_process::HostProcess host(config, dir / "port", dir / "hostd.log");
  REQUIRE(host.Ctl({"append", "--context", "orders", "--count", "10"}).exit_code == 0);
  REQUIRE(host.Ctl({"backup", "create", "--provider", "local", "--no-progress"}).exit_code == 0);
  // Deleting a backup that does not exist: the operation fails.
  CHECK(host.Ctl({"backup", "delete", "--provider", "local", "no-such-backup"}).exit_code != 0);
  CHECK(host.Stop() == 0);
  const int64_t after = NowSeconds();

  const std::string log = host.Log();
  INFO(log);
  static const std::regex kLine(R"((\S+) (DEBUG|INFO |WARN |ERROR) hostd: (.*))");
  bool error_line = false;
  bool listening = false;
  bool stopped = false;
  for (const std::string& line : Lines(log)) {
    std::smatch m;
    REQUIRE_MESSAGE(std::regex_match(line, m, kLine), "not a log line: " << line);
    const int64_t at = ParseIsoUtc(m[1]);
    CHECK_MESSAGE(at >= before - 1, line);
    CHECK_MESSAGE(at <= after + 1, line);
    // No DEBUG at the default level.
    CHECK(m[2] != "DEBUG");
    const std::string text = m[3];
    if (m[2] == "ERROR" && Contains(text, "delete via provider 'local'") &&
        Contains(text, "no-such-backup")) {
      error_line = true;
    }
    if (m[2] == "INFO " && Contains(text, "listening on")) listening = true;
    if (m[2] == "INFO " && text == "stopped") stopped = true;
  }
  CHECK(error_line);
  CHECK(listening);
  CHECK(stopped);
  CHECK(Contains(log, "INFO  hostd: SIGTERM, stopping"));
}

TEST_CASE(
    "hostd log: [log] level filters, --log-level overrides it, format json gives JSON lines") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "[log]\nlevel = 'error'\nformat = 'json'\n");
  {
    hostd_process::HostProcess host(config, dir / "port", dir / "quiet.log");
    CHECK(host.Stop() == 0);
    // Nothing went wrong, and nothing below ERROR is written.
    CHECK(host.Log().empty());
  }
  hostd_process::HostProcess host(config, dir / "port", dir / "hostd.log", {"--log-level", "info"});
  CHECK(host.Stop() == 0);
  const std::string log = host.Log();
  INFO(log);
  bool listening = false;
  const std::vector<std::string> lines = Lines(log);
  CHECK_FALSE(lines.empty());
  for (const std::string& line : lines) {
    const json parsed = json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(!parsed.is_discarded(), "not JSON: " << line);
    CHECK(ParseIsoUtc(parsed.at("time").get<std::string>()) > 0);
    CHECK(parsed.at("program") == "hostd");
    const std::string level = parsed.at("level").get<std::string>();
    CHECK((level == "info" || level == "warn" || level == "error"));
    if (Contains(parsed.at("msg").get<std::string>(), "listening on")) listening = true;
  }
  CHECK(listening);
}

TEST_CASE("hostd log: a bad [log] value stops hostd naming the file and line") {
  ts::TempDir dir;
  const fs::path config = WriteConfig(dir, "[log]\nlevel = 'loud'\n");
  ts::CommandResult r =
      ts::RunCommand({HOSTD_BIN, "serve", "--config", config.string(), "--port", "0"});
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, config.string() + ":8: 'log.level' must be one of debug, info, warn"));
  CHECK(Contains(r.output, " ERROR hostd: "));
  r = ts::RunCommand(
      {HOSTD_BIN, "--log-level", "loud", "check", "--data-dir", dir.path().string()});
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "--log-level"));
}
