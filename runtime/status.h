// Errors as values: Status (a CUresult plus where it came from) and
// Expected<T>. They become a bare CUresult once, at the API edge.
#pragma once
#include "runtime/cuda_internal.h"
#include <fmt/format.h>
#include <string>
#include <utility>
#include <variant>

namespace cuvirt {

class [[nodiscard]] Status {
public:
  constexpr Status() = default;
  constexpr Status(CUresult code) : code_(code) {} // NOLINT: implicit by design
  [[nodiscard]] constexpr bool ok() const { return code_ == CUDA_SUCCESS; }
  [[nodiscard]] constexpr CUresult code() const { return code_; }
  constexpr operator CUresult() const { return code_; } // NOLINT
  static constexpr Status success() { return {}; }

private:
  CUresult code_ = CUDA_SUCCESS;
};

/// Records a readable message for `code` (logged at debug level, or at warn
/// level for errors that mean bad input, such as an invalid image) and returns
/// it as a Status.
Status report(CUresult code, std::string message);

template <class... Args> Status error(CUresult code, fmt::format_string<Args...> f, Args &&...args) {
  return report(code, fmt::format(f, std::forward<Args>(args)...));
}

/// The message of the last error reported on this thread ("" if none).
const std::string &lastErrorMessage();

template <class T> class [[nodiscard]] Expected {
public:
  Expected(T value) : v_(std::move(value)) {} // NOLINT
  Expected(Status s) : v_(s) {}               // NOLINT
  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  [[nodiscard]] Status status() const { return ok() ? Status() : std::get<1>(v_); }
  T &operator*() { return std::get<0>(v_); }
  const T &operator*() const { return std::get<0>(v_); }
  T *operator->() { return &std::get<0>(v_); }
  const T *operator->() const { return &std::get<0>(v_); }
  T take() { return std::move(std::get<0>(v_)); }

private:
  std::variant<T, Status> v_;
};

} // namespace cuvirt

/// Early exit on error, LLVM style: CUVIRT_TRY(doThing());
#define CUVIRT_TRY(expr)                                                                                     \
  do {                                                                                                       \
    ::cuvirt::Status cuvirt_status_ = (expr);                                                                \
    if (!cuvirt_status_.ok())                                                                                \
      return cuvirt_status_;                                                                                 \
  } while (0)
