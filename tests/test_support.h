// Helpers shared by the test suites: scratch directories, running the real
// binaries as child processes, and small file manipulations for planting
// damage. Not thread-safe unless stated.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace testing_support {

// Whether `text` holds `part`: what most checks of an error message ask.
inline bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// Whether a test that replays one scenario per byte offset takes `offset`.
// Every offset in the plain and ASan builds; under ThreadSanitizer, which
// checks threads rather than offsets and runs the store 5-15x slower, every
// eighth one and each one beside a record boundary in `boundaries` (those
// cuts are where recovery's decisions change), which keeps the TSan stage
// inside CI's 30 minutes while the other builds still cover every byte.
inline bool TakeCutOffset(uint64_t offset, const std::vector<uint64_t>& boundaries) {
#if defined(__SANITIZE_THREAD__)
  if (offset % 8 == 0) return true;
  for (const uint64_t b : boundaries) {
    if (offset + 1 >= b && offset <= b + 1) return true;
  }
  return false;
#else
  (void)offset;
  (void)boundaries;
  return true;
#endif
}

// `path` as a TOML literal string, for the configs tests write.
inline std::string Quoted(const std::filesystem::path& path) { return "'" + path.string() + "'"; }

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on
// destruction. Set KEEP_TEST_DIRS=1 to keep it for a post-mortem.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv[0] with the arguments, waits, and captures its output.
CommandResult RunCommand(const std::vector<std::string>& argv);

// A child process running in the background (e.g. `hostd serve`), its output
// going to a file. The destructor kills it with SIGKILL if still running.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::filesystem::path& log_file);
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  pid_t pid() const { return pid_; }
  // Sends `signal` and waits for exit; returns the exit code (-signal if killed).
  int Stop(int signal);
  bool Running();

 private:
  pid_t pid_ = -1;
  int status_ = 0;
  bool reaped_ = false;
};

// Waits (polling, bounded by `timeout_ms`) until `file` exists and is
// non-empty; returns its content or "" on timeout. For --port-file handshakes.
std::string WaitForFile(const std::filesystem::path& file, int timeout_ms);

std::string ReadFile(const std::filesystem::path& file);
void WriteFile(const std::filesystem::path& file, const std::string& content);
void FlipByte(const std::filesystem::path& file, uint64_t offset);
std::vector<std::filesystem::path> ListSorted(const std::filesystem::path& dir);

// The hand-restore shell script of `repository_format_md`
// (docs/repository-format.md): the ```sh block between the
// `<!-- hand-restore-script:begin -->` and `:end -->` markers, as written.
// It expects REPO, ID and DATA in its environment. Throws
// std::runtime_error naming what is missing.
std::string HandRestoreScript(const std::filesystem::path& repository_format_md);

// "backup ID created via provider 'P': ..." (what `hostctl backup create`
// and `hostd backup create` print) -> ID. Fails the test, showing `output`,
// when it holds no such line.
std::string CreatedBackupId(const std::string& output);

}  // namespace testing_support
