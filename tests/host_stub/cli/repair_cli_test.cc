// `hostd backup repair` end to end: a backup local_disk made through hostd,
// two of its stored objects damaged on disk, then the repair on the stopped
// host. What the host still holds byte for byte (a closed segment) is stored
// again; what it no longer holds (the control DB, changed since) is named
// as still damaged, with why, and the exit code says so. While another
// host's backup holds the repository, the repair refuses and moves nothing.
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

TEST_CASE("hostd backup repair: stores lost data again from the host, names what stays damaged") {
  ts::TempDir dir;
  auto options = storage_test::Options(dir / "data");
  options.event_segment_bytes = 4096;
  options.log_segment_bytes = 4096;
  storage_test::AppendNumbered(*storage_test::OpenOrFail(options), "orders", 200);
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\n";
  toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
          Quoted(dir / "repo") + "\nworkers = 1\n";
  ts::WriteFile(dir / "host.toml", toml);
  const std::string config = (dir / "host.toml").string();
  ts::CommandResult r = ts::RunCommand({HOSTD_BIN, "backup", "create", "--config", config});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  const auto manifests = ts::ListSorted(dir / "repo" / "backups");
  REQUIRE(manifests.size() == 1);
  const std::string id = manifests[0].stem().string();

  // A closed event segment's object and the control DB's, both damaged.
  const auto manifest = nlohmann::json::parse(ts::ReadFile(manifests[0]));
  std::string segment_object, control_object;
  for (const auto& f : manifest.at("files")) {
    if (f.at("role") == "control_db") control_object = f.at("chunks").at(0).at("object");
    if (f.at("role") == "events" && f.at("closed").get<bool>() && segment_object.empty()) {
      segment_object = f.at("chunks").at(0).at("object");
    }
  }
  REQUIRE_FALSE(segment_object.empty());
  REQUIRE_FALSE(control_object.empty());
  const std::string segment_bytes = ts::ReadFile(dir / "repo" / segment_object);
  ts::FlipByte(dir / "repo" / segment_object, segment_bytes.size() / 2);
  ts::FlipByte(dir / "repo" / control_object, fs::file_size(dir / "repo" / control_object) / 2);
  // The host goes on: its control DB is no longer the one backed up.
  storage_test::AppendNumbered(*storage_test::OpenOrFail(options), "orders", 5, "later");

  // While a backup of another host holds the repository, verify may not
  // move anything, so the repair refuses before it backs up.
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
  r = ts::RunCommand({HOSTD_BIN, "backup", "repair", "--config", config});
  {
    INFO(r.output);
    CHECK(r.exit_code == 1);
    CHECK(Contains(r.output, "backup repair refused: verify could not set the damaged objects"));
    CHECK(Contains(r.output, "backup on host 'far-away'"));
    CHECK(ts::ListSorted(dir / "repo" / "backups").size() == 1);
    CHECK(fs::exists(dir / "repo" / segment_object));
    CHECK_FALSE(fs::exists(dir / "repo" / "quarantine" / segment_object));
  }
  fs::remove(dir / "repo" / "locks" / "elsewhere.json");

  r = ts::RunCommand({HOSTD_BIN, "backup", "repair", "--config", config});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(Contains(r.output, "verify found 2 problem(s)"));
  CHECK(Contains(r.output, "1 problem(s) remain"));
  CHECK(Contains(r.output, "stored '" + segment_object + "' again from the host's orders/events/"));
  CHECK(Contains(r.output, "STILL DAMAGED backup " + id + " file control.db"));
  CHECK(Contains(r.output, "cannot repair '" + control_object + "'"));
  CHECK(Contains(r.output, "backup " + id + " remain(s) damaged"));
  // The segment's object is back, byte for byte; the damaged ones are kept aside.
  CHECK(ts::ReadFile(dir / "repo" / segment_object) == segment_bytes);
  CHECK(fs::exists(dir / "repo" / "quarantine" / segment_object));
  CHECK(fs::exists(dir / "repo" / "quarantine" / control_object));

  r = ts::RunCommand({HOSTD_BIN, "backup", "verify", "--config", config, "--json"});
  INFO(r.output);
  CHECK(r.exit_code == 1);
  // The JSON document is the one line of stdout; progress lines go to stderr.
  const auto verified = nlohmann::json::parse(r.output.substr(r.output.find("\n{") + 1));
  REQUIRE(verified.at("problems").size() == 1);
  CHECK(verified.at("problems").at(0).at("file") == "control.db");
}
