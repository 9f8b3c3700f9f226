// libcuvirt_cublas.so: cuBLAS routines whose kernels NVIDIA ships as SASS
// only (GEMM, GEMV, SYRK, ...), run on the host with OpenBLAS when the
// handle's device is cuvirt's CPU device. Everything else, and every call
// for another device, goes to the real libcublas unchanged.
#pragma once
#include <cublas_v2.h>
#include <cuda.h>
#include <dlfcn.h>
#include <functional>
#include <memory>

/// The interposed entry points (the project builds with -fvisibility=hidden).
#define CUVIRT_EXPORT __attribute__((visibility("default")))

namespace cuvirt::cublas {

/// The real libcublas's `name` (never this library's), nullptr if absent;
/// and libcublasLt's.
void *realSymbol(const char *name);
void *realLtSymbol(const char *name);

/// `static auto *fn = REAL(cublasSgemm_v2);` — the real function, typed.
#define CUVIRT_REAL(fn) reinterpret_cast<decltype(&::fn)>(::cuvirt::cublas::realSymbol(#fn))

/// Calls the real function at `real` with these arguments (their declared
/// types are the function's parameter types); NOT_INITIALIZED if there is
/// none (the program did not load libcublas).
template <class... A> cublasStatus_t callReal(void *real, A... args) {
  if (real == nullptr)
    return CUBLAS_STATUS_NOT_INITIALIZED;
  return reinterpret_cast<cublasStatus_t (*)(A...)>(real)(args...);
}
#define CUVIRT_FORWARD(fn, ...) CUVIRT_FORWARD_FROM(realSymbol, fn, __VA_ARGS__)
#define CUVIRT_FORWARD_FROM(lookup, fn, ...)                                                                 \
  do {                                                                                                       \
    static void *real_ = ::cuvirt::cublas::lookup(#fn);                                                      \
    return ::cuvirt::cublas::callReal(real_, __VA_ARGS__);                                                   \
  } while (0)

/// What a call on `handle` should do: run here (on `stream`), or go to the
/// real library (`forward`), or fail with `status`.
struct Route {
  cublasStatus_t status = CUBLAS_STATUS_SUCCESS;
  bool forward = true;
  CUstream stream = nullptr;
  bool deviceScalars = false; // CUBLAS_POINTER_MODE_DEVICE
};
Route route(cublasHandle_t handle);
/// The same for work on `stream` (cublasLt takes the stream per call).
Route routeStream(CUstream stream, bool deviceScalars);

/// A scalar argument (alpha, beta): copied now in host pointer mode, read
/// when the work runs in device pointer mode (it may be written by earlier
/// work on the stream).
struct Scalar {
  alignas(16) unsigned char bytes[16] = {};
  const void *device = nullptr;
  std::size_t size = 0;
  Scalar() = default;
  Scalar(const void *p, std::size_t n, bool deviceMode) : size(n) {
    if (deviceMode)
      device = p;
    else if (p != nullptr)
      __builtin_memcpy(bytes, p, n);
  }
  /// The value, at run time.
  const void *get() {
    if (device != nullptr) {
      __builtin_memcpy(bytes, device, size);
      device = nullptr;
    }
    return bytes;
  }
  template <class T> T as() {
    T v;
    __builtin_memcpy(&v, get(), sizeof v);
    return v;
  }
  /// Known now to be zero (host mode only).
  [[nodiscard]] bool knownZero() const {
    if (device != nullptr)
      return false;
    for (std::size_t i = 0; i < size; ++i)
      if (bytes[i] != 0)
        return false;
    return true;
  }
};

/// Enqueues `work` on `stream` (in order with its kernels, captured into a
/// graph when the stream is capturing). EXECUTION_FAILED if the driver
/// refuses (a sticky context error, a bad stream).
cublasStatus_t enqueue(CUstream stream, std::function<void()> work);

/// Whether [p, p + bytes) is memory the host may touch: inside one CUDA
/// allocation, or mapped host memory. `bytes` = 0 is always fine.
bool addressable(const void *p, std::size_t bytes);
/// Whether [p, p + bytes) is mapped at all: no driver call, so usable in the
/// work itself (a host function may not call CUDA), for pointers read there.
bool mapped(const void *p, std::size_t bytes);

/// Bytes spanned by a column-major rows x cols matrix with leading dimension ld.
inline std::size_t matrixBytes(long long rows, long long cols, long long ld, std::size_t elem) {
  if (rows <= 0 || cols <= 0)
    return 0;
  return static_cast<std::size_t>((cols - 1) * ld + rows) * elem;
}
/// Bytes spanned by a vector of n elements with increment inc.
inline std::size_t vectorBytes(long long n, long long inc, std::size_t elem) {
  if (n <= 0)
    return 0;
  return static_cast<std::size_t>((n - 1) * (inc < 0 ? -inc : inc) + 1) * elem;
}

/// OpenBLAS, loaded on first use (never at start-up: the preload reaches
/// every program cuvirt-run starts, and OpenBLAS starts threads when loaded).
/// False (after one warning) if it cannot be loaded.
bool haveOpenBlas();

} // namespace cuvirt::cublas
