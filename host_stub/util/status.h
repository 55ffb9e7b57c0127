// Status and Result<T>: how every module of the host reports an expected
// failure (a missing file, a corrupt record, a bad config key) without
// exceptions crossing a module boundary. Modelled on LevelDB's Status.
//
// Both are [[nodiscard]]: a failure dropped on the floor is a compile error
// (-Werror). Propagate it (HOSTSTUB_RETURN_IF_ERROR /
// HOSTSTUB_ASSIGN_OR_RETURN below), report it, or discard it with `(void)`
// and a comment saying why losing it is safe.
//
// Thread-safety: values; safe to copy between threads.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace hoststub {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk,
    kNotFound,
    kCorruption,
    kIOError,
    kInvalidArgument,
    kBusy,
    kAlreadyExists,
    kUnsupported,
    kNoSpace,    // the device or quota is full
    kRefused,    // refused by a safety policy; the caller may override it
    kCancelled,  // stopped on the operator's request
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status AlreadyExists(std::string msg) {
    return Status(Code::kAlreadyExists, std::move(msg));
  }
  static Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }
  static Status NoSpace(std::string msg) { return Status(Code::kNoSpace, std::move(msg)); }
  static Status Refused(std::string msg) { return Status(Code::kRefused, std::move(msg)); }
  static Status Cancelled(std::string msg) { return Status(Code::kCancelled, std::move(msg)); }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "Corruption: <message>", or "OK".
  std::string ToString() const;
  static const char* CodeName(Code code);

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "a Result without a value needs a failed Status");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }
  // By value, so `for (auto& x : *Function())` does not dangle.
  T operator*() && { return std::move(*value_); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace hoststub

// Returns early from the enclosing function when `expr` yields a failed Status.
#define HOSTSTUB_RETURN_IF_ERROR(expr) \
  do {                                 \
    ::hoststub::Status _st = (expr);   \
    if (!_st.ok()) return _st;         \
  } while (0)

// Evaluates `expr`, a Result<T>: on failure returns its Status from the
// enclosing function (which returns Status or any Result<U>); on success
// moves the value into `lhs`, a declaration (`auto x`, `const auto& x`) or
// an existing variable:
//
//   HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(path));
//   db.Put(...);  // db is the value, not the Result
//
// It expands to several statements: use it only where a statement list may
// stand (not as the body of an unbraced if), at most once per line. `lhs`
// may not contain a top-level comma (no `auto [a, b]`).
#define HOSTSTUB_ASSIGN_OR_RETURN(lhs, expr) \
  HOSTSTUB_ASSIGN_OR_RETURN_IMPL_(HOSTSTUB_STATUS_CONCAT_(hoststub_result_, __LINE__), lhs, expr)
#define HOSTSTUB_ASSIGN_OR_RETURN_IMPL_(result, lhs, expr) \
  auto result = (expr);                                    \
  if (!result.ok()) return result.status();                \
  lhs = std::move(result).value()
#define HOSTSTUB_STATUS_CONCAT_(a, b) HOSTSTUB_STATUS_CONCAT_INNER_(a, b)
#define HOSTSTUB_STATUS_CONCAT_INNER_(a, b) a##b
