// Status text formatting.
#include "util/status.h"

namespace hoststub {

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      return "Not found";
    case Code::kCorruption:
      return "Corruption";
    case Code::kIOError:
      return "I/O error";
    case Code::kInvalidArgument:
      return "Invalid argument";
    case Code::kBusy:
      return "Busy";
    case Code::kAlreadyExists:
      return "Already exists";
    case Code::kUnsupported:
      return "Unsupported";
    case Code::kNoSpace:
      return "No space";
    case Code::kRefused:
      return "Refused";
    case Code::kCancelled:
      return "Cancelled";
  }
  return "Unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace hoststub
