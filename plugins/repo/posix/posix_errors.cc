// Errors of the posix driver (see posix_errors.h).
#include "repo/posix/posix_errors.h"

#include <cerrno>
#include <cstring>

#include "bkp/bkp_plugin.hpp"

namespace repo {

void ThrowErrno(const std::string& what, const std::filesystem::path& path, int err) {
  bkp_status status = BKP_E_IO;
  if (err == ENOSPC || err == EDQUOT) status = BKP_E_NO_SPACE;
  if (err == ENOENT) status = BKP_E_NOT_FOUND;
  throw bkp::Error(status, what + " '" + path.string() + "': " + std::strerror(err));
}

}  // namespace repo
