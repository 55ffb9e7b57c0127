// The hand restore documented in docs/repository-format.md, run as written:
// the script is taken from between its marker comments, run by bash with
// the stock lz4 (or zstd), xxhsum and jq on a backup the real local_disk provider
// made, and judged by `hostd check` and by comparing the restored files
// with the host's own. A flipped byte in a stored object must stop it with
// a non-zero exit naming the object.
// Single-threaded; each test case has its own directories.
#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "host_stub/storage_test_util.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;
using testing_support::Contains;
using testing_support::Quoted;

namespace {

// A stopped host with two contexts over several segments, backed up by
// `hostd backup create` through local_disk into DIR/repo (with
// `extra_settings`, TOML lines). Returns the id.
std::string BackUpSampleHost(const ts::TempDir& dir, const std::string& extra_settings = "") {
  {
    auto options = storage_test::Options(dir / "data");
    // Segments small enough that each stream has closed ones, few enough
    // that the script (a few jq runs per file) stays quick.
    options.event_segment_bytes = 8192;
    options.log_segment_bytes = 8192;
    auto store = storage_test::OpenOrFail(options);
    storage_test::AppendNumbered(*store, "orders", 200);
    storage_test::AppendNumbered(*store, "billing", 20);
  }
  std::string toml = "plugin_dir = " + Quoted(BKP_PLUGIN_DIR) + "\n";
  toml += "[storage]\ndata_dir = " + Quoted(dir / "data") + "\n";
  toml += "[[providers]]\nname = 'local'\nplugin = 'local_disk'\n[providers.settings]\npath = " +
          Quoted(dir / "repo") + "\nworkers = 1\n" + extra_settings;
  ts::WriteFile(dir / "host.toml", toml);
  ts::CommandResult r =
      ts::RunCommand({HOSTD_BIN, "backup", "create", "--config", (dir / "host.toml").string()});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::vector<fs::path> manifests = ts::ListSorted(dir / "repo" / "backups");
  REQUIRE(manifests.size() == 1);
  return manifests[0].stem().string();
}

// Runs the documented script with REPO, ID and DATA (and KEY, unless
// empty) set and hostd on PATH.
ts::CommandResult RunScript(const ts::TempDir& dir, const std::string& id, const fs::path& data,
                            const std::string& key = "") {
  ts::WriteFile(dir / "hand-restore.sh",
                ts::HandRestoreScript(fs::path(BKP_SOURCE_DIR) / "docs" / "repository-format.md"));
  const std::string path =
      fs::path(HOSTD_BIN).parent_path().string() + ":" + std::string(std::getenv("PATH"));
  return ts::RunCommand({"/usr/bin/env", "PATH=" + path, "REPO=" + (dir / "repo").string(),
                         "ID=" + id, "DATA=" + data.string(), "KEY=" + key, "bash",
                         (dir / "hand-restore.sh").string()});
}

// Every file under `dir`, relative, sorted.
std::vector<fs::path> Tree(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir));
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The provider settings of each codec the script must handle: LZ4 (the
// default) and zstd.
const char* const kCodecSettings[] = {"", "compression = 'zstd'\n"};

// Whether every chunk of the manifest says `codec` ("lz4": says none).
bool AllChunksSay(const ts::TempDir& dir, const std::string& id, const std::string& codec) {
  const auto m = nlohmann::json::parse(ts::ReadFile(dir / "repo" / "backups" / (id + ".json")));
  for (const auto& f : m.at("files")) {
    for (const auto& c : f.at("chunks")) {
      if (c.value("codec", std::string("lz4")) != codec) return false;
    }
  }
  return true;
}

}  // namespace

TEST_CASE("hand restore: the documented script restores a good backup that hostd check passes") {
  for (const std::string settings : kCodecSettings) {
    CAPTURE(settings);
    ts::TempDir dir;
    const std::string id = BackUpSampleHost(dir, settings);
    CHECK(AllChunksSay(dir, id, settings.empty() ? "lz4" : "zstd"));
    ts::CommandResult r = RunScript(dir, id, dir / "restored");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(Contains(r.output, "check passed"));
    // The segments are the host's byte for byte (the control DB is a copy
    // made through SQLite's backup API, so only its content is compared).
    std::vector<fs::path> restored = Tree(dir / "restored" / "contexts");
    CHECK(restored == Tree(dir / "data" / "contexts"));
    CHECK(restored.size() > 4);
    for (const auto& file : restored) {
      CAPTURE(file);
      CHECK(ts::ReadFile(dir / "restored" / "contexts" / file) ==
            ts::ReadFile(dir / "data" / "contexts" / file));
    }
    auto store = storage_test::OpenOrFail(storage_test::Options(dir / "restored"));
    CHECK(storage_test::ReadAllPayloads(*store, "orders").size() == 200);
    CHECK(storage_test::ReadAllPayloads(*store, "billing").size() == 20);
  }
}

TEST_CASE("hand restore: the documented script stops on a flipped byte and names the object") {
  for (const std::string settings : kCodecSettings) {
    CAPTURE(settings);
    ts::TempDir dir;
    const std::string id = BackUpSampleHost(dir, settings);
    // An object of the newest events segment of 'orders': the one the old
    // script left empty, which the checker then accepted.
    const auto manifest =
        nlohmann::json::parse(ts::ReadFile(dir / "repo" / "backups" / (id + ".json")));
    std::string object;
    for (const auto& f : manifest.at("files")) {
      if (f.at("role") == "events" && f.at("context") == "orders" && !f.at("chunks").empty()) {
        object = f.at("chunks").back().at("object").get<std::string>();
      }
    }
    REQUIRE_FALSE(object.empty());
    const fs::path stored = dir / "repo" / object;
    ts::FlipByte(stored, fs::file_size(stored) / 2);

    ts::CommandResult r = RunScript(dir, id, dir / "restored");
    INFO(r.output);
    CHECK(r.exit_code != 0);
    CHECK(Contains(r.output, "damaged object " + object));
    CHECK_FALSE(Contains(r.output, "check passed"));
  }
}

// An encrypted repository, its key made by the stock age-keygen: the same
// script with KEY set opens every file with the stock `age -d`.
std::string BackUpEncrypted(const ts::TempDir& dir, const std::string& settings = "") {
  ts::CommandResult keygen = ts::RunCommand({"age-keygen", "-o", (dir / "key.txt").string()});
  INFO(keygen.output);
  REQUIRE(keygen.exit_code == 0);
  return BackUpSampleHost(dir,
                          "encryption_identity = " + Quoted(dir / "key.txt") + "\n" + settings);
}

TEST_CASE("hand restore: the documented script with KEY restores an encrypted backup") {
  for (const std::string settings : kCodecSettings) {
    CAPTURE(settings);
    ts::TempDir dir;
    const std::string id = BackUpEncrypted(dir, settings);
    // Encrypted indeed: the manifest is no JSON without the key.
    CHECK_FALSE(Contains(ts::ReadFile(dir / "repo" / "backups" / (id + ".json")), "\"files\""));
    ts::CommandResult r = RunScript(dir, id, dir / "restored", (dir / "key.txt").string());
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    CHECK(Contains(r.output, "check passed"));
    const std::vector<fs::path> restored = Tree(dir / "restored" / "contexts");
    CHECK(restored == Tree(dir / "data" / "contexts"));
    for (const auto& file : restored) {
      CAPTURE(file);
      CHECK(ts::ReadFile(dir / "restored" / "contexts" / file) ==
            ts::ReadFile(dir / "data" / "contexts" / file));
    }
  }
}

TEST_CASE("hand restore: the documented script with KEY stops on a flipped encrypted byte") {
  ts::TempDir dir;
  const std::string id = BackUpEncrypted(dir);
  const ts::CommandResult opened = ts::RunCommand(
      {"age", "-d", "-i", (dir / "key.txt").string(), "-o", (dir / "m.json").string(),
       (dir / "repo" / "backups" / (id + ".json")).string()});
  REQUIRE(opened.exit_code == 0);
  const auto manifest = nlohmann::json::parse(ts::ReadFile(dir / "m.json"));
  std::string object;
  for (const auto& f : manifest.at("files")) {
    if (f.at("role") == "events" && f.at("context") == "orders" && !f.at("chunks").empty()) {
      object = f.at("chunks").back().at("object").get<std::string>();
    }
  }
  REQUIRE_FALSE(object.empty());
  const fs::path stored = dir / "repo" / object;
  ts::FlipByte(stored, fs::file_size(stored) - 3);
  ts::CommandResult r = RunScript(dir, id, dir / "restored", (dir / "key.txt").string());
  INFO(r.output);
  CHECK(r.exit_code != 0);
  CHECK(Contains(r.output, "damaged object " + object));
  CHECK_FALSE(Contains(r.output, "check passed"));
}
