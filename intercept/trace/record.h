// One traced call, and how each argument type is shown.
#pragma once
#include "enum_names.h"
#include "runtime/cuda_internal.h"
#include <chrono>
#include <cstdint>
#include <fmt/format.h>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace cuvirt::trace {

using Clock = std::chrono::steady_clock;

struct Record {
  unsigned site = 0;
  CUresult result = CUDA_SUCCESS;
  Clock::time_point start, end;
  /// name, value pairs, values already formatted
  std::vector<std::pair<const char *, std::string>> args;
  std::string note; ///< decoded extras: kernel name and geometry, bytes copied
  void clear() {
    args.clear();
    note.clear();
  }
};

/// A short stable id for a handle ("stream#3"), the same for the same
/// pointer for the whole run.
std::string handleId(const char *kind, const void *handle);

template <class T> struct HandleKind {
  static constexpr const char *name = nullptr;
};
#define CUVIRT_HANDLE_KIND(T, N)                                                                             \
  template <> struct HandleKind<T> {                                                                         \
    static constexpr const char *name = N;                                                                   \
  };
CUVIRT_HANDLE_KIND(CUctx_st, "ctx")
CUVIRT_HANDLE_KIND(CUstream_st, "stream")
CUVIRT_HANDLE_KIND(CUevent_st, "event")
CUVIRT_HANDLE_KIND(CUmod_st, "module")
CUVIRT_HANDLE_KIND(CUfunc_st, "func")
CUVIRT_HANDLE_KIND(CUlib_st, "library")
CUVIRT_HANDLE_KIND(CUkern_st, "kernel")
CUVIRT_HANDLE_KIND(CUmemPoolHandle_st, "mempool")
CUVIRT_HANDLE_KIND(CUgraph_st, "graph")
CUVIRT_HANDLE_KIND(CUgraphExec_st, "graphexec")
CUVIRT_HANDLE_KIND(CUgraphNode_st, "node")
CUVIRT_HANDLE_KIND(CUarray_st, "array")
CUVIRT_HANDLE_KIND(CUlinkState_st, "link")
#undef CUVIRT_HANDLE_KIND

template <class T> std::string show(T value);

inline std::string showStream(CUstream s) {
  if (s == nullptr)
    return "0";
  if (s == CU_STREAM_LEGACY)
    return "legacy";
  if (s == CU_STREAM_PER_THREAD)
    return "per-thread";
  return handleId("stream", s);
}

template <class T> std::string show(T value) {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, CUresult>) {
    const char *n = enumName(value);
    return n ? n : fmt::format("CUresult({})", static_cast<int>(value));
  } else if constexpr (std::is_enum_v<U>) {
    if constexpr (requires { enumName(value); }) {
      if (const char *n = enumName(value))
        return n;
    }
    return fmt::format("{}", static_cast<long long>(value));
  } else if constexpr (std::is_same_v<U, CUstream>) {
    return showStream(value);
  } else if constexpr (std::is_same_v<U, const char *> || std::is_same_v<U, char *>) {
    return value ? fmt::format("\"{}\"", std::string_view(value).substr(0, 200)) : "NULL";
  } else if constexpr (std::is_same_v<U, unsigned long long>) {
    return fmt::format("0x{:x}", value); // device pointers and 64-bit flags
  } else if constexpr (std::is_same_v<U, bool>) {
    return value ? "true" : "false";
  } else if constexpr (std::is_integral_v<U> || std::is_floating_point_v<U>) {
    return fmt::format("{}", value);
  } else if constexpr (std::is_pointer_v<U>) {
    using P = std::remove_cv_t<std::remove_pointer_t<U>>;
    if constexpr (std::is_function_v<P>) {
      return value ? fmt::format("{}", reinterpret_cast<const void *>(value)) : "NULL";
    } else if constexpr (HandleKind<P>::name != nullptr) {
      return value ? handleId(HandleKind<P>::name, value) : "NULL";
    } else {
      return value ? fmt::format("{}", static_cast<const void *>(value)) : "NULL";
    }
  } else if constexpr (std::is_same_v<U, CUuuid>) {
    std::string s;
    for (char b : value.bytes)
      s += fmt::format("{:02x}", static_cast<unsigned char>(b));
    return s;
  } else {
    return "{...}";
  }
}

/// Output parameters: the value written, after the call.
template <class T> std::string showArg(T value, bool succeeded) {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_pointer_v<U> && !std::is_const_v<std::remove_pointer_t<U>> &&
                !std::is_function_v<std::remove_pointer_t<U>>) {
    using P = std::remove_pointer_t<U>;
    if constexpr (std::is_same_v<P, char>) {
      return succeeded ? show(value) : show(static_cast<const void *>(value)); // a buffer the call filled
    } else if constexpr (std::is_scalar_v<P> || std::is_same_v<P, CUuuid>) {
      if (value != nullptr && succeeded)
        return "&" + show(*value);
      return show(static_cast<const void *>(value));
    } else {
      return show(value);
    }
  } else {
    return show(value);
  }
}

} // namespace cuvirt::trace
