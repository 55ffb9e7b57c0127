// The posix driver's settings, read from a provider's table of the host
// config.
//
// Errors: ReadPosixConfig throws bkp::Error(BKP_E_INVALID_ARGUMENT) naming
// the setting.
// Thread-safety: plain values and a pure function.
#pragma once

#include <filesystem>

#include "bkp/bkp_plugin.hpp"

namespace repo {

struct PosixConfig {
  std::filesystem::path root;  // the repository's directory (setting 'path')
};

// Reads the setting 'path', which must not be empty.
PosixConfig ReadPosixConfig(const bkp::Settings& settings);

}  // namespace repo
