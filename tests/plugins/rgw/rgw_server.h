// Test support for the remote provider against a real S3 server: Ceph's
// RADOS Gateway on a throwaway one-node cluster on loopback, started by
// rgw-launch.sh (see README.md beside it), and the settings, driver config
// and AWS CLI calls that reach it with its test user's keys.
//
// One gateway serves every test of a run, since it takes ~15 s to start:
// under CTest, the `rgw` fixture starts it before the first RGW test and
// stops it after the last (BKP_RGW_STATE names its directory); a test
// binary run by hand starts its own on first use and stops it at exit.
// The fixture's gateway may live in a loopback-only network namespace,
// which this test process then joins before main (rgw_server.cc).
// Tests share its bucket, each under a key prefix of its own.
//
// Thread-safety: Shared() may be called from any thread; the object it
// returns is immutable.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "plugins/provider_scenarios.h"
#include "repo/s3/s3_config.h"
#include "test_support.h"

namespace rgw_test {

class RgwServer {
 public:
  // The gateway of this run. FAILs the test, with the launcher's output,
  // when it cannot be started or its fixture's state cannot be read.
  static const RgwServer& Shared();

  ~RgwServer();
  RgwServer(const RgwServer&) = delete;
  RgwServer& operator=(const RgwServer&) = delete;

  // Path-style endpoints on 127.0.0.1 (the certificate names the address).
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(http_port_); }
  std::string https_endpoint() const { return "https://127.0.0.1:" + std::to_string(https_port_); }
  // Endpoints for virtual-host addressing: `rgw_dns_name` is dns_name(), and
  // a bucket is reached as BUCKET.dns_name(). It is under "localhost", which
  // libcurl resolves to loopback by itself (RFC 6761) with no DNS or
  // /etc/hosts entry.
  std::string vhost_endpoint() const {
    return "http://" + dns_name_ + ":" + std::to_string(http_port_);
  }
  std::string vhost_https_endpoint() const {
    return "https://" + dns_name_ + ":" + std::to_string(https_port_);
  }
  const std::string& dns_name() const { return dns_name_; }
  const std::string& bucket() const { return bucket_; }
  const std::string& access_key() const { return access_key_; }
  const std::string& secret_key() const { return secret_key_; }
  // The CA that signed the gateway's certificate, and one that did not.
  const std::filesystem::path& ca_file() const { return ca_file_; }
  const std::filesystem::path& other_ca_file() const { return other_ca_file_; }

 private:
  RgwServer() = default;
  void Launch(const std::filesystem::path& dir);
  void Parse(const std::string& json);

  uint16_t http_port_ = 0;
  uint16_t https_port_ = 0;
  std::string dns_name_, bucket_, access_key_, secret_key_;
  std::filesystem::path ca_file_, other_ca_file_;
  // Set only when this process launched the gateway itself.
  pid_t launcher_ = -1;
  int launcher_stdin_ = -1;
};

// The settings TOML of a `remote` provider on `endpoint` (one of the
// server's), its bucket and test user, and `prefix`; otherwise as
// s3_test::RemoteSettings (64 KiB parts: the launcher lowers RGW's minimum
// part size to that). `overrides` replace or add settings.
std::string RgwSettings(const std::string& endpoint, const std::string& prefix,
                        const std::map<std::string, std::string>& overrides = {});

// The S3 driver's config matching RgwSettings.
repo::s3::S3Config RgwConfig(const std::string& endpoint, const std::string& prefix);

// remote on the gateway's path-style http endpoint, one prefix per scratch
// directory.
plugins_test::ProviderKind RgwKind();

// Runs the stock AWS CLI against the gateway's http endpoint with the test
// user's keys; FAILs the test if it is not installed.
testing_support::CommandResult RunAws(const std::vector<std::string>& args);

}  // namespace rgw_test
