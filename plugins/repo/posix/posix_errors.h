// What a failed system call means for the posix driver: the bkp_status and
// a message naming the operation, the path and the system's reason.
//
// Thread-safety: pure functions.
#pragma once

#include <filesystem>
#include <string>

namespace repo {

// Throws bkp::Error for `err` (an errno value) from `what` ("cannot open")
// on `path`: BKP_E_NO_SPACE for a full disk or quota, BKP_E_NOT_FOUND for a
// missing file, BKP_E_IO for anything else.
[[noreturn]] void ThrowErrno(const std::string& what, const std::filesystem::path& path, int err);

}  // namespace repo
