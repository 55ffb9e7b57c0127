// The `null` provider (plugins/null) and the old_v1_0 fixture, loaded from
// their built .so files and driven through a scripted host: negotiation,
// settings, reading every byte in the backup order, and each error path.
#include <cstring>
#include <string>

#include <doctest/doctest.h>

#include "bkp/bkp_plugin.h"
#include "bkp/conformance/fake_host.h"

namespace {

const std::string kNullPlugin = std::string(BKP_PLUGIN_DIR) + "/bkp_null.so";
const std::string kOldPlugin = std::string(BKP_FIXTURE_DIR) + "/bkp_old_v1_0.so";

// Items of every role; sizes straddle the 4 KiB buffer and include empty.
void AddItems(fake::FakeHost& host) {
  host.items = {
      {BKP_ROLE_CONTROL_DB, "", "control.db", std::string(5000, 'c'), {}},
      {BKP_ROLE_LOG, "default", "00000000000000000001.log", std::string(4096, 'l'), {}},
      {BKP_ROLE_LOG, "default", "00000000000000000100.log", "", {}},
      {BKP_ROLE_EVENTS, "default", "00000000000000000000.events", std::string(12289, 'e'), {}},
      {BKP_ROLE_SNAPSHOTS, "default", "00000000000000000000.snapshots", "s", {}},
  };
}

const uint64_t kItemBytes = 5000 + 4096 + 0 + 12289 + 1;

// An open instance, closed at scope exit.
struct Instance {
  const bkp_provider* provider;
  bkp_instance* handle = nullptr;
  ~Instance() { provider->close(handle); }
};

}  // namespace

TEST_CASE("null provider: serves hosts of major 1 and refuses another major with a reason") {
  fake::PluginLibrary lib(kNullPlugin);
  std::string error;
  CHECK(lib.Entry(BKP_ABI_VERSION, &error) != nullptr);
  CHECK(lib.Entry(BKP_MAKE_VERSION(1, 7), &error) != nullptr);  // a newer minor: use 1.0
  CHECK(lib.Entry(BKP_MAKE_VERSION(2, 0), &error) == nullptr);
  CHECK(error.find("2.0") != std::string::npos);
  CHECK(error.find("major") != std::string::npos);
  CHECK(lib.Entry(BKP_MAKE_VERSION(0, 9), &error) == nullptr);

  // Defensive reading: no args, or args too short to hold a version.
  CHECK(lib.entry_fn()(nullptr) == nullptr);
  bkp_entry_args tiny{};
  tiny.struct_size = 4;
  tiny.host_abi_version = BKP_ABI_VERSION;
  CHECK(lib.entry_fn()(&tiny) == nullptr);
  // A refusal with no error buffer writes nothing and does not crash.
  bkp_entry_args no_buffer{};
  no_buffer.struct_size = sizeof no_buffer;
  no_buffer.host_abi_version = BKP_MAKE_VERSION(3, 0);
  CHECK(lib.entry_fn()(&no_buffer) == nullptr);
}

TEST_CASE("null provider: its table announces backup only and the buffer_kib setting") {
  fake::PluginLibrary lib(kNullPlugin);
  const bkp_provider* p = lib.Entry(BKP_ABI_VERSION);
  REQUIRE(p != nullptr);
  CHECK(p->struct_size == sizeof(bkp_provider));
  CHECK(p->abi_version == BKP_ABI_VERSION);
  CHECK(std::strcmp(p->name, "null") == 0);
  CHECK(p->capabilities == BKP_CAP_BACKUP);
  CHECK((p->open != nullptr));
  CHECK((p->close != nullptr));
  CHECK((p->backup != nullptr));
  CHECK((p->restore == nullptr));
  CHECK((p->list == nullptr));
  CHECK((p->verify == nullptr));
  CHECK((p->remove == nullptr));
  CHECK((p->expire == nullptr));
  REQUIRE(p->settings_count == 1);
  CHECK(std::strcmp(p->settings[0].key, "buffer_kib") == 0);
  CHECK(p->settings[0].type == BKP_SETTING_INT);
  CHECK(p->settings[0].flags == 0);
  CHECK(p->setting_spec_size == sizeof(bkp_setting_spec));
}

TEST_CASE("null provider: open refuses buffer_kib outside 4 to 65536 and names the setting") {
  fake::PluginLibrary lib(kNullPlugin);
  const bkp_provider* p = lib.Entry(BKP_ABI_VERSION);
  REQUIRE(p != nullptr);
  fake::FakeHost host;
  for (int64_t bad : {int64_t{-1}, int64_t{0}, int64_t{3}, int64_t{65537}, int64_t{1} << 40}) {
    INFO("buffer_kib = " << bad);
    host.int_settings["buffer_kib"] = bad;
    const bkp_open_args args = host.OpenArgs("nothing");
    bkp_instance* instance = reinterpret_cast<bkp_instance*>(&host);  // must be reset
    char err[256] = "";
    CHECK(p->open(&args, &instance, err, sizeof err) == BKP_E_INVALID_ARGUMENT);
    CHECK(instance == nullptr);
    CHECK(std::string(err).find("buffer_kib") != std::string::npos);
    CHECK(std::string(err).find("nothing") != std::string::npos);
  }
  for (int64_t good : {int64_t{4}, int64_t{65536}}) {
    host.int_settings["buffer_kib"] = good;
    const bkp_open_args args = host.OpenArgs("nothing");
    Instance instance{p};
    char err[256] = "";
    CHECK(p->open(&args, &instance.handle, err, sizeof err) == BKP_OK);
    CHECK(instance.handle != nullptr);
  }
  host.int_settings.clear();
  host.string_settings["buffer_kib"] = "large";  // a host that skipped the type check
  const bkp_open_args args = host.OpenArgs("nothing");
  Instance instance{p};
  char err[256] = "";
  CHECK(p->open(&args, &instance.handle, err, sizeof err) == BKP_E_INVALID_ARGUMENT);
  CHECK(std::string(err).find("buffer_kib") != std::string::npos);
}

TEST_CASE("null provider: a backup reads every byte of every role in order and stores none") {
  fake::PluginLibrary lib(kNullPlugin);
  const bkp_provider* p = lib.Entry(BKP_ABI_VERSION);
  REQUIRE(p != nullptr);
  fake::FakeHost host;
  AddItems(host);
  host.int_settings["buffer_kib"] = 4;
  const bkp_open_args open_args = host.OpenArgs("n");
  Instance instance{p};
  char err[256] = "";
  REQUIRE(p->open(&open_args, &instance.handle, err, sizeof err) == BKP_OK);

  const bkp_backup_args args = host.BackupArgs();
  bkp_backup_result result{};
  result.struct_size = sizeof result;
  REQUIRE_MESSAGE(p->backup(instance.handle, &args, &result, err, sizeof err) == BKP_OK, err);

  CHECK(host.listed_roles == std::vector<uint32_t>{BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG,
                                                   BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS});
  for (size_t i = 0; i < host.items.size(); ++i) {
    INFO(host.items[i].name);
    CHECK(host.bytes_served[i] == host.items[i].data.size());
  }
  CHECK(host.largest_read == 4096);
  CHECK(std::string(result.backup_id).rfind("null-", 0) == 0);
  CHECK(result.bytes_read == kItemBytes);
  CHECK(result.bytes_stored == 0);
  CHECK(result.files == 5);

  REQUIRE(!host.progress.empty());
  const bkp_progress& last = host.progress.back();
  CHECK(last.phase == BKP_PHASE_FINISHING);
  CHECK(last.bytes_done == kItemBytes);
  CHECK(last.bytes_total == kItemBytes);
  CHECK(last.files_done == 5);
  CHECK(last.files_total == 5);
  // Phases only move forward, in backup order (their values are names, not
  // ranks: SNAPSHOTS was appended after FINISHING).
  auto rank = [](uint32_t phase) {
    switch (phase) {
      case BKP_PHASE_CONTROL_DB:
        return 1;
      case BKP_PHASE_LOG:
        return 2;
      case BKP_PHASE_EVENTS:
        return 3;
      case BKP_PHASE_SNAPSHOTS:
        return 4;
      case BKP_PHASE_FINISHING:
        return 5;
    }
    return 0;
  };
  int last_rank = 0;
  for (const bkp_progress& report : host.progress) {
    CHECK(report.struct_size == sizeof(bkp_progress));
    CHECK(rank(report.phase) >= last_rank);
    last_rank = rank(report.phase);
  }

  REQUIRE(host.log_lines.size() == 1);
  CHECK(host.log_lines[0].first == BKP_LOG_INFO);
  const std::string summary = "null: read 5 files, " + std::to_string(kItemBytes) + " bytes in ";
  CHECK(host.log_lines[0].second.rfind(summary, 0) == 0);
  CHECK(host.log_lines[0].second.find("MiB/s)") != std::string::npos);
}

TEST_CASE("null provider: an item that ends before its listed size fails with BKP_E_IO") {
  fake::PluginLibrary lib(kNullPlugin);
  const bkp_provider* p = lib.Entry(BKP_ABI_VERSION);
  fake::FakeHost host;
  AddItems(host);
  host.items[3].announced_size = host.items[3].data.size() + 100;
  const bkp_open_args open_args = host.OpenArgs("n");
  Instance instance{p};
  char err[256] = "";
  REQUIRE(p->open(&open_args, &instance.handle, err, sizeof err) == BKP_OK);
  const bkp_backup_args args = host.BackupArgs();
  bkp_backup_result result{};
  result.struct_size = sizeof result;
  CHECK(p->backup(instance.handle, &args, &result, err, sizeof err) == BKP_E_IO);
  CHECK(std::string(err).find("default/00000000000000000000.events") != std::string::npos);
  CHECK(result.backup_id[0] == '\0');  // no backup reported
}

TEST_CASE("null provider: a cancel between reads stops the backup with BKP_E_CANCELLED") {
  fake::PluginLibrary lib(kNullPlugin);
  const bkp_provider* p = lib.Entry(BKP_ABI_VERSION);
  fake::FakeHost host;
  AddItems(host);
  host.int_settings["buffer_kib"] = 4;
  host.cancel_after_reads = 2;
  const bkp_open_args open_args = host.OpenArgs("n");
  Instance instance{p};
  char err[256] = "";
  REQUIRE(p->open(&open_args, &instance.handle, err, sizeof err) == BKP_OK);
  const bkp_backup_args args = host.BackupArgs();
  bkp_backup_result result{};
  result.struct_size = sizeof result;
  CHECK(p->backup(instance.handle, &args, &result, err, sizeof err) == BKP_E_CANCELLED);
  CHECK(host.reads == 2);
  CHECK(std::string(err).find("cancelled") != std::string::npos);
}

TEST_CASE("null provider: a failed read returns the host's status and message with the item") {
  fake::PluginLibrary lib(kNullPlugin);
  const bkp_provider* p = lib.Entry(BKP_ABI_VERSION);
  fake::FakeHost host;
  AddItems(host);
  host.read_failure = {BKP_E_IO, "disk on fire"};
  const bkp_open_args open_args = host.OpenArgs("n");
  Instance instance{p};
  char err[256] = "";
  REQUIRE(p->open(&open_args, &instance.handle, err, sizeof err) == BKP_OK);
  const bkp_backup_args args = host.BackupArgs();
  bkp_backup_result result{};
  result.struct_size = sizeof result;
  CHECK(p->backup(instance.handle, &args, &result, err, sizeof err) == BKP_E_IO);
  CHECK(std::string(err).find("disk on fire") != std::string::npos);
  CHECK(std::string(err).find("control.db") != std::string::npos);

  // A tiny error buffer still gets a NUL-terminated prefix.
  host.ResetOperation();
  char small[8];
  std::memset(small, 'x', sizeof small);
  CHECK(p->backup(instance.handle, &args, &result, small, sizeof small) == BKP_E_IO);
  CHECK(std::strlen(small) == sizeof small - 1);
}

TEST_CASE("null provider: an incremental backup is unsupported") {
  fake::PluginLibrary lib(kNullPlugin);
  const bkp_provider* p = lib.Entry(BKP_ABI_VERSION);
  fake::FakeHost host;
  const bkp_open_args open_args = host.OpenArgs("n");
  Instance instance{p};
  char err[256] = "";
  REQUIRE(p->open(&open_args, &instance.handle, err, sizeof err) == BKP_OK);
  const bkp_backup_args args = host.BackupArgs(BKP_BACKUP_INCREMENTAL);
  bkp_backup_result result{};
  result.struct_size = sizeof result;
  CHECK(p->backup(instance.handle, &args, &result, err, sizeof err) == BKP_E_UNSUPPORTED);
  CHECK(host.listed_roles.empty());
}

// The fixture is loaded for real by the plugin host's tests; this only shows
// the 1.0-built library works against today's header before they rely on it.
TEST_CASE("old_v1_0 fixture: built against the frozen header it backs up through a live host") {
  fake::PluginLibrary lib(kOldPlugin);
  std::string error;
  const bkp_provider* p = lib.Entry(BKP_ABI_VERSION, &error);
  REQUIRE_MESSAGE(p != nullptr, error);
  CHECK(p->abi_version == BKP_MAKE_VERSION(1, 0));
  CHECK(std::strcmp(p->name, "old_v1_0") == 0);
  CHECK(p->capabilities == (BKP_CAP_BACKUP | BKP_CAP_LIST));
  CHECK(lib.Entry(BKP_MAKE_VERSION(2, 0), &error) == nullptr);
  CHECK(!error.empty());

  fake::FakeHost host;
  AddItems(host);
  const bkp_open_args open_args = host.OpenArgs("old");
  Instance instance{p};
  char err[256] = "";
  REQUIRE(p->open(&open_args, &instance.handle, err, sizeof err) == BKP_OK);
  const bkp_backup_args args = host.BackupArgs();
  bkp_backup_result result{};
  result.struct_size = sizeof result;
  REQUIRE_MESSAGE(p->backup(instance.handle, &args, &result, err, sizeof err) == BKP_OK, err);
  CHECK(result.bytes_read == kItemBytes);
  CHECK(result.files == 5);
  CHECK(result.backup_id[0] != '\0');
  for (size_t i = 0; i < host.items.size(); ++i) {
    CHECK(host.bytes_served[i] == host.items[i].data.size());
  }

  int calls = 0;
  auto count = [](void* user, const bkp_backup_info*) -> bkp_status {
    ++*static_cast<int*>(user);
    return BKP_OK;
  };
  CHECK(p->list(instance.handle, count, &calls, err, sizeof err) == BKP_OK);
  CHECK(calls == 0);
}
