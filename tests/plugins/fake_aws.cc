// Running tests/plugins/fake_aws.py (see fake_aws.h).
#include "plugins/fake_aws.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

namespace s3_test {
namespace {

constexpr int kStartTimeoutMs = 20000;
constexpr int kCommandTimeoutMs = 20000;

}  // namespace

FakeAws::FakeAws(const FakeAwsOptions& options) {
  REQUIRE_MESSAGE(::access("/usr/bin/python3", X_OK) == 0,
                  "python3 is not installed (Debian's python3, which awscli brings): run "
                  "scripts/setup.sh");
  std::vector<std::string> argv = {"/usr/bin/python3", BKP_FAKE_AWS,
                                   "--upstream",       std::to_string(options.upstream_port),
                                   "--lifetime",       std::to_string(options.lifetime_s),
                                   "--delay-ms",       std::to_string(options.delay_ms)};
  for (const auto& key : options.keys) {
    argv.push_back("--key");
    argv.push_back(key);
  }
  int in[2], out[2];
  REQUIRE(::pipe2(in, O_CLOEXEC) == 0);
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    ::execv(args[0], args.data());
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  stdin_fd_ = in[1];
  stdout_fd_ = out[0];
  const std::string line = ReadLine(kStartTimeoutMs);
  REQUIRE_MESSAGE(!line.empty(), "fake_aws.py did not start (see its stderr above)");
  const auto ports = nlohmann::json::parse(line);
  imds_port_ = ports.at("imds_port").get<uint16_t>();
  s3_port_ = ports.at("s3_port").get<uint16_t>();
}

FakeAws::~FakeAws() {
  ::close(stdin_fd_);  // it exits when its stdin closes
  ::close(stdout_fd_);
  for (int i = 0; i < 300; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::string FakeAws::ReadLine(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const size_t eol = buffered_.find('\n');
    if (eol != std::string::npos) {
      std::string line = buffered_.substr(0, eol);
      buffered_.erase(0, eol + 1);
      return line;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return "";
    pollfd p{stdout_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char chunk[65536];
    const ssize_t n = ::read(stdout_fd_, chunk, sizeof chunk);
    if (n <= 0) return "";
    buffered_.append(chunk, static_cast<size_t>(n));
  }
}

std::string FakeAws::Command(const std::string& line) {
  const std::string text = line + "\n";
  REQUIRE(::write(stdin_fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  const std::string reply = ReadLine(kCommandTimeoutMs);
  REQUIRE_MESSAGE(!reply.empty(), "fake_aws.py did not answer '" << line << "'");
  return reply;
}

nlohmann::json FakeAws::Log() { return nlohmann::json::parse(Command("log")); }

void FakeAws::FailImdsAfter(int good) {
  REQUIRE(Command("imds-fail " + std::to_string(good)) == "ok");
}

void FakeAws::RevokeTokens() { REQUIRE(Command("revoke-tokens") == "ok"); }

}  // namespace s3_test
