// A manifest whose decoding runs out of memory fails with an error that
// names it, not an abort (issue 18's hardening). An executable of its own,
// built without sanitizers only: ASan and TSan reserve terabytes of shadow
// memory up front, so the address-space limit this case sets cannot be
// applied under them (tests/plugins/CMakeLists.txt).
#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/document_fields.h"
#include "repo/manifest.h"
#include "test_support.h"

using testing_support::Contains;

namespace {

// The process's virtual size, in bytes (VmSize of /proc/self/status).
uint64_t VirtualSize() {
  std::ifstream in("/proc/self/status");
  std::string key;
  while (in >> key) {
    if (key == "VmSize:") {
      uint64_t kib = 0;
      in >> kib;
      return kib << 10;
    }
  }
  return 0;
}

}  // namespace

TEST_CASE("hardening: running out of memory decoding a manifest is an error, not an abort") {
  // 36 MB of JSON (under the 64 MiB bound) whose tree needs ~1 GB: four
  // million small objects. Under "contexts", which is decoded as one tree:
  // the files are decoded one at a time (json_document.h), so as many
  // files would not run out.
  std::string text =
      R"({"format": "eventstore-backup-manifest", "format_version": 2, "contexts": [)";
  for (int i = 0; i < 4'000'000; ++i) text += i == 0 ? R"({"a":1})" : R"(,{"a":1})";
  text += "]}";
  REQUIRE(text.size() < repo::kMaxDocumentBytes);
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child: 384 MiB of address space to spare, then decode.
    ::close(fds[0]);
    const rlimit limit{VirtualSize() + (384ull << 20), VirtualSize() + (384ull << 20)};
    ::setrlimit(RLIMIT_AS, &limit);
    int code = 10;  // decoded: the limit did not bite
    try {
      repo::DecodeManifest(text, "manifest backups/x.json");
    } catch (const bkp::Error& e) {
      ssize_t ignored = ::write(fds[1], e.what(), std::strlen(e.what()));
      (void)ignored;
      code = e.status() == BKP_E_INTERNAL ? 0 : 11;
    } catch (...) {
      code = 12;
    }
    ::_exit(code);
  }
  ::close(fds[1]);
  std::string message;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) message.append(buf, n);
  ::close(fds[0]);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  CAPTURE(message);
  REQUIRE_MESSAGE(WIFEXITED(status), "the decoder died of signal " << WTERMSIG(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(Contains(message, "manifest backups/x.json: out of memory"));
}
