// Tests of the host config reader: the built-in default TOML, a full file
// round-tripping into the structs, each kind of error naming source, line and
// key, and the real hostd refusing a bad config file.
#include "config/host_config.h"
#include "config/toml_schema.h"

#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

using hoststub::BackupPacing;
using hoststub::FsyncPolicy;
using hoststub::HostConfig;
using hoststub::LoadHostConfig;
using hoststub::ParseHostConfig;
using hoststub::Status;
using testing_support::TempDir;
using testing_support::WriteFile;

using testing_support::Contains;

namespace {

// Parses `text` as "config.toml", which must fail; returns the failure.
Status ParseFailure(const std::string& text) {
  auto result = ParseHostConfig(text, "config.toml");
  REQUIRE_FALSE(result.ok());
  return result.status();
}

HostConfig ParseOk(const std::string& text) {
  auto result = ParseHostConfig(text, "test.toml");
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  return result.value();
}

}  // namespace

TEST_CASE("config: the built-in default TOML parses to the struct defaults") {
  auto result = ParseHostConfig(hoststub::DefaultHostConfigToml(), "<built-in defaults>");
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  const HostConfig& got = result.value();
  const HostConfig want;
  CHECK(got.source == "<built-in defaults>");
  CHECK(got.storage.data_dir == want.storage.data_dir);
  CHECK(got.storage.event_segment_bytes == want.storage.event_segment_bytes);
  CHECK(got.storage.log_segment_bytes == want.storage.log_segment_bytes);
  CHECK(got.storage.fsync == want.storage.fsync);
  CHECK(got.storage.fsync_interval == want.storage.fsync_interval);
  CHECK(got.storage.commit_index_interval == want.storage.commit_index_interval);
  CHECK(got.storage.log_retention_entries == want.storage.log_retention_entries);
  CHECK(got.storage.compaction_interval == want.storage.compaction_interval);
  CHECK(got.storage.recovery_verify_closed_segments ==
        want.storage.recovery_verify_closed_segments);
  CHECK(got.server.listen_address == want.server.listen_address);
  CHECK(got.server.port == want.server.port);
  CHECK(got.backup.pacing == BackupPacing::kOff);
  // plugin_dir is found beside the binary, wherever hostd is started from.
  const auto exe = std::filesystem::read_symlink("/proc/self/exe");
  CHECK(got.plugin_dir ==
        (exe.parent_path() / ".." / "lib" / "hostd" / "plugins").lexically_normal());
  // One provider: local_disk into ./backups.
  REQUIRE(got.providers.size() == 1);
  CHECK(got.providers[0].name == "local");
  CHECK(got.providers[0].plugin == "local_disk");
  CHECK(got.providers[0].settings["path"].value<std::string>() == "./backups");
}

TEST_CASE("config: the built-in default TOML sets and documents every key") {
  // Otherwise the equality above would hold for an empty text too, and the
  // text would no longer serve as the reference example.
  const std::string text(hoststub::DefaultHostConfigToml());
  CHECK(Contains(text, "\n[storage]\n"));
  CHECK(Contains(text, "\n[server]\n"));
  CHECK(Contains(text, "\n[backup]\n"));
  for (const char* key :
       {"data_dir", "event_segment_size", "log_segment_size", "fsync", "fsync_interval_ms",
        "commit_index_interval_ms", "log_retention_entries", "compaction_interval_ms",
        "recovery_verify_closed_segments", "listen", "port", "plugin_dir", "archive", "pacing"}) {
    CAPTURE(key);
    std::string line = std::string("\n") + key + " = ";
    size_t at = text.find(line);
    REQUIRE(at != std::string::npos);
    // The comment documenting the key sits on the line just above it.
    size_t previous_line = text.rfind('\n', at - 1);
    REQUIRE(previous_line != std::string::npos);
    CHECK(text[previous_line + 1] == '#');
  }
}

TEST_CASE("config: an empty file and empty tables give the defaults") {
  for (const char* text : {"", "# nothing\n", "[storage]\n[server]\n"}) {
    CAPTURE(text);
    HostConfig got = ParseOk(text);
    const HostConfig want;
    CHECK(got.storage.data_dir == want.storage.data_dir);
    CHECK(got.storage.event_segment_bytes == want.storage.event_segment_bytes);
    CHECK(got.storage.fsync == want.storage.fsync);
    CHECK(got.server.port == want.server.port);
    CHECK(got.source == "test.toml");
  }
}

TEST_CASE("config: every key set to a non-default value round-trips into the structs") {
  HostConfig c = ParseOk(R"(
[storage]
data_dir = "/var/lib/hostd"
event_segment_size = "512KiB"
log_segment_size = 1048576
fsync = "interval"
fsync_interval_ms = 25
commit_index_interval_ms = 250
log_retention_entries = 5000
compaction_interval_ms = 0
recovery_verify_closed_segments = 3

[server]
listen = "0.0.0.0"
port = 9000

[backup]
pacing = "auto"
)");
  CHECK(c.source == "test.toml");
  CHECK(c.storage.data_dir == "/var/lib/hostd");
  CHECK(c.storage.event_segment_bytes == 512u * 1024u);
  CHECK(c.storage.log_segment_bytes == 1048576u);
  CHECK(c.storage.fsync == FsyncPolicy::kInterval);
  CHECK(c.storage.fsync_interval == std::chrono::milliseconds(25));
  CHECK(c.storage.commit_index_interval == std::chrono::milliseconds(250));
  CHECK(c.storage.log_retention_entries == 5000u);
  CHECK(c.storage.compaction_interval == std::chrono::milliseconds(0));
  CHECK(c.storage.recovery_verify_closed_segments == 3u);
  CHECK(c.server.listen_address == "0.0.0.0");
  CHECK(c.server.port == 9000);
  CHECK(c.backup.pacing == BackupPacing::kAuto);
}

TEST_CASE("config: sizes take an integer or a string with a binary unit") {
  struct Case {
    const char* value;
    uint64_t bytes;
  };
  for (const Case& c : std::vector<Case>{{"4096", 4096},
                                         {"\"4096B\"", 4096},
                                         {"\"8KiB\"", 8ull << 10},
                                         {"\"3MiB\"", 3ull << 20},
                                         {"\"2GiB\"", 2ull << 30},
                                         {"\"1024GiB\"", 1024ull << 30}}) {
    CAPTURE(c.value);
    HostConfig got = ParseOk(std::string("[storage]\nevent_segment_size = ") + c.value +
                             "\nlog_segment_size = " + c.value + "\n");
    CHECK(got.storage.event_segment_bytes == c.bytes);
    CHECK(got.storage.log_segment_bytes == c.bytes);
  }
}

TEST_CASE("config: every fsync policy name is accepted") {
  CHECK(ParseOk("[storage]\nfsync = \"batch\"\n").storage.fsync == FsyncPolicy::kBatch);
  CHECK(ParseOk("[storage]\nfsync = \"interval\"\n").storage.fsync == FsyncPolicy::kInterval);
  CHECK(ParseOk("[storage]\nfsync = \"never\"\n").storage.fsync == FsyncPolicy::kNever);
}

TEST_CASE("config: an unknown key names the file, line and key and lists the known keys") {
  Status st = ParseFailure(R"(# line 1
[storage]
data_dir = "./d"
fsync = "batch"

# line 6
fsync_polcy = "never"
)");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:7: unknown key 'storage.fsync_polcy'"));
  CHECK(Contains(st.message(), "known keys in [storage]: data_dir, event_segment_size,"));
}

TEST_CASE("config: an unknown key at the top level is refused") {
  Status st = ParseFailure("\n\nplugin_dirr = \"/x\"\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:3: unknown key 'plugin_dirr'"));
}

TEST_CASE("config: an unknown table names the file, line and table") {
  Status st = ParseFailure("[server]\nport = 1\n[stroage]\ndata_dir = \"x\"\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:3: unknown table 'stroage'"));
}

TEST_CASE("config: a sub-table inside a known table is refused") {
  Status st = ParseFailure("[storage]\n[storage.extra]\nx = 1\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: unknown table 'storage.extra'"));
}

TEST_CASE("config: a value of the wrong type names the file, line, key and both types") {
  Status st = ParseFailure("[server]\nlisten = \"::1\"\n\nport = \"8124\"\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:4: 'server.port' must be an integer, got string"));

  st = ParseFailure("[storage]\nfsync_interval_ms = 1.5\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(),
                 "config.toml:2: 'storage.fsync_interval_ms' must be an integer, "
                 "got float"));

  st = ParseFailure("[storage]\nevent_segment_size = true\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: 'storage.event_segment_size' must be an integer"));
  CHECK(Contains(st.message(), "got boolean"));

  st = ParseFailure("[storage]\ndata_dir = 7\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: 'storage.data_dir' must be a string, got integer"));

  st = ParseFailure("\nstorage = 5\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: 'storage' must be a table, got integer"));
}

TEST_CASE("config: a bad fsync policy lists the valid ones") {
  Status st = ParseFailure("[storage]\ndata_dir = \"d\"\n\n\nfsync = \"sometimes\"\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(),
                 "config.toml:5: 'storage.fsync' must be one of batch, interval, never, got "
                 "\"sometimes\""));
}

TEST_CASE("config: backup pacing takes auto or off and refuses anything else") {
  CHECK(ParseOk("[backup]\npacing = \"auto\"\n").backup.pacing == BackupPacing::kAuto);
  CHECK(ParseOk("[backup]\npacing = \"off\"\n").backup.pacing == BackupPacing::kOff);
  Status st = ParseFailure("[storage]\ndata_dir = \"d\"\n[backup]\npacing = \"fast\"\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(),
                 "config.toml:4: 'backup.pacing' must be one of auto, off, got "
                 "\"fast\""));
  st = ParseFailure("[backup]\npacing = true\n");
  CHECK(Contains(st.message(), "config.toml:2: 'backup.pacing'"));
  st = ParseFailure("[backup]\nrate = 5\n");
  CHECK(Contains(st.message(), "config.toml:2:"));
  CHECK(Contains(st.message(), "rate"));
}

TEST_CASE("config: integers out of range are refused") {
  struct Case {
    const char* text;
    const char* expected;
  };
  for (const Case& c : std::vector<Case>{
           {"[server]\nport = 65536\n",
            "config.toml:2: 'server.port' must be between 0 and 65535, got 65536"},
           {"[server]\n\nport = -1\n",
            "config.toml:3: 'server.port' must be between 0 and 65535, got -1"},
           {"[storage]\nfsync_interval_ms = 0\n",
            "config.toml:2: 'storage.fsync_interval_ms' must be at least 1, got 0"},
           {"[storage]\ncommit_index_interval_ms = -5\n",
            "config.toml:2: 'storage.commit_index_interval_ms' must be at least 1, got -5"},
           {"[storage]\ncompaction_interval_ms = -1\n",
            "config.toml:2: 'storage.compaction_interval_ms' must be at least 0, got -1"},
           {"[storage]\nlog_retention_entries = -1\n",
            "config.toml:2: 'storage.log_retention_entries' must be at least 0, got -1"},
           {"[storage]\nrecovery_verify_closed_segments = 4294967296\n",
            "config.toml:2: 'storage.recovery_verify_closed_segments' must be between 0 and "
            "4294967295, got 4294967296"},
       }) {
    CAPTURE(c.text);
    Status st = ParseFailure(c.text);
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CAPTURE(st.message());
    CHECK(Contains(st.message(), c.expected));
  }
  // The extremes themselves are accepted.
  CHECK(ParseOk("[server]\nport = 65535\n").server.port == 65535);
  CHECK(ParseOk("[server]\nport = 0\n").server.port == 0);
  CHECK(ParseOk("[storage]\nrecovery_verify_closed_segments = 4294967295\n")
            .storage.recovery_verify_closed_segments == 4294967295u);
}

TEST_CASE("config: a segment size below 4096 bytes is refused") {
  Status st = ParseFailure("[storage]\nevent_segment_size = \"1KiB\"\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(),
                 "config.toml:2: 'storage.event_segment_size' must be at least 4096 bytes, got "
                 "\"1KiB\""));

  st = ParseFailure("[storage]\nlog_segment_size = 4095\n");
  CAPTURE(st.message());
  CHECK(
      Contains(st.message(),
               "config.toml:2: 'storage.log_segment_size' must be at least 4096 bytes, got 4095"));

  st = ParseFailure("[storage]\nlog_segment_size = -4096\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: 'storage.log_segment_size' must be at least 4096"));
}

TEST_CASE("config: a size string with a bad unit or number is refused") {
  for (const char* value : {"64MB", "64mib", "64 MiB", "MiB", "1.5GiB", "-1KiB", "64MiBs", "4096",
                            "", "99999999999999999999GiB", "17179869184GiB"}) {
    CAPTURE(value);
    Status st = ParseFailure(std::string("[storage]\n\nevent_segment_size = \"") + value + "\"\n");
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CAPTURE(st.message());
    CHECK(Contains(st.message(),
                   "config.toml:3: 'storage.event_segment_size' must be a number of "
                   "bytes with a suffix B, KiB, MiB or GiB"));
    CHECK(Contains(st.message(), std::string("got \"") + value + "\""));
  }
}

TEST_CASE("config: empty strings are refused for the address and the data directory") {
  Status st = ParseFailure("[server]\nlisten = \"\"\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: 'server.listen' must not be empty"));
  st = ParseFailure("[storage]\ndata_dir = \"\"\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: 'storage.data_dir' must not be empty"));
}

TEST_CASE("config: the error reported is the first one in the file") {
  // Both keys are wrong; toml++ keeps keys sorted, so without ordering by
  // position 'aaa' (line 4) would be reported before 'zzz' (line 2).
  Status st = ParseFailure("[storage]\nzzz = 1\n\naaa = 2\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: unknown key 'storage.zzz'"));

  st = ParseFailure("[storage]\nfsync = \"no\"\n[server]\nport = \"x\"\n[aaa]\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:2: 'storage.fsync'"));
}

TEST_CASE("config: a TOML syntax error names the file, line and column") {
  Status st = ParseFailure("[server]\nport = 80 80\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(st.message().rfind("config.toml:2:11: ", 0) == 0);
  // toml++'s own description follows the position.
  CHECK(st.message().size() > std::string("config.toml:2:11: ").size());

  st = ParseFailure("[server]\nport = 1\nport = 2\n");
  CAPTURE(st.message());
  CHECK(st.message().rfind("config.toml:3:", 0) == 0);
  CHECK(Contains(st.message(), "port"));

  st = ParseFailure("[storage]\n\nfsync = \"batch\n");
  CAPTURE(st.message());
  CHECK(st.message().rfind("config.toml:3:", 0) == 0);
}

TEST_CASE("config: a file is loaded with its path as the source") {
  TempDir dir;
  auto path = dir / "host.toml";
  WriteFile(path, "[server]\nport = 7000\n");
  auto result = LoadHostConfig(path);
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  CHECK(result->server.port == 7000);
  CHECK(result->source == path.string());

  WriteFile(path, "[server]\n\nport = true\n");
  result = LoadHostConfig(path);
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == Status::Code::kInvalidArgument);
  CAPTURE(result.status().message());
  CHECK(Contains(result.status().message(), path.string() + ":3: 'server.port'"));
}

TEST_CASE("config: a missing file is NotFound and names the path") {
  TempDir dir;
  auto path = dir / "no" / "such.toml";
  auto result = LoadHostConfig(path);
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == Status::Code::kNotFound);
  CAPTURE(result.status().message());
  CHECK(Contains(result.status().message(),
                 "cannot read config file '" + path.string() + "': No such file or directory"));
}

TEST_CASE("config: an empty config file is an error, not the built-in defaults") {
  TempDir dir;
  auto path = dir / "host.toml";
  for (const char* text : {"", "\n  \n", "# all commented out\n# [storage]\n"}) {
    CAPTURE(text);
    WriteFile(path, text);
    auto result = LoadHostConfig(path);
    REQUIRE_FALSE(result.ok());
    CHECK(result.status().code() == Status::Code::kInvalidArgument);
    CAPTURE(result.status().message());
    CHECK(Contains(result.status().message(), "config file '" + path.string() + "' is empty"));
  }
}

// --- hostd end to end ---------------------------------------------------------------------

namespace {

struct ServeResult {
  int exit_code = 0;
  std::string output;
};

// Runs `hostd serve --config <config>`. Not RunCommand: if hostd wrongly
// accepted the config it would serve forever, so give it a bounded time to
// exit and kill it otherwise.
ServeResult RunHostdServe(const TempDir& dir, const std::filesystem::path& config) {
  auto log = dir / "hostd.log";
  testing_support::ChildProcess hostd({HOSTD_BIN, "serve", "--config", config.string()}, log);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool exited = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (!hostd.Running()) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ServeResult result;
  result.exit_code = hostd.Stop(SIGKILL);
  result.output = testing_support::ReadFile(log);
  CHECK_MESSAGE(exited, "hostd serve accepted a bad config and kept running");
  return result;
}

// The lines before the bad one point storage and server somewhere harmless,
// in case a broken hostd starts anyway.
std::string HarmlessPrefix(const TempDir& dir) {
  return "[storage]\ndata_dir = '" + (dir / "data").string() + "'\n[server]\nport = 0\n";
}

}  // namespace

TEST_CASE("hostd serve exits 2 naming a missing config file") {
  TempDir dir;
  auto path = dir / "missing.toml";
  ServeResult r = RunHostdServe(dir, path);
  CAPTURE(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "hostd: Not found: cannot read config file '" + path.string() + "'"));
}

TEST_CASE("hostd serve exits 2 on an empty config file") {
  TempDir dir;
  auto path = dir / "host.toml";
  WriteFile(path, "");
  ServeResult r = RunHostdServe(dir, path);
  CAPTURE(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "config file '" + path.string() + "' is empty"));
}

TEST_CASE("hostd serve exits 2 naming the file, line and key of an unknown key") {
  TempDir dir;
  auto path = dir / "unknown_key.toml";
  // Lines 1-4 are the prefix; the typo is on line 5.
  WriteFile(path, HarmlessPrefix(dir) + "prot = 8125\n");
  ServeResult r = RunHostdServe(dir, path);
  CAPTURE(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output,
                 "hostd: Invalid argument: " + path.string() + ":5: unknown key 'server.prot'"));
}

TEST_CASE(
    "hostd serve exits 2 naming the file, line and provider of archive on a plugin that "
    "cannot archive") {
  TempDir dir;
  auto path = dir / "archive_on_local_disk.toml";
  // Line 1 plugin_dir, 2-5 the prefix, 6 [[providers]], 7 name, 8 plugin,
  // 9 archive.
  WriteFile(path, "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) + "'\n" + HarmlessPrefix(dir) +
                      "[[providers]]\nname = 'nightly'\nplugin = 'local_disk'\narchive = true\n"
                      "[providers.settings]\npath = '" +
                      (dir / "repo").string() + "'\n");
  ServeResult r = RunHostdServe(dir, path);
  CAPTURE(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, path.string() +
                               ":9: provider 'nightly': 'archive = true' but plugin local_disk "
                               "cannot archive"));
  // Refused before the data directory was touched.
  CHECK_FALSE(std::filesystem::exists(dir / "data"));
}

TEST_CASE("hostd serve exits 2 naming the file, line and key of a wrongly typed value") {
  TempDir dir;
  auto path = dir / "wrong_type.toml";
  // Lines 1-4 are the prefix; the bad value is on line 5.
  WriteFile(path, HarmlessPrefix(dir) + "listen = 127\n");
  ServeResult r = RunHostdServe(dir, path);
  CAPTURE(r.output);
  CHECK(r.exit_code == 2);
  CHECK(Contains(r.output, "hostd: Invalid argument: " + path.string() +
                               ":5: 'server.listen' must be a string, got integer"));
}

// --- plugin_dir and [[providers]] ----------------------------------------------------------

namespace {

// Two providers; line numbers are what the tests below check against.
constexpr const char* kTwoProviders = R"(plugin_dir = "/opt/hostd/plugins"

[[providers]]
name = "nightly"
plugin = "local_disk"
[providers.settings]
path = "/backups"
workers = 4

[[providers]]
plugin = "remote"
name = "offsite.s3-1"
settings = { bucket = "b", tls = true }
)";

}  // namespace

TEST_CASE("config: plugin_dir and providers with their settings round-trip") {
  HostConfig c = ParseOk(kTwoProviders);
  CHECK(c.plugin_dir == "/opt/hostd/plugins");
  REQUIRE(c.providers.size() == 2);

  const hoststub::ProviderConfig& nightly = c.providers[0];
  CHECK(nightly.name == "nightly");
  CHECK(nightly.plugin == "local_disk");
  CHECK(nightly.source == "test.toml");
  CHECK(nightly.line == 3);
  CHECK(nightly.name_line == 4);
  CHECK(nightly.settings.size() == 2);
  CHECK(nightly.settings["path"].value_or(std::string()) == "/backups");
  CHECK(nightly.settings["workers"].value_or(int64_t{0}) == 4);
  CHECK(nightly.SettingLine("path") == 7);
  CHECK(nightly.SettingLine("workers") == 8);
  CHECK(nightly.SettingLine("absent") == 3);

  const hoststub::ProviderConfig& offsite = c.providers[1];
  CHECK(offsite.name == "offsite.s3-1");
  CHECK(offsite.plugin == "remote");
  CHECK(offsite.line == 10);
  CHECK(offsite.name_line == 12);
  CHECK(offsite.settings["tls"].value_or(false) == true);
  CHECK(offsite.SettingLine("bucket") == 13);

  // A copy of the config keeps what the messages need (toml++ copies drop
  // source positions, hence the recorded lines).
  HostConfig copy = c;
  CHECK(copy.providers[0].SettingLine("workers") == 8);
  CHECK(copy.providers[0].settings["path"].value_or(std::string()) == "/backups");
}

TEST_CASE("config: a plugin_dir starting with $EXE_DIR is relative to the hostd binary") {
  const auto exe_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  CHECK(ParseOk("plugin_dir = '$EXE_DIR/plug'\n").plugin_dir == exe_dir / "plug");
  CHECK(ParseOk("plugin_dir = '$EXE_DIR'\n").plugin_dir == exe_dir);
  // Only as a prefix: elsewhere it is an ordinary part of the path.
  CHECK(ParseOk("plugin_dir = 'x/$EXE_DIR'\n").plugin_dir == "x/$EXE_DIR");
  CHECK(ParseOk("plugin_dir = '$EXE_DIRx'\n").plugin_dir == "$EXE_DIRx");
}

TEST_CASE("config: a provider without a name or a plugin is refused at its entry's line") {
  Status st = ParseFailure("plugin_dir = 'p'\n\n[[providers]]\nplugin = 'local_disk'\n");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:3: a [[providers]] entry has no 'name'"));

  st = ParseFailure("[[providers]]\nname = 'a'\nplugin = 'x'\n[[providers]]\nname = 'nightly'\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:4: provider 'nightly' has no 'plugin'"));
}

TEST_CASE("config: a provider name used twice names both lines") {
  Status st = ParseFailure(R"([[providers]]
name = "nightly"
plugin = "local_disk"

[[providers]]
plugin = "remote"
name = "nightly"
)");
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:7: provider name 'nightly' is already used at line 2"));
}

TEST_CASE("config: an unknown key in a provider entry lists the known ones") {
  Status st = ParseFailure("[[providers]]\nname = 'n'\nplugin = 'p'\n\nsetings = 1\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(),
                 "config.toml:5: unknown key 'providers.setings' (known keys in [[providers]]: "
                 "name, plugin, archive, archive_timeout, settings)"));

  st = ParseFailure("[[providers]]\nname = 'n'\nplugin = 'p'\n[providers.extra]\nx = 1\n");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "config.toml:4: unknown table 'providers.extra'"));
}

TEST_CASE("config: provider values of the wrong type are refused") {
  struct Case {
    const char* text;
    const char* expected;
  };
  for (const Case& c : std::vector<Case>{
           {"plugin_dir = 5\n", "config.toml:1: 'plugin_dir' must be a string, got integer"},
           {"plugin_dir = ''\n", "config.toml:1: 'plugin_dir' must not be empty"},
           {"providers = 5\n",
            "config.toml:1: 'providers' must be an array of tables ([[providers]]), got integer"},
           {"providers = ['a']\n", "config.toml:1: 'providers' must be an array of tables"},
           {"[providers]\nname = 'x'\n", "config.toml:1: 'providers' must be an array of tables"},
           {"[[providers]]\nname = 7\nplugin = 'p'\n",
            "config.toml:2: 'providers.name' must be a string, got integer"},
           {"[[providers]]\nname = 'n'\nplugin = true\n",
            "config.toml:3: 'providers.plugin' must be a string, got boolean"},
           {"[[providers]]\nname = 'n'\nplugin = ''\n",
            "config.toml:3: 'providers.plugin' must not be empty"},
           {"[[providers]]\nname = 'n'\nplugin = 'p'\nsettings = 'path=/x'\n",
            "config.toml:4: 'providers.settings' must be a table, got string"},
           {"[[providers]]\nname = 'n'\nplugin = 'p'\n[providers.settings]\nratio = 0.5\n",
            "config.toml:5: 'providers.settings.ratio' must be a string, an integer or a boolean, "
            "got float"},
           {"[[providers]]\nname = 'n'\nplugin = 'p'\n[providers.settings]\n\nhosts = ['a']\n",
            "config.toml:6: 'providers.settings.hosts' must be a string, an integer or a boolean, "
            "got array"},
       }) {
    CAPTURE(c.text);
    Status st = ParseFailure(c.text);
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CAPTURE(st.message());
    CHECK(Contains(st.message(), c.expected));
  }
  // No providers at all, spelt as an empty array, is fine.
  CHECK(ParseOk("providers = []\n").providers.empty());
}

TEST_CASE("config: archive and archive_timeout of a provider round-trip, off by default") {
  HostConfig config = ParseOk(
      "[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\narchive = true\n"
      "archive_timeout = 5\n"
      "[[providers]]\nname = 'quiet'\nplugin = 'wal_archive'\narchive = true\n"
      "archive_timeout = 0\n"
      "[[providers]]\nname = 'plain'\nplugin = 'local_disk'\n");
  REQUIRE(config.providers.size() == 3);
  CHECK(config.providers[0].archive);
  CHECK(config.providers[0].archive_line == 4);
  CHECK(config.providers[0].archive_timeout == std::chrono::seconds(5));
  CHECK(config.providers[1].archive);
  CHECK(config.providers[1].archive_timeout == std::chrono::seconds(0));
  CHECK_FALSE(config.providers[2].archive);
  CHECK(config.providers[2].archive_timeout == std::chrono::seconds(60));
  // archive = true alone takes the default timeout.
  config = ParseOk("[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\narchive = true\n");
  CHECK(config.providers[0].archive_timeout == std::chrono::seconds(60));
}

TEST_CASE("config: bad archive settings name the file, line, key or provider") {
  struct Case {
    const char* text;
    const char* expected;
  };
  const std::string entry = "[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\n";
  for (const Case& c : std::vector<Case>{
           {"archive = 'yes'\n",
            "config.toml:4: 'providers.archive' must be a boolean (true or false), got string"},
           {"archive = true\narchive_timeout = 1.5\n",
            "config.toml:5: 'providers.archive_timeout' must be an integer, got float"},
           {"archive = true\narchive_timeout = '60s'\n",
            "config.toml:5: 'providers.archive_timeout' must be an integer, got string"},
           {"archive = true\narchive_timeout = -1\n",
            "config.toml:5: 'providers.archive_timeout' must be between 0 and 86400, got -1"},
           {"archive = true\narchive_timeout = 86401\n",
            "config.toml:5: 'providers.archive_timeout' must be between 0 and 86400, got 86401"},
           {"archive_timeout = 5\n",
            "config.toml:4: provider 'pitr': 'archive_timeout' applies to continuous archiving "
            "only; set archive = true, or remove archive_timeout"},
           {"archive = false\narchive_timeout = 5\n",
            "config.toml:5: provider 'pitr': 'archive_timeout' applies to continuous archiving "
            "only"},
           {"archve = true\n", "config.toml:4: unknown key 'providers.archve'"},
       }) {
    CAPTURE(c.text);
    Status st = ParseFailure(entry + c.text);
    CHECK(st.code() == Status::Code::kInvalidArgument);
    CAPTURE(st.message());
    CHECK(Contains(st.message(), c.expected));
  }
}

TEST_CASE("config: a provider name outside [A-Za-z0-9_.-]{1,64} is refused") {
  for (const char* name : {"", "night ly", "a/b", "caf\u00e9", "x;y"}) {
    CAPTURE(name);
    Status st = ParseFailure(std::string("[[providers]]\nname = '") + name + "'\nplugin = 'p'\n");
    CAPTURE(st.message());
    CHECK(Contains(st.message(),
                   "config.toml:2: 'providers.name' must be 1 to 64 characters from "
                   "A-Z a-z 0-9 _ . -, got \"" +
                       std::string(name) + "\""));
  }
  std::string longest(64, 'n');
  CHECK(ParseOk("[[providers]]\nname = '" + longest + "'\nplugin = 'p'\n").providers[0].name ==
        longest);
  Status st = ParseFailure("[[providers]]\nname = '" + longest + "x'\nplugin = 'p'\n");
  CHECK(Contains(st.message(), "'providers.name' must be 1 to 64 characters"));
}

TEST_CASE("config: a relative plugin_dir is relative to the config file's directory") {
  TempDir dir;
  std::filesystem::create_directories(dir / "etc");
  auto path = dir / "etc" / "host.toml";
  WriteFile(path, "plugin_dir = '../lib/plugins'\n");
  auto result = LoadHostConfig(path);
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  CHECK(result->plugin_dir == dir.path() / "lib" / "plugins");

  WriteFile(path, "plugin_dir = '/abs/plugins'\n");
  CHECK(LoadHostConfig(path)->plugin_dir == "/abs/plugins");
  // Left at its default, plugin_dir is the installed layout's, beside the
  // binary (<prefix>/bin/hostd, <prefix>/lib/hostd/plugins), for a config
  // file as for the built-in defaults.
  const auto exe_dir = std::filesystem::read_symlink("/proc/self/exe").parent_path();
  const auto beside_binary = (exe_dir / "../lib/hostd/plugins").lexically_normal();
  WriteFile(path, "[server]\n");
  CHECK(LoadHostConfig(path)->plugin_dir == beside_binary);
  // Text has no file: the current directory.
  CHECK(ParseOk("plugin_dir = 'p'\n").plugin_dir == "p");
  CHECK(hoststub::LoadHostConfigOrDefaults("")->plugin_dir == beside_binary);
  CHECK(hoststub::LoadHostConfigOrDefaults(path)->source == path.string());
}

TEST_CASE("config: a provider's plugin value resolves to a file in plugin_dir") {
  using hoststub::ResolvePluginFile;
  const std::filesystem::path dir = "/opt/plugins";
  CHECK(ResolvePluginFile(dir, "local_disk") == "/opt/plugins/bkp_local_disk.so");
  CHECK(ResolvePluginFile(dir, "custom.so") == "/opt/plugins/custom.so");
  CHECK(ResolvePluginFile(dir, "sub/bkp_x") == "/opt/plugins/sub/bkp_x");
  CHECK(ResolvePluginFile(dir, "/usr/lib/bkp_y.so") == "/usr/lib/bkp_y.so");
}

namespace {

// Every key of the schema set away from its default, two providers (one
// archiving), optional paths set: what a round trip must keep.
constexpr const char* kEveryKeySet = R"(
plugin_dir = "/opt/hostd/plugins"
[storage]
data_dir = "/srv/hostd data"
event_segment_size = "512KiB"
log_segment_size = 1000003
fsync = "interval"
fsync_interval_ms = 7
commit_index_interval_ms = 9
log_retention_entries = 11
compaction_interval_ms = 0
recovery_verify_closed_segments = 3
[server]
listen = "10.0.0.5"
port = 9000
auth_tokens_file = "/etc/hostd/tokens"
tls_cert = "/etc/hostd/c.pem"
tls_key = "/etc/hostd/k.pem"
allowed_hosts = ["backup.example.com", "b2"]
max_body_size = "1GiB"
max_header_count = 100
max_header_size = 2048
header_timeout_ms = 500
body_timeout_ms = 600
max_connections_per_client = 3
[log]
level = "debug"
format = "json"
[[providers]]
name = "nightly"
plugin = "local_disk"
[providers.settings]
path = "/var/backups/say \"hi\"\nnow"
workers = 2
verify = true
[[providers]]
name = "wal"
plugin = "/usr/lib/custom.so"
archive = true
archive_timeout = 15
)";

std::string Render(const HostConfig& config, hoststub::RenderStyle style) {
  auto text = hoststub::RenderHostConfig(config, style);
  REQUIRE_MESSAGE(text.ok(), text.status().ToString());
  return *text;
}

}  // namespace

TEST_CASE("config: show renders every key, documented, and parses back to the same config") {
  using hoststub::RenderStyle;
  const HostConfig written = ParseOk(kEveryKeySet);
  const std::string text = Render(written, RenderStyle::kEffective);
  CAPTURE(text);
  const HostConfig back = ParseOk(text);
  // The text of the re-read config is the same: every value survived.
  auto again = hoststub::RenderHostConfig(back, RenderStyle::kEffective);
  REQUIRE(again.ok());
  // Only the header names the source.
  CHECK(text.substr(text.find("\nplugin_dir")) == again->substr(again->find("\nplugin_dir")));
  CHECK(back.plugin_dir == "/opt/hostd/plugins");
  CHECK(back.storage.data_dir == "/srv/hostd data");
  CHECK(back.storage.event_segment_bytes == 512 * 1024);
  CHECK(back.storage.log_segment_bytes == 1000003);
  CHECK(back.storage.fsync == hoststub::FsyncPolicy::kInterval);
  CHECK(back.storage.compaction_interval.count() == 0);
  CHECK(back.server.listen_address == "10.0.0.5");
  CHECK(back.server.tls_key == "/etc/hostd/k.pem");
  CHECK(back.server.allowed_hosts == std::vector<std::string>{"backup.example.com", "b2"});
  CHECK(back.server.max_body_bytes == (uint64_t{1} << 30));
  CHECK(back.server.max_header_bytes == 2048);
  CHECK(back.log.level == hoststub::LogLevel::kDebug);
  CHECK(back.log.format == hoststub::LogFormat::kJson);
  REQUIRE(back.providers.size() == 2);
  CHECK(back.providers[0].settings["path"].value<std::string>() == "/var/backups/say \"hi\"\nnow");
  CHECK(back.providers[0].settings["workers"].value<int64_t>() == 2);
  CHECK(back.providers[0].settings["verify"].value<bool>() == true);
  CHECK_FALSE(back.providers[0].archive);
  CHECK(back.providers[1].plugin == "/usr/lib/custom.so");
  CHECK(back.providers[1].archive);
  CHECK(back.providers[1].archive_timeout.count() == 15);

  // Every key of every table comes with its documentation: the line above
  // each `key = ` is a comment.
  for (const char* key : {"plugin_dir",
                          "data_dir",
                          "event_segment_size",
                          "log_segment_size",
                          "fsync",
                          "fsync_interval_ms",
                          "commit_index_interval_ms",
                          "log_retention_entries",
                          "compaction_interval_ms",
                          "recovery_verify_closed_segments",
                          "listen",
                          "port",
                          "auth_tokens_file",
                          "tls_cert",
                          "tls_key",
                          "allowed_hosts",
                          "max_body_size",
                          "max_header_count",
                          "max_header_size",
                          "header_timeout_ms",
                          "body_timeout_ms",
                          "max_connections_per_client",
                          "level",
                          "format",
                          "name",
                          "plugin",
                          "archive",
                          "archive_timeout"}) {
    CAPTURE(key);
    const size_t at = text.find(std::string("\n") + key + " = ");
    REQUIRE(at != std::string::npos);
    const size_t previous_line = text.rfind('\n', at - 1);
    REQUIRE(previous_line != std::string::npos);
    CHECK(text[previous_line + 1] == '#');
  }
}

TEST_CASE("config: show writes unset paths and a needless archive_timeout commented out") {
  const std::string text = Render(ParseOk("[[providers]]\nname = 'a'\nplugin = 'p'\n"),
                                  hoststub::RenderStyle::kEffective);
  CHECK(Contains(text, "\n# auth_tokens_file = \"/etc/hostd/tokens\"\n"));
  CHECK(Contains(text, "\n# tls_cert = "));
  CHECK(Contains(text, "\narchive = false\n"));
  // Without archive = true, a live archive_timeout would be refused.
  CHECK(Contains(text, "\n# archive_timeout = 60\n"));
  const HostConfig back = ParseOk(text);
  CHECK(back.server.auth_tokens_file.empty());
  // No providers at all parses back to none.
  const HostConfig none = ParseOk(Render(ParseOk("[server]\n"), hoststub::RenderStyle::kEffective));
  CHECK(none.providers.empty());
}

TEST_CASE("config: the example style comments out what is at its default, paths as written") {
  auto seed = ParseHostConfig(
      "[storage]\ndata_dir = '/var/lib/hostd/data'\n[[providers]]\n"
      "name = 'local'\nplugin = 'local_disk'\n[providers.settings]\n"
      "path = '/var/lib/hostd/backups'\n",
      "seed.toml", hoststub::PathResolution::kAsWritten);
  REQUIRE(seed.ok());
  const std::string text = Render(*seed, hoststub::RenderStyle::kExample);
  CAPTURE(text);
  CHECK(Contains(text, "\ndata_dir = \"/var/lib/hostd/data\"\n"));
  CHECK(Contains(text, "\n# port = 8124\n"));
  CHECK(Contains(text, "\n# fsync = \"batch\"\n"));
  // plugin_dir stays the binary-relative default, not this build's path.
  CHECK(Contains(text, "\n# plugin_dir = \"$EXE_DIR/../lib/hostd/plugins\"\n"));
  CHECK(Contains(text, "\nname = \"local\"\n"));
  CHECK(Contains(text, "\npath = \"/var/lib/hostd/backups\"\n"));
  const HostConfig back = ParseOk(text);
  CHECK(back.storage.data_dir == "/var/lib/hostd/data");
  CHECK(back.server.port == 8124);
  REQUIRE(back.providers.size() == 1);
  CHECK(back.providers[0].settings["path"].value<std::string>() == "/var/lib/hostd/backups");
}

TEST_CASE("config: a schema key without a writer or doc is refused by the renderer") {
  // What keeps a key added to the schema from silently missing from the
  // reference: RenderTable refuses it.
  namespace ts = hoststub::toml_schema;
  int value = 1;
  std::vector<ts::Key> no_writer = {
      {"bare", ts::Reader([](const ts::Value&) { return hoststub::Status::OK(); }), "documented"}};
  auto r = ts::RenderTable(no_writer, "t");
  REQUIRE_FALSE(r.ok());
  CHECK(Contains(r.status().message(), "'t.bare' has no Writer"));
  std::vector<ts::Key> no_doc = {{"n", ts::Integer(value, 0, 9)}};
  r = ts::RenderTable(no_doc, "t");
  REQUIRE_FALSE(r.ok());
  CHECK(Contains(r.status().message(), "'t.n' has no documentation"));
}
