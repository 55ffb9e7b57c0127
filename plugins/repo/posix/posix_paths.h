// Where a key lives in a posix repository, and the two rules every path
// the driver touches keeps: it stays inside the repository (a key read back
// from a manifest, or a symbolic link planted in the directory, must not
// make the host read, write or delete files elsewhere), and a directory
// that gains an entry is fsynced so the entry survives a crash.
//
// Errors: throw bkp::Error (posix_errors.h; BKP_E_CORRUPT for a path that
// leads outside).
// Thread-safety: pure functions of the file system.
#pragma once

#include <filesystem>
#include <string>

namespace repo {

// The file of `key` under `root`; BKP_E_CORRUPT for a key that is empty,
// absolute, or climbs out with "..".
std::filesystem::path KeyPath(const std::filesystem::path& root, const std::string& key);

void SyncDirectory(const std::filesystem::path& dir);

// Creates `dir` and any missing parents below `root`, fsyncing each parent
// that gained an entry so the new path survives a crash. Private to the
// host's user (0700 whatever the umask): a repository holds every event.
void MakeDirs(const std::filesystem::path& root, const std::filesystem::path& dir);

// Resolves every symbolic link of `path` (which must exist) and refuses a
// result outside `real_root` (root with its links resolved). Symlinks that
// stay inside are allowed.
void CheckInside(const std::filesystem::path& real_root, const std::filesystem::path& path);

// The same check for a file already open: /proc/self/fd names what the
// descriptor really is, so a symlink swapped in after the check cannot win.
void CheckOpenInside(const std::filesystem::path& real_root, const std::filesystem::path& path,
                     int fd);

}  // namespace repo
