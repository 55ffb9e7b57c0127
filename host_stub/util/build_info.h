// What a binary says about itself for `--version`: the project version, the
// git commit it was built from, and the plugin ABI it speaks. BuildVersion
// and BuildGitCommit are generated at build time (cmake/BuildInfo.cmake).
//
// Thread-safety: pure functions over constants.
#pragma once

#include <string>
#include <string_view>

namespace hoststub {

// "0.1.0": the CMake project version.
std::string_view BuildVersion();
// The abbreviated commit ("9b4d0e3f1a2c"), or "unknown" when not built from
// a git checkout.
std::string_view BuildGitCommit();

// "hostd 0.1.0 (commit 9b4d0e3f1a2c, plugin ABI 1.2)".
std::string VersionLine(std::string_view program);

}  // namespace hoststub
