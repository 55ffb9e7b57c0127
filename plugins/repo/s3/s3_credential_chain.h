// Where the S3 credentials come from, decided when the driver is built, in
// the order of the AWS SDKs unless the `credentials` setting names one:
//   1. "settings"  access_key_id + secret_access_key (+ session_token) in
//                  the provider's settings; a key missing there is taken
//                  from its AWS_* variable, as before sources existed
//   2. "profile"   when the `profile` setting is set: that profile of the
//                  shared credentials file (an explicit choice, so it goes
//                  before the environment)
//   3. "env"       AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
//                  (+ AWS_SESSION_TOKEN) in hostd's environment
//   4. "profile"   AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials,
//                  profile AWS_PROFILE or "default"; skipped when the file
//                  or the default profile is absent and neither variable
//                  is set, an error otherwise
//   5. "imds"      the instance's IAM role through IMDSv2 (s3_imds.h) at
//                  imds_endpoint, else AWS_EC2_METADATA_SERVICE_ENDPOINT,
//                  else http://169.254.169.254; never when
//                  AWS_EC2_METADATA_DISABLED is "true"
// Instance metadata gives temporary credentials, refreshed before they
// expire (RefreshingCredentials); the others are static.
//
// Errors: BKP_E_INVALID_ARGUMENT for settings that contradict each other
// or an unknown source; BKP_E_AUTH when no credentials can be found, saying
// what was tried and where, never a secret.
// Thread-safety: MakeCredentialSource is reentrant; see CredentialSource.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "repo/s3/s3_credentials.h"

namespace repo::s3 {

struct CredentialOptions {
  std::string source = "auto";  // setting `credentials`: auto, settings, env, profile, imds
  // The settings of those names; "" when absent.
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;
  std::string profile;
  std::string imds_endpoint;
  // Reads an environment variable (nullopt when unset); nullptr: the
  // process's environment.
  std::function<std::optional<std::string>(const std::string&)> getenv;
  // Where a refresh that failed while the credentials still hold is told.
  WarnFn warn;
};

// Finds the credentials; for instance metadata, fetches the first ones.
std::shared_ptr<CredentialSource> MakeCredentialSource(const CredentialOptions& options);

}  // namespace repo::s3
