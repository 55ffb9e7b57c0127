// Choosing the credential source (see s3_credential_chain.h).
#include "repo/s3/s3_credential_chain.h"

#include <strings.h>

#include <cstdlib>
#include <vector>

#include "bkp/bkp_plugin.hpp"
#include "repo/s3/s3_imds.h"
#include "repo/s3/s3_profile_file.h"

namespace repo::s3 {
namespace {

class Env {
 public:
  explicit Env(const CredentialOptions& options) : fn_(options.getenv) {}
  // The variable's value; "" when unset or empty.
  std::string Get(const std::string& name) const {
    if (fn_) return fn_(name).value_or("");
    const char* value = std::getenv(name.c_str());
    return value != nullptr ? value : "";
  }

 private:
  const std::function<std::optional<std::string>(const std::string&)>& fn_;
};

// One credential and where it came from ("setting access_key_id",
// "$AWS_ACCESS_KEY_ID").
struct Part {
  std::string value;
  std::string origin;
};

Part SettingOrEnv(const std::string& setting_value, const char* setting, const char* variable,
                  const Env& env) {
  if (!setting_value.empty()) return {setting_value, std::string("setting ") + setting};
  return {env.Get(variable), std::string("$") + variable};
}

std::shared_ptr<CredentialSource> Static(const Part& id, const Part& secret, const Part& token,
                                         const std::string& where) {
  std::string origin = where.empty() ? id.origin + " and " + secret.origin : where;
  if (where.empty() && !token.value.empty()) origin += " and " + token.origin;
  return StaticCredentials({id.value, secret.value, token.value, std::nullopt},
                           "access key '" + id.value + "' from " + origin);
}

bool HasSettingsKeys(const CredentialOptions& o) {
  return !o.access_key_id.empty() || !o.secret_access_key.empty() || !o.session_token.empty();
}

std::shared_ptr<CredentialSource> FromSettings(const CredentialOptions& o, const Env& env) {
  const Part id = SettingOrEnv(o.access_key_id, "access_key_id", "AWS_ACCESS_KEY_ID", env);
  const Part secret =
      SettingOrEnv(o.secret_access_key, "secret_access_key", "AWS_SECRET_ACCESS_KEY", env);
  const Part token = SettingOrEnv(o.session_token, "session_token", "AWS_SESSION_TOKEN", env);
  for (const Part* p : {&id, &secret}) {
    if (p->value.empty()) {
      throw bkp::Error(
          BKP_E_AUTH,
          "no S3 credentials: " + std::string(p == &id ? "access_key_id" : "secret_access_key") +
              " is set neither in the provider's settings nor as " +
              (p == &id ? "$AWS_ACCESS_KEY_ID" : "$AWS_SECRET_ACCESS_KEY"));
    }
  }
  return Static(id, secret, token, "");
}

// nullptr when AWS_ACCESS_KEY_ID is unset.
std::shared_ptr<CredentialSource> FromEnv(const Env& env) {
  const Part id{env.Get("AWS_ACCESS_KEY_ID"), "$AWS_ACCESS_KEY_ID"};
  const Part secret{env.Get("AWS_SECRET_ACCESS_KEY"), "$AWS_SECRET_ACCESS_KEY"};
  const Part token{env.Get("AWS_SESSION_TOKEN"), "$AWS_SESSION_TOKEN"};
  if (id.value.empty()) return nullptr;
  if (secret.value.empty()) {
    throw bkp::Error(BKP_E_AUTH,
                     "no S3 credentials: $AWS_ACCESS_KEY_ID is set but $AWS_SECRET_ACCESS_KEY "
                     "is not");
  }
  return Static(id, secret, token, "");
}

// nullptr when not `required` and the file or the profile is absent;
// `tried` then says which.
std::shared_ptr<CredentialSource> FromProfile(const CredentialOptions& o, const Env& env,
                                              bool required, std::string* tried) {
  std::string path = env.Get("AWS_SHARED_CREDENTIALS_FILE");
  const bool explicit_file = !path.empty();
  if (path.empty()) {
    const std::string home = env.Get("HOME");
    if (home.empty()) {
      if (required) {
        throw bkp::Error(BKP_E_AUTH,
                         "no S3 credentials: HOME is not set, so there is no "
                         "~/.aws/credentials; set AWS_SHARED_CREDENTIALS_FILE");
      }
      *tried = "no ~/.aws/credentials (HOME is not set)";
      return nullptr;
    }
    path = home + "/.aws/credentials";
  }
  std::string profile = o.profile;
  if (profile.empty()) profile = env.Get("AWS_PROFILE");
  const bool explicit_profile = !profile.empty();
  if (profile.empty()) profile = "default";
  required = required || explicit_file || explicit_profile;
  auto keys = ReadProfileCredentials(path, profile, required);
  if (!keys) {
    *tried = "no profile '" + profile + "' in " + path;
    return nullptr;
  }
  return StaticCredentials(
      *keys, "access key '" + keys->access_key_id + "' of profile '" + profile + "' in " + path);
}

std::string ValidImdsEndpoint(std::string endpoint, const std::string& origin) {
  while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  const size_t scheme = endpoint.find("://");
  const bool ok = (endpoint.rfind("http://", 0) == 0 || endpoint.rfind("https://", 0) == 0) &&
                  endpoint.size() > scheme + 3 &&
                  endpoint.find_first_of("/?#@ ", scheme + 3) == std::string::npos;
  if (!ok) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     origin + " is '" + endpoint +
                         "': it must be http://host[:port] (or https://), e.g. " +
                         kDefaultImdsEndpoint);
  }
  return endpoint;
}

std::shared_ptr<CredentialSource> FromImds(const CredentialOptions& o, const Env& env) {
  if (strcasecmp(env.Get("AWS_EC2_METADATA_DISABLED").c_str(), "true") == 0) {
    throw bkp::Error(BKP_E_AUTH, "instance metadata is disabled by AWS_EC2_METADATA_DISABLED=true");
  }
  std::string endpoint = kDefaultImdsEndpoint;
  if (!o.imds_endpoint.empty()) {
    endpoint = ValidImdsEndpoint(o.imds_endpoint, "setting 'imds_endpoint'");
  } else if (const std::string e = env.Get("AWS_EC2_METADATA_SERVICE_ENDPOINT"); !e.empty()) {
    endpoint = ValidImdsEndpoint(e, "AWS_EC2_METADATA_SERVICE_ENDPOINT");
  }
  auto imds = std::make_shared<ImdsClient>(endpoint);
  return std::make_shared<RefreshingCredentials>(
      [imds] { return imds->Fetch(); }, "instance metadata at " + endpoint + " (IMDSv2)", o.warn);
}

}  // namespace

std::shared_ptr<CredentialSource> MakeCredentialSource(const CredentialOptions& o) {
  const Env env(o);
  const bool settings = HasSettingsKeys(o);
  if (settings && !o.profile.empty()) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "settings 'profile' and 'access_key_id'/'secret_access_key'/"
                     "'session_token' are both set: keep one");
  }
  std::string tried;
  if (o.source == "settings") {
    return FromSettings(o, env);
  } else if (o.source == "env") {
    if (auto s = FromEnv(env)) return s;
    throw bkp::Error(BKP_E_AUTH,
                     "no S3 credentials: credentials = 'env' but $AWS_ACCESS_KEY_ID "
                     "is not set");
  } else if (o.source == "profile") {
    return FromProfile(o, env, /*required=*/true, &tried);
  } else if (o.source == "imds") {
    return FromImds(o, env);
  } else if (o.source != "auto") {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "setting 'credentials' is '" + o.source +
                         "': it must be auto, settings, env, profile or imds");
  }
  if (settings) return FromSettings(o, env);
  if (!o.profile.empty()) return FromProfile(o, env, /*required=*/true, &tried);
  if (auto s = FromEnv(env)) return s;
  if (auto s = FromProfile(o, env, /*required=*/false, &tried)) return s;
  try {
    return FromImds(o, env);
  } catch (const bkp::Error& e) {
    if (e.status() != BKP_E_AUTH) throw;
    throw bkp::Error(BKP_E_AUTH,
                     "no S3 credentials: none in the settings (access_key_id, "
                     "secret_access_key), no $AWS_ACCESS_KEY_ID, " +
                         tried + ", and " + e.what() +
                         "; set one of these (docs/operations.md, remote)");
  }
}

}  // namespace repo::s3
