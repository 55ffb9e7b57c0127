// An independent check of AWS Signature Version 4 (header form) as S3
// computes it, for the test proxy: the driver signs with libcurl, and
// s3rver verifies no signature, so without this a wrongly signed request
// would pass every test and fail only against real S3.
//
// Thread-safety: a pure function.
#pragma once

#include <string>

namespace s3_test {

// Whether the request (its head as received, with "\r\n" line ends, and
// its body) carries a valid signature for `secret`, and a payload hash that
// matches its body. On false, `why` says what is off.
bool CheckSigV4(const std::string& head, const std::string& body, const std::string& secret,
                std::string* why);

}  // namespace s3_test
