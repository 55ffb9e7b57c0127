// What the remote provider's tests share: the provider and the S3 driver
// on an s3rver (directly or through a FaultProxy), one fresh key prefix per
// scratch directory.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "plugins/plugins_test_util.h"
#include "plugins/provider_scenarios.h"
#include "plugins/s3_test_support.h"
#include "repo/s3/s3_driver.h"

namespace remote_test {

// A key prefix of its own for each scratch directory.
inline std::string PrefixOf(const std::filesystem::path& scratch) {
  return "repo-" + scratch.filename().string() + "/";
}

// The driver's config as RemoteSettings makes it.
inline repo::s3::S3Config TestConfig(const std::string& endpoint, const std::string& prefix) {
  repo::s3::S3Config c;
  c.endpoint = endpoint;
  c.bucket = "backups";
  c.prefix = prefix;
  c.path_style = true;
  c.part_size = 64 * 1024;
  c.min_part_size = 64 * 1024;
  c.parallel_parts = 3;
  c.access_key_id = s3_test::kAccessKey;
  c.secret_access_key = s3_test::kSecretKey;
  c.retry_deadline = std::chrono::seconds(20);
  c.stall_timeout = std::chrono::seconds(5);
  return c;
}

inline std::unique_ptr<plugins_test::Provider> OpenRemote(
    const std::string& endpoint, const std::string& prefix,
    const std::map<std::string, std::string>& overrides = {}) {
  return std::make_unique<plugins_test::Provider>(
      "remote", s3_test::RemoteSettings(endpoint, prefix, overrides));
}

// remote on `endpoint` (a server or a proxy in front of one).
inline plugins_test::ProviderKind RemoteKind(const std::string& endpoint) {
  return {
      [endpoint](const std::filesystem::path& scratch) {
        return OpenRemote(endpoint, PrefixOf(scratch));
      },
      [endpoint](const std::filesystem::path& scratch) -> std::shared_ptr<repo::StorageDriver> {
        return std::make_shared<repo::s3::S3Driver>(TestConfig(endpoint, PrefixOf(scratch)));
      },
  };
}

}  // namespace remote_test
