// The --version line, from the generated build facts and the ABI header.
#include "util/build_info.h"

#include <fmt/format.h>

#include "bkp/bkp_plugin.h"

namespace hoststub {

std::string VersionLine(std::string_view program) {
  return fmt::format("{} {} (commit {}, plugin ABI {}.{})", program, BuildVersion(),
                     BuildGitCommit(), BKP_ABI_VERSION_MAJOR, BKP_ABI_VERSION_MINOR);
}

}  // namespace hoststub
