// The posix driver's settings (see posix_config.h).
#include "repo/posix/posix_config.h"

#include <string>

namespace repo {

PosixConfig ReadPosixConfig(const bkp::Settings& settings) {
  const std::string path = settings.get_string("path").value_or("");
  if (path.empty()) throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'path' must not be empty");
  return {path};
}

}  // namespace repo
