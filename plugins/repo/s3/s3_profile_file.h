// The AWS shared credentials file (~/.aws/credentials, or the file
// AWS_SHARED_CREDENTIALS_FILE names): INI sections "[profile-name]" of
// "key = value" lines, '#' and ';' comments. Only static keys are read:
// aws_access_key_id, aws_secret_access_key and aws_session_token (or its
// old name aws_security_token); a profile that needs something else
// (role_arn, credential_process, sso_*) is refused, saying so.
//
// Errors never quote a line of the file (it holds secrets): they name the
// file, the line number and the profile.
// Thread-safety: a pure function of the file.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include "repo/s3/s3_credentials.h"

namespace repo::s3 {

// The keys of `profile` in the file at `path`. When `required` is false, a
// missing file or a file without that profile gives nullopt (the caller
// looks elsewhere); when true, both are errors. Throws
// bkp::Error(BKP_E_AUTH) for those, for an unreadable or malformed file and
// for a profile without both keys.
std::optional<S3Credentials> ReadProfileCredentials(const std::filesystem::path& path,
                                                    const std::string& profile, bool required);

}  // namespace repo::s3
