// Shared helpers for the kernel benchmarks: each program times a CUDA kernel
// (run by cuvirt on the CPU) against the same algorithm in C++/OpenMP, in the
// same process, and prints one result line:
//   RESULT <name> cuda_ms=<best> cpp_ms=<best> ratio=<cpp/cuda>
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>
#include <omp.h>

#define CK(call)                                                                                             \
  do {                                                                                                       \
    cudaError_t e_ = (call);                                                                                 \
    if (e_ != cudaSuccess) {                                                                                 \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_));            \
      std::exit(2);                                                                                          \
    }                                                                                                        \
  } while (0)

inline double now_ms() {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Best-of-reps wall time of f() in ms.
template <class F> double time_ms(F &&f) {
  double t0 = now_ms();
  f();
  return now_ms() - t0;
}

// Alternates CUDA and C++ runs (so both see the same machine load) and
// prints the best of each. cuda() must include cudaDeviceSynchronize().
template <class C, class H> void compare(const char *name, int reps, C &&cuda, H &&cpp) {
  cuda();
  cpp(); // warm up: JIT, page faults, thread pools
  double bc = 1e30, bh = 1e30;
  for (int r = 0; r < reps; ++r) {
    bc = std::min(bc, time_ms(cuda));
    bh = std::min(bh, time_ms(cpp));
  }
  std::printf("RESULT %s cuda_ms=%.3f cpp_ms=%.3f ratio=%.3f (omp threads %d)\n", name, bc, bh, bh / bc,
              omp_get_max_threads());
}

// Fails loudly when the CUDA and C++ results differ beyond a relative tolerance.
inline void check(const char *name, const float *got, const float *want, size_t n, float rtol) {
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < n; ++i)
    if (!(std::fabs(got[i] - want[i]) <= rtol * std::max(1.0f, std::fabs(want[i])))) {
      if (!bad++)
        first = i;
    }
  if (bad) {
    std::fprintf(stderr, "FAIL %s: %zu of %zu differ; first [%zu] cuda %.9g, c++ %.9g\n", name, bad, n, first,
                 got[first], want[first]);
    std::exit(1);
  }
}
