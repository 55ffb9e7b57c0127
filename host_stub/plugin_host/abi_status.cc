// bkp_status <-> Status conversions.
#include "plugin_host/abi_status.h"

#include <optional>

#include <fmt/format.h>

#include "plugin_host/abi_role.h"

namespace hoststub {

std::string BkpStatusName(bkp_status status) {
  switch (status) {
    case BKP_OK:
      return "BKP_OK";
    case BKP_E_BUSY:
      return "BKP_E_BUSY";
    case BKP_E_MISSING_FULL_BACKUP:
      return "BKP_E_MISSING_FULL_BACKUP";
    case BKP_E_BROKEN_CHAIN:
      return "BKP_E_BROKEN_CHAIN";
    case BKP_E_CORRUPT:
      return "BKP_E_CORRUPT";
    case BKP_E_REFUSED_BY_POLICY:
      return "BKP_E_REFUSED_BY_POLICY";
    case BKP_E_CANCELLED:
      return "BKP_E_CANCELLED";
    case BKP_E_IO:
      return "BKP_E_IO";
    case BKP_E_AUTH:
      return "BKP_E_AUTH";
    case BKP_E_NOT_FOUND:
      return "BKP_E_NOT_FOUND";
    case BKP_E_INVALID_ARGUMENT:
      return "BKP_E_INVALID_ARGUMENT";
    case BKP_E_UNSUPPORTED:
      return "BKP_E_UNSUPPORTED";
    case BKP_E_OUT_OF_ORDER:
      return "BKP_E_OUT_OF_ORDER";
    case BKP_E_NO_SPACE:
      return "BKP_E_NO_SPACE";
    case BKP_E_UNREACHABLE:
      return "BKP_E_UNREACHABLE";
    case BKP_E_INTERNAL:
      return "BKP_E_INTERNAL";
  }
  return fmt::format("BKP_E_{}", status);
}

const char* BkpRoleName(uint32_t role) {
  if (role == BKP_ROLE_CONTROL_DB) return "control DB";
  // StreamRoleName's views are of string literals, so NUL-terminated.
  if (const std::optional<StreamRole> stream = FromBkpRole(role)) {
    return StreamRoleName(*stream).data();
  }
  return "unknown role";
}

bkp_status ToBkpStatus(const Status& status) {
  switch (status.code()) {
    case Status::Code::kOk:
      return BKP_OK;
    case Status::Code::kNotFound:
      return BKP_E_NOT_FOUND;
    case Status::Code::kCorruption:
      return BKP_E_CORRUPT;
    case Status::Code::kIOError:
      return BKP_E_IO;
    case Status::Code::kInvalidArgument:
      return BKP_E_INVALID_ARGUMENT;
    case Status::Code::kBusy:
      return BKP_E_BUSY;
    case Status::Code::kAlreadyExists:
      return BKP_E_INVALID_ARGUMENT;
    case Status::Code::kUnsupported:
      return BKP_E_UNSUPPORTED;
    case Status::Code::kNoSpace:
      return BKP_E_NO_SPACE;
    case Status::Code::kRefused:
      return BKP_E_REFUSED_BY_POLICY;
    case Status::Code::kCancelled:
      return BKP_E_CANCELLED;
  }
  return BKP_E_INTERNAL;
}

Status FromBkpStatus(bkp_status status, const std::string& message) {
  std::string text = fmt::format("{} [{}]", message, BkpStatusName(status));
  switch (status) {
    case BKP_OK:
      return Status::OK();
    case BKP_E_BUSY:
      return Status::Busy(std::move(text));
    case BKP_E_NOT_FOUND:
    case BKP_E_MISSING_FULL_BACKUP:
      return Status::NotFound(std::move(text));
    case BKP_E_CORRUPT:
    case BKP_E_BROKEN_CHAIN:
      return Status::Corruption(std::move(text));
    case BKP_E_INVALID_ARGUMENT:
    case BKP_E_OUT_OF_ORDER:
      return Status::InvalidArgument(std::move(text));
    case BKP_E_UNSUPPORTED:
      return Status::Unsupported(std::move(text));
    case BKP_E_NO_SPACE:
      return Status::NoSpace(std::move(text));
    case BKP_E_REFUSED_BY_POLICY:
      return Status::Refused(std::move(text));
    case BKP_E_CANCELLED:
      return Status::Cancelled(std::move(text));
    default:
      return Status::IOError(std::move(text));
  }
}

}  // namespace hoststub
