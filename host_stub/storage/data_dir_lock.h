// The data directory's lock: an open store holds an exclusive flock on
// DATA/LOCK, so a second store on the same directory (another hostd, a
// restore) is refused instead of corrupting it, and a tool can ask whether
// a host runs there. The lock dies with the process, so a crash leaves no
// stale lock behind.
//
// Thread-safety: pure functions of the file system.
#pragma once

#include <filesystem>

#include "util/status.h"

namespace hoststub {

// The lock file an open store holds in its data directory.
inline constexpr const char* kDataDirLockFile = "LOCK";

// Takes the exclusive lock on `dir`'s lock file, creating it. Returns the
// descriptor that holds it: the caller owns it and closing it releases the
// lock. Busy if another process holds it, IOError naming the file otherwise.
Result<int> LockDataDir(const std::filesystem::path& dir);

// Busy if a live process holds `data_dir`'s lock, OK otherwise (also when
// the directory or its lock file does not exist).
Status CheckDataDirNotInUse(const std::filesystem::path& data_dir);

}  // namespace hoststub
