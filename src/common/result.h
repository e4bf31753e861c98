#pragma once
// Result<T>: a value or an error message, for the control plane (CONVENTIONS.md rule 2).
// Exceptions from libraries are caught at a module's edge and become an Error here.

#include <string>
#include <utility>
#include <variant>

namespace portico {

struct Error {
  std::string message;
};

template <class T>
class [[nodiscard]] Result final {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const std::string& error() const { return std::get<1>(v_).message; }

 private:
  std::variant<T, Error> v_;
};

}  // namespace portico
