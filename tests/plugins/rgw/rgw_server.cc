// The shared RADOS Gateway of a test run (see rgw_server.h).
#include "plugins/rgw/rgw_server.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "plugins/remote_test_util.h"
#include "plugins/s3_test_support.h"

namespace fs = std::filesystem;

namespace rgw_test {
namespace {

// Cold caches and a busy CI machine: well above the usual 15 s.
constexpr int kStartTimeoutMs = 180000;

// Everything `fd` delivers up to its first newline, within the timeout; ""
// on timeout or EOF.
std::string ReadLine(int fd, int timeout_ms) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) continue;
    char c;
    if (::read(fd, &c, 1) <= 0) return "";
    if (c == '\n') return line;
    line += c;
  }
}

// The fixture's rgw.json, or "" when BKP_RGW_STATE is unset.
std::string FixtureState() {
  const char* state = std::getenv("BKP_RGW_STATE");
  if (state == nullptr || *state == '\0') return "";
  std::ifstream in(fs::path(state) / "rgw.json");
  if (!in) {
    throw std::runtime_error(std::string("BKP_RGW_STATE is ") + state +
                             " but it holds no rgw.json: did the fixture test rgw_start fail?");
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Why joining the fixture's network namespace failed; "" if it did not.
std::string netns_failure;

// The fixture's gateway may run in a network namespace with only loopback
// (rgw-launch.sh): this process joins it before main, while it has one
// thread, so that every thread and child it makes later (the provider's
// workers, the AWS CLI) is in it too. setns moves only the calling thread.
[[maybe_unused]] const bool netns_joined = [] {
  try {
    const std::string state = FixtureState();
    if (state.empty()) return false;
    const int pid = nlohmann::json::parse(state).value("netns_pid", 0);
    if (pid <= 0) return false;
    const std::string ns = "/proc/" + std::to_string(pid) + "/ns/net";
    const int fd = ::open(ns.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || ::setns(fd, CLONE_NEWNET) != 0) {
      netns_failure = "cannot join the gateway's network namespace " + ns + ": " +
                      std::strerror(errno) + " (is its fixture still running? are we root?)";
      if (fd >= 0) ::close(fd);
      return false;
    }
    ::close(fd);
    return true;
  } catch (const std::exception& e) {
    netns_failure = e.what();
    return false;
  }
}();

}  // namespace

const RgwServer& RgwServer::Shared() {
  // Destroyed at exit, which stops the gateway when this process launched
  // it (the fixture's is the fixture's to stop).
  static RgwServer server;
  static std::once_flag once;
  static std::string failure;
  std::call_once(once, [] {
    try {
      if (const std::string state = FixtureState(); !state.empty()) {
        // Started by the CTest fixture `rgw` (tests/plugins/CMakeLists.txt).
        if (!netns_failure.empty()) {
          failure = netns_failure;
          return;
        }
        server.Parse(state);
      } else {
        std::string tmpl = (fs::temp_directory_path() / "bkp-rgw-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
          failure =
              "cannot make a directory for the gateway under " + fs::temp_directory_path().string();
          return;
        }
        server.Launch(tmpl);
      }
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  REQUIRE_MESSAGE(failure.empty(), failure);
  return server;
}

void RgwServer::Launch(const fs::path& dir) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe2 failed");
  }
  const std::string launcher = BKP_RGW_LAUNCHER;
  launcher_ = ::fork();
  if (launcher_ < 0) throw std::runtime_error("fork failed");
  if (launcher_ == 0) {
    ::dup2(in[0], STDIN_FILENO);
    ::dup2(out[1], STDOUT_FILENO);
    // This process may already run threads, which setns would leave
    // behind: the gateway it starts stays on the host's loopback.
    ::execl("/usr/bin/env", "env", "BKP_RGW_NETNS=0", "bash", launcher.c_str(), "run", dir.c_str(),
            nullptr);
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  launcher_stdin_ = in[1];
  const std::string line = ReadLine(out[0], kStartTimeoutMs);
  ::close(out[0]);
  if (line.empty()) {
    throw std::runtime_error("the RADOS Gateway did not start within " +
                             std::to_string(kStartTimeoutMs / 1000) + " s (" + launcher +
                             "'s message is above; its logs are in " + dir.string() + "/log)");
  }
  Parse(line);
}

void RgwServer::Parse(const std::string& json) {
  const auto doc = nlohmann::json::parse(json);
  http_port_ = doc.at("http_port").get<uint16_t>();
  https_port_ = doc.at("https_port").get<uint16_t>();
  dns_name_ = doc.at("dns_name").get<std::string>();
  bucket_ = doc.at("bucket").get<std::string>();
  access_key_ = doc.at("access_key").get<std::string>();
  secret_key_ = doc.at("secret_key").get<std::string>();
  ca_file_ = doc.at("ca_file").get<std::string>();
  other_ca_file_ = doc.at("other_ca_file").get<std::string>();
}

RgwServer::~RgwServer() {
  if (launcher_ <= 0) return;
  ::close(launcher_stdin_);  // the launcher stops the daemons and exits
  ::waitpid(launcher_, nullptr, 0);
}

std::string RgwSettings(const std::string& endpoint, const std::string& prefix,
                        const std::map<std::string, std::string>& overrides) {
  const RgwServer& rgw = RgwServer::Shared();
  std::map<std::string, std::string> settings = {
      {"bucket", "'" + rgw.bucket() + "'"},
      {"access_key_id", "'" + rgw.access_key() + "'"},
      {"secret_access_key", "'" + rgw.secret_key() + "'"},
  };
  for (const auto& [name, value] : overrides) settings[name] = value;
  return s3_test::RemoteSettings(endpoint, prefix, settings);
}

repo::s3::S3Config RgwConfig(const std::string& endpoint, const std::string& prefix) {
  const RgwServer& rgw = RgwServer::Shared();
  repo::s3::S3Config c = remote_test::TestConfig(endpoint, prefix);
  c.bucket = rgw.bucket();
  c.access_key_id = rgw.access_key();
  c.secret_access_key = rgw.secret_key();
  return c;
}

plugins_test::ProviderKind RgwKind() {
  return {
      [](const fs::path& scratch) {
        return std::make_unique<plugins_test::Provider>(
            "remote", RgwSettings(RgwServer::Shared().endpoint(), remote_test::PrefixOf(scratch)));
      },
      [](const fs::path& scratch) -> std::shared_ptr<repo::StorageDriver> {
        return std::make_shared<repo::s3::S3Driver>(
            RgwConfig(RgwServer::Shared().endpoint(), remote_test::PrefixOf(scratch)));
      },
  };
}

testing_support::CommandResult RunAws(const std::vector<std::string>& args) {
  const RgwServer& rgw = RgwServer::Shared();
  static const bool installed =
      testing_support::RunCommand({"sh", "-c", "command -v aws"}).exit_code == 0;
  REQUIRE_MESSAGE(installed,
                  "the AWS CLI ('aws', Debian's awscli) is not installed: run scripts/setup.sh");
  std::vector<std::string> argv = {"env",
                                   "AWS_ACCESS_KEY_ID=" + rgw.access_key(),
                                   "AWS_SECRET_ACCESS_KEY=" + rgw.secret_key(),
                                   "AWS_DEFAULT_REGION=us-east-1",
                                   "AWS_EC2_METADATA_DISABLED=true",
                                   "aws",
                                   "--endpoint-url",
                                   rgw.endpoint()};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing_support::RunCommand(argv);
}

}  // namespace rgw_test
