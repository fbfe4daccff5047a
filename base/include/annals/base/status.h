// Status and Result<T>: how annals reports operating errors (I/O, disk full, corruption,
// timeouts, bad arguments) as values. No exception crosses a module boundary.
//
// A business outcome of one event (Appended, Duplicate, KeyReuse, ...) is not a Status: it is a
// result code of the eventstore (annals/eventstore/append.h). Programmer errors are assertions
// (annals/base/assert.h).
//
// Thread-safety: a Status or Result is a value; const methods may be called from many threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "annals/base/assert.h"

namespace annals {

// Codes are stable: they are logged and mapped to exit codes and HTTP statuses at the edges.
enum class StatusCode : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,    // the caller's input is wrong; retrying the same call fails again
  kNotFound = 2,           // the thing asked for does not exist
  kCorruption = 3,         // stored data fails its checks (digest, chain, format)
  kIOError = 4,            // the storage failed (disk full, I/O error)
  kUnavailable = 5,        // temporarily refused (unhealthy storage, shutdown, overload): back off
  kFailedPrecondition = 6, // the system is not in a state that allows the call
  kResourceExhausted = 7,  // a named limit was hit
  kDeadlineExceeded = 8,   // a bounded wait ran out
  kInternal = 9,           // a bug or a dependency failing in an unexpected way
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {
    ANNALS_ASSERT(code != StatusCode::kOk);
  }

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IOError(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {StatusCode::kDeadlineExceeded, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "IOError: message", or "OK".
  std::string ToString() const;

  // Adds context in front of the message: "opening ledger: IOError: ...".
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Result<T> holds a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit on purpose
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    ANNALS_ASSERT(!status_.ok());
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { ANNALS_ASSERT(ok()); return *value_; }
  const T& value() const& { ANNALS_ASSERT(ok()); return *value_; }
  T&& value() && { ANNALS_ASSERT(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace annals

#define ANNALS_CONCAT_INNER_(a, b) a##b
#define ANNALS_CONCAT_(a, b) ANNALS_CONCAT_INNER_(a, b)

// Returns the Status of `expr` from the enclosing function when it is not OK.
#define ANNALS_RETURN_IF_ERROR(expr)                 \
  do {                                               \
    ::annals::Status annals_status_ = (expr);        \
    if (!annals_status_.ok()) return annals_status_; \
  } while (0)

// `lhs = value of expr`, or returns its Status from the enclosing function.
#define ANNALS_ASSIGN_OR_RETURN(lhs, expr) \
  ANNALS_ASSIGN_OR_RETURN_IMPL_(ANNALS_CONCAT_(annals_result_, __LINE__), lhs, expr)
#define ANNALS_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
