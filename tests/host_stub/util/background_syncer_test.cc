// BackgroundSyncer: every file added is synced and closed by Finish, and a
// failing sync is reported, naming its file, rather than lost on the
// syncer's thread.
#include <sys/stat.h>

#include <doctest/doctest.h>

#include <string>

#include "test_support.h"
#include "util/background_syncer.h"
#include "util/file.h"

namespace fs = std::filesystem;
using hoststub::BackgroundSyncer;
using hoststub::File;

TEST_CASE("background syncer: files are synced in the background, a failure is reported") {
  testing_support::TempDir dir;
  BackgroundSyncer syncer;
  CHECK(syncer.Finish().ok());  // nothing added: nothing to wait for

  for (int i = 0; i < 20; ++i) {
    auto file = File::Open(dir.path() / ("f" + std::to_string(i)), File::Mode::kCreateNew);
    REQUIRE(file.ok());
    REQUIRE((*file)->PWriteAll("data", 4, 0).ok());
    syncer.Add(std::move(*file));
  }
  CHECK(syncer.Finish().ok());

  // fdatasync of a FIFO fails (EINVAL): the error comes back from Finish.
  const fs::path fifo = dir.path() / "fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  auto pipe = File::Open(fifo, File::Mode::kReadWrite);
  REQUIRE(pipe.ok());
  syncer.Add(std::move(*pipe));
  auto file = File::Open(dir.path() / "after", File::Mode::kCreateNew);
  REQUIRE(file.ok());
  syncer.Add(std::move(*file));
  const hoststub::Status st = syncer.Finish();
  CHECK_FALSE(st.ok());
  CHECK_MESSAGE(st.message().find(fifo.string()) != std::string::npos, st.message());
}
