// `hostd backup repair` end to end: a backup local_disk made through hostd,
// two of its stored objects damaged on disk, then the repair on the stopped
// host. What the host still holds byte for byte (a closed segment) is stored
// again; what it no longer holds (the control DB, changed since) is named
// as still damaged, with why, and the exit code says so. While another
// host's backup holds the repository, the repair still heals what it can,
// in place, and moves nothing.
// Single-threaded; each test case has its own directories.
#include <chrono>
#include <filesystem>
#include <string>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "host_stub/storage_test_util.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

// A host whose one backup (local_disk) has two damaged objects: a closed
// event segment's, which the host still holds byte for byte, and the
// control DB's, which it does not (the host went on after the backup).
struct DamagedRepository {
  ts::TempDir dir;
  std::string config;
  std::string id;
  std::string segment_object, control_object;
  std::string segment_bytes;

  DamagedRepository() {
    auto options = storage_test::Options(dir / "data");
    options.event_segment_bytes = 4096;
    options.log_segment_bytes = 4096;
    storage_test::AppendNumbered(*storage_test::OpenOrFail(options), "orders", 200);
    std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
    toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\n";
    toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
            Quoted(dir / "repo") + "\nworkers = 1\n";
    ts::WriteFile(dir / "host.toml", toml);
    config = (dir / "host.toml").string();
    ts::CommandResult r = ts::RunCommand({HOSTD_BIN, "backup", "create", "--config", config});
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const auto manifests = ts::ListSorted(dir / "repo" / "backups");
    REQUIRE(manifests.size() == 1);
    id = manifests[0].stem().string();

    const auto manifest = nlohmann::json::parse(ts::ReadFile(manifests[0]));
    for (const auto& f : manifest.at("files")) {
      if (f.at("role") == "control_db") control_object = f.at("chunks").at(0).at("object");
      if (f.at("role") == "events" && f.at("closed").get<bool>() && segment_object.empty()) {
        segment_object = f.at("chunks").at(0).at("object");
      }
    }
    REQUIRE_FALSE(segment_object.empty());
    REQUIRE_FALSE(control_object.empty());
    segment_bytes = ts::ReadFile(dir / "repo" / segment_object);
    ts::FlipByte(dir / "repo" / segment_object, segment_bytes.size() / 2);
    ts::FlipByte(dir / "repo" / control_object, fs::file_size(dir / "repo" / control_object) / 2);
    // The host goes on: its control DB is no longer the one backed up.
    storage_test::AppendNumbered(*storage_test::OpenOrFail(options), "orders", 5, "later");
  }
};

}  // namespace

TEST_CASE("hostd backup repair: stores lost data again from the host, names what stays damaged") {
  DamagedRepository d;
  const fs::path& dir = d.dir.path();
  ts::CommandResult r = ts::RunCommand({HOSTD_BIN, "backup", "repair", "--config", d.config});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "verify found 2 problem(s)"));
  CHECK(Contains(r.output, "1 problem(s) remain"));
  CHECK(
      Contains(r.output, "stored '" + d.segment_object + "' again from the host's orders/events/"));
  CHECK(Contains(r.output, "STILL DAMAGED backup " + d.id + " file control.db"));
  CHECK(Contains(r.output, "cannot repair '" + d.control_object + "'"));
  CHECK(Contains(r.output, "backup " + d.id + " remain(s) damaged"));
  CHECK_FALSE(Contains(r.output, "NOT SET ASIDE YET"));
  // The segment's object is back, byte for byte; the damaged ones are kept aside.
  CHECK(ts::ReadFile(dir / "repo" / d.segment_object) == d.segment_bytes);
  CHECK(fs::exists(dir / "repo" / "quarantine" / d.segment_object));
  CHECK(fs::exists(dir / "repo" / "quarantine" / d.control_object));

  r = ts::RunCommand({HOSTD_BIN, "backup", "verify", "--config", d.config, "--json"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  // The JSON document is the one line of stdout; progress lines go to stderr.
  const auto verified = nlohmann::json::parse(r.output.substr(r.output.find("\n{") + 1));
  REQUIRE(verified.at("problems").size() == 1);
  CHECK(verified.at("problems").at(0).at("file") == "control.db");
}

TEST_CASE("hostd backup repair: beside another host's backup, heals in place and moves nothing") {
  DamagedRepository d;
  const fs::path& dir = d.dir.path();
  // Another host's backup holds the repository (shared): verify may not
  // take the exclusive lock to move anything, so it records the damage in
  // place, which the repair's backup writes over where the host has it.
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  const nlohmann::json lock = {{"format", "eventstore-backup-lock"},
                               {"version", 1},
                               {"id", "elsewhere"},
                               {"exclusive", false},
                               {"operation", "backup"},
                               {"host", "far-away"},
                               {"pid", 98},
                               {"owner", "another-host"},
                               {"since_ms", now},
                               {"refreshed_ms", now}};
  fs::create_directories(dir / "repo" / "locks");
  ts::WriteFile(dir / "repo" / "locks" / "elsewhere.json", lock.dump());

  ts::CommandResult r = ts::RunCommand({HOSTD_BIN, "backup", "repair", "--config", d.config});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK_FALSE(Contains(r.output, "refused"));
  CHECK(Contains(r.output, "verify found 2 problem(s)"));
  CHECK(Contains(r.output, "1 problem(s) remain"));
  CHECK(
      Contains(r.output, "stored '" + d.segment_object + "' again from the host's orders/events/"));
  CHECK(Contains(r.output, "STILL DAMAGED backup " + d.id + " file control.db"));
  CHECK(Contains(r.output, "NOT SET ASIDE YET quarantine/: 1 damaged object(s)"));
  CHECK(Contains(r.output, "backup on host 'far-away'"));
  CHECK(Contains(r.output, "backup " + d.id + " remain(s) damaged"));
  CHECK(ts::ListSorted(dir / "repo" / "backups").size() == 2);
  // Healed where it lay; nothing was moved while the other backup ran.
  CHECK(ts::ReadFile(dir / "repo" / d.segment_object) == d.segment_bytes);
  CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / d.segment_object));
  CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / d.control_object));
  CHECK(fs::exists(dir / "repo" / d.control_object));

  // Once the repository is free, verify sets aside what is still damaged.
  fs::remove(dir / "repo" / "locks" / "elsewhere.json");
  r = ts::RunCommand({HOSTD_BIN, "backup", "verify", "--config", d.config});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(fs::exists(dir / "repo" / "quarantine" / d.control_object));
  CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / d.segment_object));
}
