// Errors that cross into JS. Native code throws these C++ exceptions; the export wrapper in
// napi_args.h turns each into a JS TypeError / RangeError / Error. Nothing here ends the process.
#pragma once
#include <stdexcept>
#include <string>

namespace convmae {

enum class ErrorKind { Type, Range, Generic };

struct OpError : std::runtime_error {
  ErrorKind kind;
  OpError(ErrorKind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};

[[noreturn]] inline void throw_type(const std::string& op, const std::string& msg) {
  throw OpError(ErrorKind::Type, op + ": " + msg);
}
[[noreturn]] inline void throw_range(const std::string& op, const std::string& msg) {
  throw OpError(ErrorKind::Range, op + ": " + msg);
}
[[noreturn]] inline void throw_error(const std::string& op, const std::string& msg) {
  throw OpError(ErrorKind::Generic, op + ": " + msg);
}

}  // namespace convmae

// Checks a precondition inside an op; the message names the op and the argument.
#define CM_CHECK_RANGE(cond, op, msg) \
  do { if (!(cond)) ::convmae::throw_range(op, msg); } while (0)
