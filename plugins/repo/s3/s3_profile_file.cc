// Reading a profile of the shared credentials file (see s3_profile_file.h).
#include "repo/s3/s3_profile_file.h"

#include <cctype>
#include <fstream>
#include <map>
#include <system_error>
#include <vector>

#include "bkp/bkp_plugin.hpp"

namespace repo::s3 {
namespace {

std::string Trim(const std::string& s) {
  size_t from = 0, to = s.size();
  while (from < to && std::isspace(static_cast<unsigned char>(s[from]))) ++from;
  while (to > from && std::isspace(static_cast<unsigned char>(s[to - 1]))) --to;
  return s.substr(from, to - from);
}

std::string Lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

using Profiles = std::map<std::string, std::map<std::string, std::string>>;

[[noreturn]] void Fail(const std::filesystem::path& path, const std::string& why) {
  throw bkp::Error(BKP_E_AUTH, "AWS shared credentials file " + path.string() + ": " + why);
}

Profiles Parse(const std::filesystem::path& path, std::istream& in) {
  Profiles profiles;
  std::map<std::string, std::string>* section = nullptr;
  bool nested = false;  // inside "key =" followed by indented sub-settings
  std::string raw;
  for (int number = 1; std::getline(in, raw); ++number) {
    const std::string line = Trim(raw);
    const std::string where = "line " + std::to_string(number);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    const bool indented = std::isspace(static_cast<unsigned char>(raw[0])) != 0;
    if (nested && indented) continue;  // a sub-setting (e.g. of "s3 ="): not ours
    nested = false;
    if (line[0] == '[') {
      if (line.back() != ']' || Trim(line.substr(1, line.size() - 2)).empty()) {
        Fail(path, where + " is not a [profile] header");
      }
      section = &profiles[Trim(line.substr(1, line.size() - 2))];
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos || Trim(line.substr(0, eq)).empty()) {
      Fail(path, where + " is neither a [profile] header nor 'key = value'");
    }
    if (section == nullptr) Fail(path, where + " sets a key before any [profile] header");
    const std::string value = Trim(line.substr(eq + 1));
    nested = value.empty();
    (*section)[Lower(Trim(line.substr(0, eq)))] = value;
  }
  if (in.bad()) Fail(path, "cannot be read");
  return profiles;
}

std::string Get(const std::map<std::string, std::string>& keys, const char* name) {
  const auto it = keys.find(name);
  return it == keys.end() ? "" : it->second;
}

}  // namespace

std::optional<S3Credentials> ReadProfileCredentials(const std::filesystem::path& path,
                                                    const std::string& profile, bool required) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (!required) return std::nullopt;
    Fail(path, "does not exist (looked for profile '" + profile +
                   "'; set AWS_SHARED_CREDENTIALS_FILE to where it is)");
  }
  std::ifstream in(path);
  if (!in) Fail(path, "cannot be opened (looked for profile '" + profile + "')");
  Profiles profiles;
  try {
    profiles = Parse(path, in);
  } catch (const bkp::Error& e) {
    throw bkp::Error(e.status(),
                     std::string(e.what()) + " (looking for profile '" + profile + "')");
  }
  const auto found = profiles.find(profile);
  if (found == profiles.end()) {
    if (!required) return std::nullopt;
    std::string names;
    for (const auto& p : profiles) names += (names.empty() ? "'" : ", '") + p.first + "'";
    Fail(path, "has no profile '" + profile + "' (it has " +
                   (names.empty() ? std::string("none") : names) + ")");
  }
  const auto& keys = found->second;
  S3Credentials c;
  c.access_key_id = Get(keys, "aws_access_key_id");
  c.secret_access_key = Get(keys, "aws_secret_access_key");
  c.session_token = Get(keys, "aws_session_token");
  if (c.session_token.empty()) c.session_token = Get(keys, "aws_security_token");
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    for (const char* other : {"role_arn", "credential_process", "sso_start_url", "sso_session"}) {
      if (keys.count(other) != 0) {
        Fail(path, "profile '" + profile + "' uses " + other +
                       ", which the remote provider does not support: give it "
                       "aws_access_key_id and aws_secret_access_key");
      }
    }
    Fail(path, "profile '" + profile + "' lacks " +
                   (c.access_key_id.empty() ? "aws_access_key_id" : "aws_secret_access_key"));
  }
  return c;
}

}  // namespace repo::s3
