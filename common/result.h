#pragma once
// Expected-style results for kernel and syscall paths: a value or an Error that
// carries errno and a message naming what failed.

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace weft {

struct Error {
  int code = 0;         // errno value, or 0 for non-errno failures
  std::string message;  // what failed, in words a user can act on

  static Error fromErrno(int err, const std::string& what) {
    return Error{err, what + ": " + std::strerror(err)};
  }
  std::string str() const { return message; }
};

template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Error err) : v_(std::move(err)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }
  int code() const { return ok() ? 0 : error().code; }

 private:
  std::variant<T, Error> v_;
};

// Result of an operation that yields nothing but may fail.
class Status {
 public:
  Status() = default;
  Status(Error err) : err_(std::move(err)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  static Status Ok() { return Status(); }

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return err_; }
  int code() const { return ok_ ? 0 : err_.code; }

  // Benign outcomes are accepted only where they are named.
  bool okOr(int benignErrno) const { return ok_ || err_.code == benignErrno; }

 private:
  Error err_;
  bool ok_ = true;
};

}  // namespace weft
