// hostctl's shared-library dependencies, read from its ELF dynamic section
// (readelf, from binutils, which every g++ install has). Every hostctl run
// pays for loading each of them, cold (cron, scripts, the backup benchmark),
// so hostctl links only hoststub_client. This fails when hostctl's code
// comes to use one of the host's libraries, directly or through a core .cc.
// (Debian's gcc links with --as-needed, so merely linking hoststub_core
// again shows only in builds without it: -fsanitize ones, other toolchains.)
// Single-threaded.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace ts = testing_support;

namespace {

// The DT_NEEDED entries of `binary`, e.g. "libfmt.so.9".
std::vector<std::string> NeededLibraries(const std::string& binary) {
  const ts::CommandResult r = ts::RunCommand({"readelf", "--dynamic", "--wide", binary});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> needed;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("(NEEDED)") == std::string::npos) continue;
    const size_t open = line.find('[');
    const size_t close = line.find(']', open);
    if (open != std::string::npos && close != std::string::npos) {
      needed.push_back(line.substr(open + 1, close - open - 1));
    }
  }
  return needed;
}

}  // namespace

TEST_CASE("hostctl: loads none of the host's libraries (storage, config, HTTP server)") {
  const std::vector<std::string> needed = NeededLibraries(HOSTCTL_BIN);
  std::string listed;
  for (const std::string& lib : needed) listed += lib + " ";
  INFO("hostctl needs: " << listed);
  // Sanity: the parse found the dynamic section at all.
  REQUIRE(!needed.empty());
  // What hoststub_core brings: SQLite (control DB), toml++ (config),
  // Boost.Filesystem (Boost.DLL), cpp-httplib, and through Debian's httplib
  // zlib and brotli. Also xxhash and lz4, storage-only. (OpenSSL hostctl
  // needs itself, for https.)
  const std::vector<std::string> forbidden = {
      "libsqlite3",     "libtomlplusplus", "libboost_filesystem",
      "libcpp-httplib", "libz.",           "libbrotli",
      "libxxhash",      "liblz4",          "libcurl"};
  for (const std::string& lib : needed) {
    for (const std::string& bad : forbidden) {
      CHECK_MESSAGE(!ts::Contains(lib, bad), "hostctl needs " << lib);
    }
  }
}
