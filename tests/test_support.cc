// Implementation of the shared test helpers (POSIX processes and files).
#include "test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <doctest/doctest.h>

namespace fs = std::filesystem;

namespace testing_support {

TempDir::TempDir() {
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = tmp != nullptr ? tmp : "/tmp";
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    fs::path candidate = base / ("bkp-test-" + std::to_string(rd()));
    std::error_code ec;
    if (fs::create_directory(candidate, ec)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory under " + base.string());
}

TempDir::~TempDir() {
  const char* keep = std::getenv("KEEP_TEST_DIRS");
  if (keep != nullptr && std::string(keep) == "1") return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

namespace {

std::vector<char*> ToArgv(const std::vector<std::string>& argv) {
  std::vector<char*> out;
  for (const auto& a : argv) out.push_back(const_cast<char*>(a.c_str()));
  out.push_back(nullptr);
  return out;
}

int DecodeWaitStatus(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return -WTERMSIG(status);
  return -1;
}

}  // namespace

CommandResult RunCommand(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (pipe(pipefd) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    dup2(pipefd[1], STDERR_FILENO);
    close(pipefd[0]);
    close(pipefd[1]);
    auto args = ToArgv(argv);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(pipefd[1]);
  CommandResult result;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0)
    result.output.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = DecodeWaitStatus(status);
  return result;
}

ChildProcess::ChildProcess(const std::vector<std::string>& argv, const fs::path& log_file) {
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int fd = open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      close(fd);
    }
    auto args = ToArgv(argv);
    execvp(args[0], args.data());
    _exit(127);
  }
}

ChildProcess::~ChildProcess() {
  if (!reaped_ && pid_ > 0) Stop(SIGKILL);
}

bool ChildProcess::Running() {
  if (reaped_) return false;
  pid_t r = waitpid(pid_, &status_, WNOHANG);
  if (r == pid_) reaped_ = true;
  return !reaped_;
}

int ChildProcess::Stop(int signal) {
  if (!reaped_) {
    kill(pid_, signal);
    waitpid(pid_, &status_, 0);
    reaped_ = true;
  }
  return DecodeWaitStatus(status_);
}

std::string WaitForFile(const fs::path& file, int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (fs::exists(file, ec) && fs::file_size(file, ec) > 0) {
      std::string content = ReadFile(file);
      if (!content.empty() && content.back() == '\n') return content;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return "";
}

std::string ReadFile(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& file, const std::string& content) {
  std::ofstream out(file, std::ios::binary | std::ios::trunc);
  out << content;
}

void FlipByte(const fs::path& file, uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5a);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

std::vector<fs::path> ListSorted(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

std::string HandRestoreScript(const std::filesystem::path& repository_format_md) {
  const std::string doc = ReadFile(repository_format_md);
  const std::string begin = "<!-- hand-restore-script:begin -->";
  const std::string end = "<!-- hand-restore-script:end -->";
  const size_t from = doc.find(begin);
  const size_t to = doc.find(end);
  if (from == std::string::npos || to == std::string::npos || to < from) {
    throw std::runtime_error("no " + begin + " ... " + end + " in " +
                             repository_format_md.string());
  }
  const std::string block = doc.substr(from + begin.size(), to - from - begin.size());
  const size_t open = block.find("```sh\n");
  const size_t close = block.rfind("```");
  if (open == std::string::npos || close == std::string::npos || close <= open) {
    throw std::runtime_error("no ```sh block between the hand-restore markers in " +
                             repository_format_md.string());
  }
  return block.substr(open + 6, close - open - 6);
}

std::string CreatedBackupId(const std::string& output) {
  const std::string marker = "backup ";
  const size_t end = output.find(" created via provider");
  REQUIRE_MESSAGE(end != std::string::npos, "no 'created' line in:\n" << output);
  const size_t start = output.rfind(marker, end);
  REQUIRE_MESSAGE(start != std::string::npos, "no backup id in:\n" << output);
  return output.substr(start + marker.size(), end - start - marker.size());
}

}  // namespace testing_support
