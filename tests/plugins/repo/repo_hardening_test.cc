// The repository cannot be turned against the host (issue 18): symlinks
// planted in a repository neither redirect reads nor deletions, what the
// posix driver creates is private whatever the umask, every number of a
// manifest or archive record is range-checked, an oversized one is refused
// before it is read, and a manifest that cannot be read fails the listing
// by name instead of vanishing from it. Running out of memory decoding a
// manifest is in manifest_memory_limit_test.cc (not under sanitizers).
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bkp/bkp_plugin.hpp"
#include "plugins/plugins_test_util.h"
#include "repo/archive_record.h"
#include "repo/document_fields.h"
#include "repo/manifest.h"
#include "repo/posix/posix_driver.h"
#include "repo/repository.h"
#include "repo/retention.h"
#include "test_support.h"

namespace fs = std::filesystem;
using plugins_test::Contains;
using testing_support::ReadFile;
using testing_support::TempDir;
using testing_support::WriteFile;

namespace {

// Runs `fn` and returns the bkp::Error it throws (BKP_OK if none).
template <typename Fn>
std::pair<bkp_status, std::string> ErrorOf(Fn&& fn) {
  try {
    fn();
  } catch (const bkp::Error& e) {
    return {e.status(), e.what()};
  }
  return {BKP_OK, ""};
}

void MakeOld(const fs::path& file) {
  fs::last_write_time(file, fs::file_time_type::clock::now() - std::chrono::hours(2));
}

repo::Manifest EmptyManifest(const std::string& id) {
  repo::Manifest m;
  m.id = id;
  m.type = "full";
  m.created_ms = 1767225600000;
  m.completed_ms = 1767225601000;
  m.provider = "local_disk";
  m.provider_version = "1.0.0";
  m.abi_version = "1.0";
  return m;
}

// `key` of `doc` (a valid encoded document) replaced by the JSON `value`.
std::string WithField(const std::string& doc, const std::string& key, const std::string& value) {
  const std::string needle = "\"" + key + "\": ";
  const size_t at = doc.find(needle);
  REQUIRE(at != std::string::npos);
  const size_t start = at + needle.size();
  const size_t end = doc.find_first_of(",\n", start);
  return doc.substr(0, start) + value + doc.substr(end);
}

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  REQUIRE(::lstat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace

TEST_CASE("hardening: garbage collection follows no tmp symlink and deletes only its own files") {
  TempDir dir;
  const fs::path root = dir / "repo";
  const fs::path victim = dir / "victim";
  fs::create_directories(victim);
  WriteFile(victim / "precious.txt", "an operator's file");
  WriteFile(victim / "111-1-0.tmp", "named like ours, but not in the repository");
  MakeOld(victim / "precious.txt");
  MakeOld(victim / "111-1-0.tmp");
  repo::Repository repository(std::make_shared<repo::PosixDriver>(root));

  SUBCASE("tmp/ replaced by a symlink to another directory") {
    fs::remove(root / "tmp");  // empty: the format marker's write is done
    fs::create_directory_symlink(victim, root / "tmp");
    const auto [status, message] = ErrorOf([&] { repo::CollectGarbage(repository); });
    CHECK(status == BKP_E_CORRUPT);
    CHECK_MESSAGE(Contains(message, "symbolic link"), message);
    // New writes do not go through it either.
    CHECK(ErrorOf([&] { repository.Publish(EmptyManifest("20260101T000000000Z-0001")); }).first ==
          BKP_E_CORRUPT);
  }
  SUBCASE("tmp/ holding files it did not write and symlinks named like its own") {
    WriteFile(root / "tmp" / "notes.txt", "not ours");
    MakeOld(root / "tmp" / "notes.txt");
    fs::create_symlink(victim / "111-1-0.tmp", root / "tmp" / "222-1-0.tmp");
    WriteFile(root / "tmp" / "333-1-0.tmp", "ours, abandoned");
    MakeOld(root / "tmp" / "333-1-0.tmp");
    CHECK(repo::CollectGarbage(repository) == 1);
    CHECK_FALSE(fs::exists(root / "tmp" / "333-1-0.tmp"));
    CHECK(fs::exists(root / "tmp" / "notes.txt"));
    CHECK(fs::is_symlink(root / "tmp" / "222-1-0.tmp"));
  }
  CHECK(ReadFile(victim / "precious.txt") == "an operator's file");
  CHECK(fs::exists(victim / "111-1-0.tmp"));
}

TEST_CASE("hardening: reads and removals refuse symlinks that leave the repository") {
  TempDir dir;
  const fs::path root = dir / "repo";
  auto driver = std::make_shared<repo::PosixDriver>(root);
  repo::Repository repository(driver);
  const std::string id = "20260101T000000000Z-0001";
  const std::string planted = "20260102T000000000Z-0002";
  // A valid manifest outside: following the link would "read" it.
  WriteFile(dir / "outside.json", repo::EncodeManifest(EmptyManifest(planted)));
  repository.Publish(EmptyManifest(id));
  fs::create_symlink(dir / "outside.json", root / "backups" / (planted + ".json"));

  auto [status, message] = ErrorOf([&] { repository.Load(planted); });
  CHECK(status == BKP_E_CORRUPT);
  CHECK_MESSAGE(Contains(message, "outside the repository"), message);
  CHECK(ErrorOf([&] { driver->Open("backups/" + planted + ".json"); }).first == BKP_E_CORRUPT);
  CHECK(ErrorOf([&] { driver->Stat("backups/" + planted + ".json"); }).first == BKP_E_CORRUPT);

  // A directory of objects that is a symlink to elsewhere.
  fs::create_directories(dir / "elsewhere");
  WriteFile(dir / "elsewhere" / "abcd.lz4", "not an object of this repository");
  fs::create_directories(root / "objects");
  fs::create_directory_symlink(dir / "elsewhere", root / "objects" / "ab");
  std::tie(status, message) = ErrorOf([&] { driver->Open("objects/ab/abcd.lz4"); });
  CHECK(status == BKP_E_CORRUPT);
  CHECK_MESSAGE(Contains(message, "outside the repository"), message);
  CHECK(ErrorOf([&] { driver->Remove({"objects/ab/abcd.lz4"}); }).first == BKP_E_CORRUPT);
  CHECK(fs::exists(dir / "elsewhere" / "abcd.lz4"));
  CHECK(ErrorOf([&] {
          auto writer = driver->Create();
          writer->Append("x", 1);
          writer->Commit("objects/ab/new.lz4");
        }).first == BKP_E_CORRUPT);
  CHECK_FALSE(fs::exists(dir / "elsewhere" / "new.lz4"));
  CHECK(ErrorOf([&] {
          auto writer = driver->Create();
          writer->Append("x", 1);
          writer->Commit("objects/ab/deeper/new.lz4");
        }).first == BKP_E_CORRUPT);
  CHECK_FALSE(fs::exists(dir / "elsewhere" / "deeper"));  // not even a directory

  // A symlink that stays inside the repository is no attack.
  fs::create_directory_symlink(root / "backups", root / "objects" / "cd");
  CHECK(driver->GetSmall("objects/cd/" + id + ".json") == driver->GetSmall(repo::ManifestKey(id)));
}

TEST_CASE("hardening: the posix driver creates private files and directories under any umask") {
  TempDir dir;
  const mode_t old = ::umask(0);
  {
    const fs::path root = dir / "parent" / "repo";
    repo::Repository repository(std::make_shared<repo::PosixDriver>(root));
    repository.Publish(EmptyManifest("20260101T000000000Z-0001"));
    ::umask(old);
    CHECK(ModeOf(root) == 0700);
    CHECK(ModeOf(root / "tmp") == 0700);
    CHECK(ModeOf(root / "backups") == 0700);
    CHECK(ModeOf(root / "format.json") == 0600);
    CHECK(ModeOf(root / "backups" / "20260101T000000000Z-0001.json") == 0600);
  }
  ::umask(old);
}

TEST_CASE("hardening: format_version and every integer of a manifest are range-checked") {
  const std::string good = repo::EncodeManifest(EmptyManifest("20260101T000000000Z-0001"));
  CHECK_NOTHROW(repo::DecodeManifest(good, "m"));
  for (const char* version : {"4294967298", "2.9", "-5", "0", "\"2\"", "null"}) {
    CAPTURE(version);
    const auto [status, message] =
        ErrorOf([&] { repo::DecodeManifest(WithField(good, "format_version", version), "m"); });
    CHECK(status == BKP_E_CORRUPT);
    CHECK_MESSAGE(Contains(message, "format_version"), message);
  }
  // 3 is a manifest with zstd objects (doc::kManifestCodecVersion): 4 is newer.
  CHECK(ErrorOf([&] { repo::DecodeManifest(WithField(good, "format_version", "4"), "m"); }).first ==
        BKP_E_UNSUPPORTED);
  for (const char* ms : {"1.5", "9223372036854775808", "18446744073709551615", "\"1\""}) {
    CAPTURE(ms);
    CHECK(ErrorOf([&] { repo::DecodeManifest(WithField(good, "created_ms", ms), "m"); }).first ==
          BKP_E_CORRUPT);
    CHECK(ErrorOf([&] { repo::DecodeManifest(WithField(good, "completed_ms", ms), "m"); }).first ==
          BKP_E_CORRUPT);
  }
  CHECK(ErrorOf([&] { repo::DecodeManifest(WithField(good, "bytes_new", "-1"), "m"); }).first ==
        BKP_E_CORRUPT);

  // A chunk whose end wraps past 2^64 would "cover" its file.
  repo::ArchivedSegment a;
  a.observed_ms = 5;
  a.file.role = BKP_ROLE_EVENTS;
  a.file.name = "00000000000000000000.seg";
  a.file.size = 10;
  repo::Chunk c;
  c.offset = 0;
  c.size = 10;
  c.object = "objects/ab/abcd.lz4";
  c.stored_size = 10;
  a.file.chunks = {c};
  const std::string record = repo::EncodeArchiveRecord(a);
  CHECK_NOTHROW(repo::DecodeArchiveRecord(record, "r"));
  for (const char* version : {"4294967298", "1.9", "-5", "0"}) {
    CAPTURE(version);
    CHECK(ErrorOf([&] {
            repo::DecodeArchiveRecord(WithField(record, "format_version", version), "r");
          }).first == BKP_E_CORRUPT);
  }
  CHECK(ErrorOf([&] {
          repo::DecodeArchiveRecord(WithField(record, "observed_ms", "0.5"), "r");
        }).first == BKP_E_CORRUPT);
  a.file.chunks = {c, c};
  a.file.chunks[1].offset = 10;
  a.file.chunks[1].size = UINT64_MAX - 3;  // ends at 6 after wrapping
  a.file.size = 6;
  const auto [status, message] =
      ErrorOf([&] { repo::DecodeArchiveRecord(repo::EncodeArchiveRecord(a), "r"); });
  CHECK(status == BKP_E_CORRUPT);
  CHECK_MESSAGE(Contains(message, "2^64"), message);
}

TEST_CASE("hardening: a manifest larger than the bound is refused before it is read") {
  TempDir dir;
  const fs::path root = dir / "repo";
  repo::Repository repository(std::make_shared<repo::PosixDriver>(root));
  const std::string id = "20260101T000000000Z-0001";
  repository.Publish(EmptyManifest(id));
  // Sparse: 64 MiB + 1 of holes costs no disk, and parsing it would cost
  // gigabytes of memory.
  fs::resize_file(root / "backups" / (id + ".json"), repo::kMaxDocumentBytes + 1);
  const auto [status, message] = ErrorOf([&] { repository.Load(id); });
  CHECK(status == BKP_E_CORRUPT);
  CHECK_MESSAGE(Contains(message, "64 MiB"), message);
  CHECK(ErrorOf([&] {
          repo::DecodeManifest(std::string(repo::kMaxDocumentBytes + 1, ' '), "m");
        }).first == BKP_E_CORRUPT);
}

TEST_CASE("hardening: list names an unreadable manifest by its file and fails") {
  TempDir dir;
  const fs::path root = dir / "repo";
  const std::string good = "20260101T000000000Z-0001";
  const std::string bad = "20260102T000000000Z-0002";
  const std::string renamed = "20260103T000000000Z-0003";
  {
    repo::Repository repository(std::make_shared<repo::PosixDriver>(root));
    repository.Publish(EmptyManifest(good));
  }
  WriteFile(root / "backups" / (bad + ".json"), "{ torn");
  // A copy of a good manifest under another name lists under neither id.
  fs::copy_file(root / "backups" / (good + ".json"), root / "backups" / (renamed + ".json"));

  plugins_test::DiskProvider provider(root);
  std::vector<std::string> listed;
  char err[4096] = "";
  const bkp_status rc = provider.table().list(
      provider.instance(),
      [](void* user, const bkp_backup_info* info) -> bkp_status {
        static_cast<std::vector<std::string>*>(user)->push_back(info->id);
        return BKP_OK;
      },
      &listed, err, sizeof err);
  CHECK(rc == BKP_E_CORRUPT);
  CHECK(listed == std::vector<std::string>{good});
  CHECK_MESSAGE(Contains(err, "backups/" + bad + ".json is unreadable"), err);
  CHECK_MESSAGE(Contains(err, "backups/" + renamed + ".json is unreadable"), err);
  CHECK_MESSAGE(Contains(err, "names itself backup '" + good + "'"), err);
}
