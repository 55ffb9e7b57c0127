// Tests of PluginLibrary: loading with immediate binding, negotiation, the
// defensive copy of the provider table and each check of it, one broken
// fixture per error, and the library's lifetime.
#include "plugin_host/plugin_library.h"

#include <dlfcn.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "plugin_host_test_util.h"

using hoststub::PluginLibrary;
using hoststub::Status;
using plugin_host_testing::Contains;
using plugin_host_testing::Fixture;
using plugin_host_testing::IsLoaded;

namespace {

PluginLibrary LoadOk(const std::string& fixture) {
  auto result = PluginLibrary::Load(Fixture(fixture));
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  return result.value();
}

// Loads a fixture that must be refused; returns why.
Status LoadFailure(const std::string& fixture) {
  auto result = PluginLibrary::Load(Fixture(fixture));
  REQUIRE_FALSE(result.ok());
  return result.status();
}

}  // namespace

TEST_CASE("plugin library: a good provider loads, negotiates the current ABI and keeps its table") {
  PluginLibrary plugin = LoadOk("fx_good");
  CHECK(plugin.path() == Fixture("fx_good"));
  CHECK(plugin.path().is_absolute());
  CHECK(plugin.provider_name() == "fx_good");
  CHECK(plugin.provider_version() == "0.1.0");
  CHECK(plugin.negotiated_version() == BKP_ABI_VERSION);
  CHECK(plugin.plugin_abi_version() == BKP_ABI_VERSION);
  CHECK(plugin.plugin_struct_size() == sizeof(bkp_provider));
  const bkp_provider& table = plugin.table();
  CHECK(table.struct_size == sizeof(bkp_provider));
  CHECK(table.capabilities == (BKP_CAP_BACKUP | BKP_CAP_LIST));
  CHECK((table.open != nullptr));
  CHECK((table.close != nullptr));
  CHECK((table.backup != nullptr));
  CHECK((table.list != nullptr));
  CHECK((table.restore == nullptr));
  REQUIRE(table.settings_count == 3);
  CHECK(std::string(table.settings[0].key) == "path");
  CHECK(plugin.library()->is_loaded());
}

TEST_CASE("plugin library: a missing file is NotFound and names the path tried") {
  auto result = PluginLibrary::Load(Fixture("fx_does_not_exist"));
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == Status::Code::kNotFound);
  CHECK(result.status().message() ==
        "plugin file not found: tried " + Fixture("fx_does_not_exist").string());
}

TEST_CASE("plugin library: a file that is not a shared object is refused with the loader's text") {
  Status st = LoadFailure("not_a_library");
  CAPTURE(st.message());
  CHECK(st.code() == Status::Code::kUnsupported);
  CHECK(Contains(st.message(),
                 Fixture("not_a_library").string() + ": not a loadable shared object: "));
  // glibc's own words for a file without an ELF header.
  CHECK(Contains(st.message(), "invalid ELF header"));
}

TEST_CASE("plugin library: an unresolved symbol fails the load, not the first call") {
  Status st = LoadFailure("fx_unresolved_symbol");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), Fixture("fx_unresolved_symbol").string()));
  CHECK(Contains(st.message(), "not a loadable shared object"));
  CHECK(Contains(st.message(), "undefined symbol: fx_symbol_that_does_not_exist"));
}

TEST_CASE("plugin library: a library without the entry symbol is refused") {
  Status st = LoadFailure("fx_no_entry_symbol");
  CAPTURE(st.message());
  CHECK(Contains(st.message(),
                 Fixture("fx_no_entry_symbol").string() + ": no entry symbol 'bkp_plugin_entry'"));
  CHECK(Contains(st.message(), "undefined symbol: bkp_plugin_entry"));
}

TEST_CASE("plugin library: a plugin refusing the host's version is refused with its reason") {
  Status st = LoadFailure("fx_refuses_major");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), Fixture("fx_refuses_major").string() +
                                   ": the plugin refused the host's ABI 1.2: fx_variant needs ABI "
                                   "2.x (the v2 source layout); this host speaks 1.2"));
}

TEST_CASE("plugin library: a table of another major version is refused") {
  Status st = LoadFailure("fx_wrong_major");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), Fixture("fx_wrong_major").string() +
                                   ": the provider table was built for ABI 2.x, host speaks "
                                   "1.x (plugin 2.0, host 1.2): use a build of the plugin for "
                                   "ABI 1.x"));
}

TEST_CASE("plugin library: a table smaller than ABI 1.0's is refused as struct too small") {
  Status st = LoadFailure("fx_struct_too_small");
  CAPTURE(st.message());
  CHECK(
      Contains(st.message(), Fixture("fx_struct_too_small").string() +
                                 ": provider table struct too small: struct_size is " +
                                 std::to_string(hoststub::kProviderTableV1_0Size - sizeof(void*)) +
                                 " bytes, ABI 1.0 needs at least " +
                                 std::to_string(hoststub::kProviderTableV1_0Size)));
}

TEST_CASE("plugin library: a NULL open callback is refused naming it") {
  Status st = LoadFailure("fx_null_open");
  CAPTURE(st.message());
  CHECK(Contains(st.message(),
                 Fixture("fx_null_open").string() +
                     ": the provider table's open callback is NULL (open and close are required)"));
}

TEST_CASE("plugin library: a capability bit without its callback is refused naming both") {
  Status st = LoadFailure("fx_cap_without_callback");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), Fixture("fx_cap_without_callback").string() +
                                   ": capability 'restore' is announced but the restore "
                                   "callback is NULL"));
}

TEST_CASE("plugin library: archive without archive_status is refused naming both") {
  Status st = LoadFailure("fx_archive_without_status");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), Fixture("fx_archive_without_status").string() +
                                   ": capability 'archive' is announced but the archive or "
                                   "archive_status callback is NULL"));
}

TEST_CASE("plugin library: a table without a name is refused") {
  Status st = LoadFailure("fx_empty_name");
  CAPTURE(st.message());
  CHECK(Contains(st.message(),
                 Fixture("fx_empty_name").string() + ": the provider table has no name"));
}

TEST_CASE("plugin library: a settings array with a stride below ABI 1.0 is refused") {
  Status st = LoadFailure("fx_spec_size_small");
  CAPTURE(st.message());
  CHECK(Contains(st.message(), "setting_spec_size is 8 bytes, ABI 1.0 needs at least 24"));
}

TEST_CASE("plugin library: a larger setting spec from a newer minor is read at its stride") {
  auto lib = PluginLibrary::Load(Fixture("fx_spec_size_larger"));
  REQUIRE_MESSAGE(lib.ok(), lib.status().ToString());
  const bkp_provider& table = lib->table();
  REQUIRE(table.settings_count == 2);
  CHECK(table.setting_spec_size == sizeof(bkp_setting_spec));
  CHECK(std::string(table.settings[0].key) == "bucket");
  CHECK(std::string(table.settings[1].key) == "verbose");  // not the newer field's bytes
  CHECK(table.settings[1].type == BKP_SETTING_BOOL);
}

TEST_CASE("plugin library: an inconsistent settings list is refused") {
  struct Case {
    const char* fixture;
    const char* expected;
  };
  for (const Case& c : std::vector<Case>{
           {"fx_settings_null", "declares 2 settings but its settings pointer is NULL"},
           {"fx_setting_null_key", "setting #1 of the provider table has no key"},
           {"fx_setting_bad_type",
            "setting 'ratio' has unknown type 9 (known: 1 string, 2 integer, 3 boolean)"},
       }) {
    CAPTURE(c.fixture);
    Status st = LoadFailure(c.fixture);
    CAPTURE(st.message());
    CHECK(Contains(st.message(), Fixture(c.fixture).string() + ": "));
    CHECK(Contains(st.message(), c.expected));
  }
}

TEST_CASE("plugin library: a newer minor loads and the host speaks its own minor") {
  PluginLibrary plugin = LoadOk("fx_newer_minor");
  CHECK(plugin.plugin_abi_version() == BKP_MAKE_VERSION(BKP_ABI_VERSION_MAJOR, 7));
  CHECK(plugin.negotiated_version() == BKP_ABI_VERSION);
}

TEST_CASE("plugin library: a table exactly the size of ABI 1.0 loads") {
  PluginLibrary plugin = LoadOk("fx_v1_0_sized");
  CHECK(plugin.plugin_struct_size() == hoststub::kProviderTableV1_0Size);
  CHECK(plugin.table().struct_size == hoststub::kProviderTableV1_0Size);
  CHECK(plugin.provider_name() == "fx_variant");
  CHECK((plugin.table().list != nullptr));
}

TEST_CASE("plugin library: a huge struct_size copies only the fields the host knows") {
  PluginLibrary plugin = LoadOk("fx_huge_struct");
  CHECK(plugin.plugin_struct_size() == sizeof(bkp_provider) + 4096);
  CHECK(plugin.table().struct_size == sizeof(bkp_provider));
  CHECK(plugin.provider_name() == "fx_variant");
  CHECK(plugin.table().capabilities == BKP_CAP_LIST);

  // The copy is the plugin's own table, byte for byte, up to what the host
  // knows; the 0xA5 garbage after it went nowhere.
  auto entry = reinterpret_cast<bkp_plugin_entry_fn>(
      dlsym(plugin.library()->native(), BKP_PLUGIN_ENTRY_NAME));
  REQUIRE((entry != nullptr));
  bkp_entry_args args{sizeof(bkp_entry_args), BKP_ABI_VERSION, nullptr, 0};
  const bkp_provider* theirs = entry(&args);
  REQUIRE(theirs != nullptr);
  const auto* garbage = reinterpret_cast<const unsigned char*>(theirs) + sizeof(bkp_provider);
  CHECK(garbage[0] == 0xA5);
  // The settings array is the one part the host re-homes (copied at the
  // plugin's stride into host memory); everything else is byte for byte.
  bkp_provider expected = *theirs;
  expected.struct_size = sizeof(bkp_provider);
  expected.settings = plugin.table().settings;
  expected.setting_spec_size = sizeof(bkp_setting_spec);
  CHECK(std::memcmp(&plugin.table(), &expected, sizeof(bkp_provider)) == 0);
  REQUIRE(plugin.table().settings_count == theirs->settings_count);
  for (uint32_t i = 0; i < theirs->settings_count; ++i) {
    CHECK(std::memcmp(&plugin.table().settings[i], &theirs->settings[i],
                      sizeof(bkp_setting_spec)) == 0);
  }
}

TEST_CASE("plugin library: a table followed by an unreadable page is copied without touching it") {
  // A read past min(sizeof(bkp_provider), struct_size) would crash the test.
  PluginLibrary plugin = LoadOk("fx_guard_page");
  CHECK(plugin.plugin_struct_size() ==
        sizeof(bkp_provider) + static_cast<size_t>(sysconf(_SC_PAGESIZE)));
  CHECK(plugin.table().struct_size == sizeof(bkp_provider));
  CHECK(plugin.provider_name() == "fx_guard_page");
  CHECK(plugin.negotiated_version() == BKP_ABI_VERSION);
}

TEST_CASE("plugin library: the library stays loaded while a copy of its handle lives") {
  const auto file = Fixture("fx_good");
  REQUIRE_FALSE(IsLoaded(file));
  std::shared_ptr<boost::dll::shared_library> held;
  void* open_callback = nullptr;
  {
    PluginLibrary plugin = LoadOk("fx_good");
    held = plugin.library();
    open_callback = reinterpret_cast<void*>(plugin.table().open);
  }
  CHECK(held->is_loaded());
  CHECK(IsLoaded(file));
  // The copied callback still points into a mapped library: that file.
  Dl_info info{};
  REQUIRE(dladdr(open_callback, &info) != 0);
  CHECK(std::string(info.dli_fname) == file.string());

  held.reset();
  CHECK_FALSE(IsLoaded(file));
}

TEST_CASE("plugin library: versions and capabilities are named for messages") {
  CHECK(hoststub::FormatAbiVersion(BKP_MAKE_VERSION(1, 0)) == "1.0");
  CHECK(hoststub::FormatAbiVersion(BKP_MAKE_VERSION(2, 13)) == "2.13");
  CHECK(hoststub::DescribeCapabilities(0) == "none");
  CHECK(hoststub::DescribeCapabilities(BKP_CAP_BACKUP | BKP_CAP_RESTORE | BKP_CAP_LIST |
                                       BKP_CAP_VERIFY | BKP_CAP_REMOVE | BKP_CAP_EXPIRE |
                                       BKP_CAP_INCREMENTAL | (1ull << 40)) ==
        "backup, restore, list, verify, remove, expire, incremental");
  CHECK(hoststub::CapabilityNames(BKP_CAP_LIST | BKP_CAP_ARCHIVE | BKP_CAP_POINT_IN_TIME) ==
        std::vector<std::string>{"list", "archive", "point-in-time"});
  CHECK(hoststub::CapabilityNames(BKP_CAP_LOCKS) == std::vector<std::string>{"locks"});
  CHECK(hoststub::SettingTypeName(BKP_SETTING_INT) == "integer");
  CHECK(hoststub::SettingTypeName(9) == "unknown type 9");
}
