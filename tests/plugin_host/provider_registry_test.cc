// Tests of LoadedProvider and ProviderRegistry: settings checked against the
// plugin's list before open, open through the real host services with the
// log routed to the host, every load error naming the provider, and the
// order of close and unload.
#include "plugin_host/provider_registry.h"

#include <unistd.h>

#include <doctest/doctest.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "plugin_host_test_util.h"
#include "test_support.h"

using hoststub::HostConfig;
using hoststub::LoadedProvider;
using hoststub::ProviderRegistry;
using hoststub::Status;
using plugin_host_testing::Contains;
using plugin_host_testing::Fixture;
using plugin_host_testing::FixtureConfig;
using plugin_host_testing::IsLoaded;
using plugin_host_testing::LogCapture;
using plugin_host_testing::ProviderToml;
using plugin_host_testing::ReadText;

namespace {

// Loads `config`, which must fail; returns why.
Status LoadFailure(const HostConfig& config) {
  LogCapture log;
  auto result = ProviderRegistry::Load(config, log.Fn());
  REQUIRE_FALSE(result.ok());
  return result.status();
}

// The good fixture as provider `name`; list reports `workers` as its file
// count.
std::string GoodProviderOfFourWorkers(const std::string& name = "nightly") {
  return ProviderToml(name, "fx_good", "path = '/srv/backups'\nworkers = 4\n");
}

// What list reports: the good fixture answers with one backup whose id is
// its `path` setting and whose file count is `workers`.
struct Listed {
  std::vector<std::string> ids;
  std::vector<uint64_t> files;
};

bkp_status CollectBackup(void* user, const bkp_backup_info* info) {
  auto* listed = static_cast<Listed*>(user);
  listed->ids.push_back(info->id != nullptr ? info->id : "");
  listed->files.push_back(info->files);
  return BKP_OK;
}

}  // namespace

TEST_CASE("registry: a good provider opens with its settings and logs through the host") {
  LogCapture log;
  HostConfig config = FixtureConfig(GoodProviderOfFourWorkers());
  auto loaded = ProviderRegistry::Load(config, log.Fn());
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  REQUIRE(loaded->providers().size() == 1);
  const std::shared_ptr<LoadedProvider> provider = loaded->Find("nightly");
  REQUIRE(provider != nullptr);
  CHECK(loaded->Find("weekly") == nullptr);
  CHECK(provider->name() == "nightly");
  CHECK(provider->plugin() == "fx_good");
  CHECK(provider->plugin_path() == Fixture("fx_good"));
  CHECK(provider->negotiated_version() == BKP_ABI_VERSION);
  CHECK(provider->instance() != nullptr);
  REQUIRE(provider->host() != nullptr);
  CHECK(provider->host()->provider_name == "nightly");

  auto lines = log.lines();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].provider == "nightly");
  CHECK(lines[0].level == BKP_LOG_INFO);
  CHECK(lines[0].message == "opened nightly path=/srv/backups workers=4");

  // The instance kept what open read: list goes through the copied table.
  Listed listed;
  char err[256] = {};
  REQUIRE(provider->table().list(provider->instance(), CollectBackup, &listed, err, sizeof err) ==
          BKP_OK);
  CHECK(listed.ids == std::vector<std::string>{"/srv/backups"});
  CHECK(listed.files == std::vector<uint64_t>{4});
}

TEST_CASE("registry: the default log line is the host log's, naming the provider in brackets") {
  testing_support::TempDir dir;
  const auto file = dir / "stderr.txt";
  // stderr is where the default goes; point it at a file for the call.
  fflush(stderr);
  int saved = dup(fileno(stderr));
  FILE* redirected = freopen(file.c_str(), "w", stderr);
  REQUIRE(redirected != nullptr);
  hoststub::LogProviderLineToStderr("nightly", BKP_LOG_WARN, "disk 91% full");
  hoststub::LogProviderLineToStderr("nightly", 42, "odd level");
  fflush(stderr);
  dup2(saved, fileno(stderr));
  close(saved);
  // "<time> WARN  [nightly] disk 91% full": the host's log format (util/log.h).
  const std::string text = ReadText(file);
  CHECK(text.find(" WARN  [nightly] disk 91% full\n") != std::string::npos);
  // A level the host does not know is logged as an ERROR keeping its number.
  CHECK(text.find(" ERROR [nightly] LEVEL42 odd level\n") != std::string::npos);
  CHECK(hoststub::LogLevelOfBkp(BKP_LOG_INFO) == hoststub::LogLevel::kInfo);
  CHECK(hoststub::BkpLogLevelName(BKP_LOG_DEBUG) == "DEBUG");
  CHECK(hoststub::BkpLogLevelName(BKP_LOG_ERROR) == "ERROR");
}

TEST_CASE("registry: an unknown setting names the file, line, provider, key and accepted keys") {
  // Lines: 1 plugin_dir, 2 [[providers]], 3 name, 4 plugin, 5 [settings],
  // 6 path, 7 the typo.
  Status st =
      LoadFailure(FixtureConfig(ProviderToml("nightly", "fx_good", "path = '/b'\npathh = '/c'\n")));
  CHECK(st.code() == Status::Code::kInvalidArgument);
  CHECK(hoststub::IsProviderConfigError(st));
  CHECK(st.message() ==
        "host.toml:7: provider 'nightly': unknown setting 'pathh' (fx_good accepts: path, "
        "workers, token)");
}

TEST_CASE("registry: archive = true on a plugin that cannot archive names file, line and key") {
  // Lines: 1 plugin_dir, 2 [[providers]], 3 name, 4 plugin, 5 archive.
  Status st = LoadFailure(
      FixtureConfig("[[providers]]\nname = 'nightly'\nplugin = 'fx_good'\narchive = true\n"
                    "[providers.settings]\npath = '/b'\n"));
  CHECK(hoststub::IsProviderConfigError(st));
  CHECK(st.message() ==
        "host.toml:5: provider 'nightly': 'archive = true' but plugin fx_good cannot archive "
        "(its capabilities are backup, list); archive through a provider whose plugin can (e.g. "
        "wal_archive), or set archive = false");
  // archive = false is fine on any plugin.
  LogCapture log;
  CHECK(ProviderRegistry::Load(FixtureConfig("[[providers]]\nname = 'nightly'\nplugin = "
                                             "'fx_good'\narchive = false\n[providers.settings]\n"
                                             "path = '/b'\n"),
                               log.Fn())
            .ok());
}

TEST_CASE("registry: a provider setting of the wrong type is refused showing what was written") {
  Status st = LoadFailure(
      FixtureConfig(ProviderToml("nightly", "fx_good", "path = '/b'\nworkers = 'four'\n")));
  CHECK(hoststub::IsProviderConfigError(st));
  CHECK(st.message() ==
        "host.toml:7: provider 'nightly': setting 'workers' must be an integer, got string "
        "\"four\"");

  st = LoadFailure(FixtureConfig(ProviderToml("nightly", "fx_good", "path = true\n")));
  CHECK(st.message() ==
        "host.toml:6: provider 'nightly': setting 'path' must be a string, got boolean true");
}

TEST_CASE("registry: a missing required setting is refused naming it and what it is for") {
  Status st = LoadFailure(FixtureConfig(ProviderToml("nightly", "fx_good", "workers = 2\n")));
  CHECK(hoststub::IsProviderConfigError(st));
  CHECK(st.message() ==
        "host.toml:2: provider 'nightly': required setting 'path' is missing (a string: where the "
        "backups go); add it under [providers.settings]");
  // No settings table at all is the same.
  st = LoadFailure(FixtureConfig(ProviderToml("nightly", "fx_good")));
  CHECK(Contains(st.message(), "required setting 'path' is missing"));
}

TEST_CASE("registry: a secret setting's value never appears in a message") {
  Status st = LoadFailure(
      FixtureConfig(ProviderToml("nightly", "fx_good", "path = '/b'\ntoken = 8675309\n")));
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "setting 'token' must be a string, got integer"));
  CHECK(Contains(st.message(), "value not shown"));
  CHECK_FALSE(Contains(st.message(), "8675309"));

  // A misspelt key is not known to be secret: values are never shown for it.
  st = LoadFailure(
      FixtureConfig(ProviderToml("nightly", "fx_good", "path = '/b'\ntokn = 'hunter2'\n")));
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "unknown setting 'tokn'"));
  CHECK_FALSE(Contains(st.message(), "hunter2"));
}

TEST_CASE(
    "registry: an open failure carries the plugin's message, its status, the provider and where "
    "it is configured") {
  Status st = LoadFailure(FixtureConfig(ProviderToml("offsite", "fx_open_fails")));
  CHECK_FALSE(hoststub::IsProviderConfigError(st));
  CHECK(st.message() ==
        "provider 'offsite' (plugin fx_open_fails): open failed: bucket 'nowhere' does not exist: "
        "create it or fix settings.bucket [BKP_E_INVALID_ARGUMENT] (configured at host.toml:2)");
}

TEST_CASE("registry: an open that succeeds without an instance is refused") {
  Status st = LoadFailure(FixtureConfig(ProviderToml("offsite", "fx_open_null_instance")));
  CHECK(st.message() ==
        "provider 'offsite' (plugin fx_open_null_instance): open returned BKP_OK but no instance "
        "(a bug in the plugin)");
}

TEST_CASE("registry: a missing plugin file names the provider and the path tried") {
  Status st = LoadFailure(FixtureConfig(ProviderToml("nightly", "local_disk")));
  CHECK(st.code() == Status::Code::kNotFound);
  CHECK_FALSE(hoststub::IsProviderConfigError(st));
  CHECK(st.message() == "provider 'nightly' (plugin local_disk): plugin file not found: tried " +
                            Fixture("local_disk").string());
}

TEST_CASE("registry: every plugin load error names the provider, the plugin and the file") {
  for (const char* plugin :
       {"not_a_library", "fx_no_entry_symbol", "fx_refuses_major", "fx_wrong_major",
        "fx_struct_too_small", "fx_null_open", "fx_cap_without_callback", "fx_unresolved_symbol"}) {
    CAPTURE(plugin);
    Status st = LoadFailure(FixtureConfig(ProviderToml("p1", plugin)));
    CAPTURE(st.message());
    CHECK_FALSE(hoststub::IsProviderConfigError(st));
    CHECK(st.message().rfind(std::string("provider 'p1' (plugin ") + plugin +
                                 "): " + Fixture(plugin).string() + ": ",
                             0) == 0);
  }
}

TEST_CASE("registry: a plugin value naming a file is taken relative to plugin_dir") {
  LogCapture log;
  auto loaded = ProviderRegistry::Load(
      FixtureConfig(ProviderToml("a", "bkp_fx_good.so", "path = '/a'\n") +
                    ProviderToml("b", Fixture("fx_good").string(), "path = '/b'\n")),
      log.Fn());
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  CHECK(loaded->Find("a")->plugin_path() == Fixture("fx_good"));
  CHECK(loaded->Find("b")->plugin_path() == Fixture("fx_good"));
  // Two instances of one plugin, each with its own settings.
  CHECK(loaded->Find("a")->instance() != loaded->Find("b")->instance());
  CHECK(log.lines().size() == 2);
}

TEST_CASE("registry: close runs before the library is unloaded") {
  testing_support::TempDir dir;
  const auto journal = dir / "journal.txt";
  {
    auto loaded = ProviderRegistry::Load(FixtureConfig(
        ProviderToml("rec", "fx_recording", "journal = '" + journal.string() + "'\n")));
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
    CHECK(ReadText(journal) == "open\n");
    CHECK(IsLoaded(Fixture("fx_recording")));
  }
  CHECK(ReadText(journal) == "open\nclose\nunload\n");
  CHECK_FALSE(IsLoaded(Fixture("fx_recording")));
}

TEST_CASE("registry: a failed load closes the providers it had already opened") {
  testing_support::TempDir dir;
  const auto journal = dir / "journal.txt";
  Status st = LoadFailure(
      FixtureConfig(ProviderToml("rec", "fx_recording", "journal = '" + journal.string() + "'\n") +
                    ProviderToml("offsite", "fx_open_fails")));
  CHECK(Contains(st.message(), "provider 'offsite'"));
  CHECK(ReadText(journal) == "open\nclose\nunload\n");
}

TEST_CASE("registry: a provider held elsewhere outlives its registry, library included") {
  testing_support::TempDir dir;
  const auto journal = dir / "journal.txt";
  std::shared_ptr<LoadedProvider> held;
  {
    auto loaded = ProviderRegistry::Load(FixtureConfig(
        ProviderToml("rec", "fx_recording", "journal = '" + journal.string() + "'\n")));
    REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
    held = loaded->providers().front();
  }
  // The registry is gone; the provider, its instance and its library are not.
  CHECK(ReadText(journal) == "open\n");
  CHECK(held->instance() != nullptr);
  CHECK(held->library().library()->is_loaded());
  CHECK(IsLoaded(Fixture("fx_recording")));

  held.reset();
  CHECK(ReadText(journal) == "open\nclose\nunload\n");
  CHECK_FALSE(IsLoaded(Fixture("fx_recording")));
}

TEST_CASE("registry: no providers configured is an empty registry") {
  auto loaded = ProviderRegistry::Load(FixtureConfig(""));
  REQUIRE(loaded.ok());
  CHECK(loaded->providers().empty());
  CHECK(loaded->Find("nightly") == nullptr);
}

TEST_CASE("registry: the old v1.0 plugin loads into today's host") {
  // Built by tests/plugin_api from a frozen copy of the 1.0 header.
  REQUIRE_MESSAGE(std::filesystem::exists(Fixture("old_v1_0")),
                  "missing " << Fixture("old_v1_0") << " (built by tests/plugin_api)");
  LogCapture log;
  auto loaded = ProviderRegistry::Load(FixtureConfig(ProviderToml("old", "old_v1_0")), log.Fn());
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  const std::shared_ptr<LoadedProvider> provider = loaded->Find("old");
  REQUIRE(provider != nullptr);
  CHECK(provider->library().provider_name() == "old_v1_0");
  CHECK(provider->negotiated_version() == BKP_MAKE_VERSION(1, 0));
  CHECK((provider->table().capabilities & BKP_CAP_LIST) != 0);
  Listed listed;
  char err[256] = {};
  CHECK(provider->table().list(provider->instance(), CollectBackup, &listed, err, sizeof err) ==
        BKP_OK);
  CHECK(listed.ids.empty());
}

TEST_CASE("registry: the real null provider loads from the real plugin directory") {
  const std::filesystem::path plugin_dir = BKP_PLUGIN_DIR;
  REQUIRE_MESSAGE(std::filesystem::exists(plugin_dir / "bkp_null.so"),
                  "missing " << (plugin_dir / "bkp_null.so") << " (built by plugins/null)");
  LogCapture log;
  auto loaded =
      ProviderRegistry::Load(FixtureConfig(ProviderToml("baseline", "null"), plugin_dir), log.Fn());
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  const std::shared_ptr<LoadedProvider> provider = loaded->Find("baseline");
  REQUIRE(provider != nullptr);
  CHECK(provider->plugin_path() == plugin_dir / "bkp_null.so");
  CHECK(provider->library().provider_name() == "null");
  CHECK(provider->negotiated_version() == BKP_ABI_VERSION);
  CHECK((provider->table().capabilities & BKP_CAP_BACKUP) != 0);
  CHECK(provider->instance() != nullptr);
}
