// Errors raised by the C++ core. Each maps to the Python exception that
// PyTorch raises for the same mistake (see the translators in bindings.cpp):
//   ValueError -> ValueError, TypeError -> TypeError, IndexError -> IndexError,
//   anything else derived from std::exception -> RuntimeError.
// Every argument check happens before a kernel runs, so a bad call from
// Python is an exception, never a crash.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace pydl {

struct ValueError : std::runtime_error { using std::runtime_error::runtime_error; };
struct TypeError : std::runtime_error { using std::runtime_error::runtime_error; };
struct IndexError : std::runtime_error { using std::runtime_error::runtime_error; };
struct NotImplementedError : std::runtime_error { using std::runtime_error::runtime_error; };
using RuntimeError = std::runtime_error;

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... R>
inline void append(std::ostringstream& os, const T& v, const R&... rest) {
  os << v;
  append(os, rest...);
}
}  // namespace detail

template <class... A>
std::string str(const A&... a) {
  std::ostringstream os;
  detail::append(os, a...);
  return os.str();
}

}  // namespace pydl

// PYDL_CHECK(cond, ExceptionType, message parts...)
#define PYDL_CHECK(cond, Exc, ...)                   \
  do {                                               \
    if (!(cond)) throw Exc(::pydl::str(__VA_ARGS__)); \
  } while (0)
