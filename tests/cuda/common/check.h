// Shared checking macros for cuvirt's end-to-end CUDA test programs.
//
// Every CUDA call in a test goes through one of these: on failure they print
// file:line, the call as written, and the error's name and description, then
// exit(1). (Never exit 77: meson reads that as SKIP.)
#ifndef CUVIRT_TESTS_CUDA_CHECK_H
#define CUVIRT_TESTS_CUDA_CHECK_H

#include <cuda.h>
#include <stdio.h>
#include <stdlib.h>

#define FAIL(...)                                                                                            \
  do {                                                                                                       \
    fprintf(stderr, "%s:%d: FAILED: ", __FILE__, __LINE__);                                                  \
    fprintf(stderr, __VA_ARGS__);                                                                            \
    fprintf(stderr, "\n");                                                                                   \
    fflush(stdout);                                                                                          \
    exit(1);                                                                                                 \
  } while (0)

// EXPECT(cond, printf-args...): a result check, not a CUDA call. A failed
// check is reported and the program goes on (so one run shows every
// independent mismatch), up to 10 failed checks; PASSED() then exits 1.
static int cuvirt_test_failures = 0;
static inline void cuvirt_test_check_failed(void) {
  fflush(stdout);
  if (++cuvirt_test_failures >= 10) {
    fprintf(stderr, "FAILED: %d checks failed, giving up\n", cuvirt_test_failures);
    exit(1);
  }
}

#define EXPECT(cond, ...)                                                                                    \
  do {                                                                                                       \
    if (!(cond)) {                                                                                           \
      fprintf(stderr, "%s:%d: check `%s` failed: ", __FILE__, __LINE__, #cond);                              \
      fprintf(stderr, __VA_ARGS__);                                                                          \
      fprintf(stderr, "\n");                                                                                 \
      cuvirt_test_check_failed();                                                                            \
    }                                                                                                        \
  } while (0)

// Ends a program: "PASSED name" if no check failed, else exit(1).
#define PASSED(name)                                                                                         \
  do {                                                                                                       \
    if (cuvirt_test_failures) {                                                                              \
      fprintf(stderr, "FAILED %s: %d check(s) failed (see above)\n", name, cuvirt_test_failures);            \
      exit(1);                                                                                               \
    }                                                                                                        \
    printf("PASSED %s\n", name);                                                                             \
    fflush(stdout);                                                                                          \
  } while (0)

// ---- driver API (cuda.h) ----------------------------------------------------
static inline const char *cuvirt_test_cu_name(CUresult r) {
  const char *s = NULL;
  if (cuGetErrorName(r, &s) != CUDA_SUCCESS || !s)
    return "<unknown CUresult>";
  return s;
}
static inline const char *cuvirt_test_cu_string(CUresult r) {
  const char *s = NULL;
  if (cuGetErrorString(r, &s) != CUDA_SUCCESS || !s)
    return "<no description>";
  return s;
}

#define CU_CHECK(call)                                                                                       \
  do {                                                                                                       \
    CUresult r_ = (call);                                                                                    \
    if (r_ != CUDA_SUCCESS) {                                                                                \
      fprintf(stderr, "%s:%d: %s failed: %s (%d): %s\n", __FILE__, __LINE__, #call, cuvirt_test_cu_name(r_), \
              (int)r_, cuvirt_test_cu_string(r_));                                                           \
      exit(1);                                                                                               \
    }                                                                                                        \
  } while (0)

// The call must fail with exactly `expected`.
#define CU_EXPECT_ERR(call, expected)                                                                        \
  do {                                                                                                       \
    CUresult r_ = (call);                                                                                    \
    if (r_ != (expected)) {                                                                                  \
      fprintf(stderr, "%s:%d: %s returned %s (%d), expected %s (%d)\n", __FILE__, __LINE__, #call,           \
              cuvirt_test_cu_name(r_), (int)r_, cuvirt_test_cu_name(expected), (int)(expected));             \
      exit(1);                                                                                               \
    }                                                                                                        \
  } while (0)

// ---- runtime API (nvcc-compiled programs) ------------------------------------
#ifdef __CUDACC__
#include <cuda_runtime.h>

#define CHECK(call)                                                                                          \
  do {                                                                                                       \
    cudaError_t e_ = (call);                                                                                 \
    if (e_ != cudaSuccess) {                                                                                 \
      fprintf(stderr, "%s:%d: %s failed: %s (%d): %s\n", __FILE__, __LINE__, #call, cudaGetErrorName(e_),    \
              (int)e_, cudaGetErrorString(e_));                                                              \
      exit(1);                                                                                               \
    }                                                                                                        \
  } while (0)

// The call must fail with exactly `expected`.
#define EXPECT_ERR(call, expected)                                                                           \
  do {                                                                                                       \
    cudaError_t e_ = (call);                                                                                 \
    if (e_ != (expected)) {                                                                                  \
      fprintf(stderr, "%s:%d: %s returned %s (%d): %s; expected %s (%d)\n", __FILE__, __LINE__, #call,       \
              cudaGetErrorName(e_), (int)e_, cudaGetErrorString(e_), cudaGetErrorName(expected),             \
              (int)(expected));                                                                              \
      exit(1);                                                                                               \
    }                                                                                                        \
  } while (0)

// The call must fail (any error). Returns the error for further checks.
#define EXPECT_ANY_ERR(call)                                                                                 \
  ([&]() {                                                                                                   \
    cudaError_t e_ = (call);                                                                                 \
    if (e_ == cudaSuccess) {                                                                                 \
      fprintf(stderr, "%s:%d: %s unexpectedly succeeded\n", __FILE__, __LINE__, #call);                      \
      exit(1);                                                                                               \
    }                                                                                                        \
    return e_;                                                                                               \
  }())

// After a kernel launch: the launch itself, then the execution.
#define CHECK_LAUNCH()                                                                                       \
  do {                                                                                                       \
    CHECK(cudaGetLastError());                                                                               \
    CHECK(cudaDeviceSynchronize());                                                                          \
  } while (0)
#endif // __CUDACC__

#endif // CUVIRT_TESTS_CUDA_CHECK_H
