// GEMV, SYRK/HERK and TRSM (large TRSMs call cuBLAS's own SASS GEMMs
// inside the library, where no interposer reaches), for S/D/C/Z.
#include "shims/cublas/blas.h"
#include "shims/cublas/cublas_shim.h"
#include <algorithm>
#include <cstdio>

using namespace cuvirt::cublas;
using cuvirt::cublas::route;

namespace {

bool validFill(cublasFillMode_t u) { return u == CUBLAS_FILL_MODE_LOWER || u == CUBLAS_FILL_MODE_UPPER; }

cublasStatus_t unreachable(const char *fn, const char *what, const void *p) {
  std::fprintf(stderr, "cuvirt: %s: %s (%p) is not memory the CPU device can reach\n", fn, what, p);
  return CUBLAS_STATUS_INVALID_VALUE;
}

template <class T>
cublasStatus_t submitGemv(const char *fn, const Route &r, cublasOperation_t t, int m, int n,
                          const void *alpha, const T *A, int lda, const T *x, int incx, const void *beta,
                          T *y, int incy) {
  if (!validOp(t) || m < 0 || n < 0 || lda < std::max(1, m) || incx == 0 || incy == 0 || alpha == nullptr ||
      beta == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0)
    return CUBLAS_STATUS_SUCCESS;
  Scalar al(alpha, sizeof(T), r.deviceScalars), be(beta, sizeof(T), r.deviceScalars);
  const int lenx = t == CUBLAS_OP_N ? n : m, leny = t == CUBLAS_OP_N ? m : n;
  if (!addressable(y, vectorBytes(leny, incy, sizeof(T))))
    return unreachable(fn, "y", y);
  if (!al.knownZero() && !addressable(A, matrixBytes(m, n, lda, sizeof(T))))
    return unreachable(fn, "A", A);
  if (!al.knownZero() && !addressable(x, vectorBytes(lenx, incx, sizeof(T))))
    return unreachable(fn, "x", x);
  return enqueue(r.stream,
                 [=]() mutable { gemv<T>(t, m, n, al.as<T>(), A, lda, x, incx, be.as<T>(), y, incy); });
}

/// syrk (R = T) and herk (R = the real type, complex T).
template <class T, class R, bool Herk>
cublasStatus_t submitRankK(const char *fn, const Route &r, cublasFillMode_t uplo, cublasOperation_t t, int n,
                           int k, const void *alpha, const T *A, int lda, const void *beta, T *C, int ldc) {
  constexpr bool isComplex = std::is_same_v<T, cfloat> || std::is_same_v<T, cdouble>;
  // Complex syrk takes N or T, herk N or C; real syrk all three.
  const bool opOk =
      t == CUBLAS_OP_N || (Herk ? t == CUBLAS_OP_C : t == CUBLAS_OP_T || (!isComplex && t == CUBLAS_OP_C));
  const int rowsA = t == CUBLAS_OP_N ? n : k;
  if (!validFill(uplo) || !opOk || n < 0 || k < 0 || lda < std::max(1, rowsA) || ldc < std::max(1, n) ||
      alpha == nullptr || beta == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (n == 0)
    return CUBLAS_STATUS_SUCCESS;
  Scalar al(alpha, sizeof(R), r.deviceScalars), be(beta, sizeof(R), r.deviceScalars);
  if (!addressable(C, matrixBytes(n, n, ldc, sizeof(T))))
    return unreachable(fn, "C", C);
  if (k > 0 && !al.knownZero() &&
      !addressable(A, matrixBytes(rowsA, t == CUBLAS_OP_N ? k : n, lda, sizeof(T))))
    return unreachable(fn, "A", A);
  return enqueue(r.stream, [=]() mutable {
    if constexpr (Herk)
      herk<T, R>(uplo, t, n, k, al.as<R>(), A, lda, be.as<R>(), C, ldc);
    else
      syrk<T>(uplo, t, n, k, al.as<T>(), A, lda, be.as<T>(), C, ldc);
  });
}

template <class T>
cublasStatus_t submitTrsm(const char *fn, const Route &r, cublasSideMode_t side, cublasFillMode_t uplo,
                          cublasOperation_t t, cublasDiagType_t diag, int m, int n, const void *alpha,
                          const T *A, int lda, T *B, int ldb) {
  const int ka = side == CUBLAS_SIDE_LEFT ? m : n;
  if ((side != CUBLAS_SIDE_LEFT && side != CUBLAS_SIDE_RIGHT) || !validFill(uplo) || !validOp(t) ||
      (diag != CUBLAS_DIAG_UNIT && diag != CUBLAS_DIAG_NON_UNIT) || m < 0 || n < 0 || lda < std::max(1, ka) ||
      ldb < std::max(1, m) || alpha == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  if (m == 0 || n == 0)
    return CUBLAS_STATUS_SUCCESS;
  Scalar al(alpha, sizeof(T), r.deviceScalars);
  if (!addressable(B, matrixBytes(m, n, ldb, sizeof(T))))
    return unreachable(fn, "B", B);
  if (!al.knownZero() && !addressable(A, matrixBytes(ka, ka, lda, sizeof(T))))
    return unreachable(fn, "A", A);
  return enqueue(r.stream, [=]() mutable { trsm<T>(side, uplo, t, diag, m, n, al.as<T>(), A, lda, B, ldb); });
}

} // namespace

#define CUVIRT_ROUTE(fn, ...)                                                                                \
  const Route r = route(handle);                                                                             \
  if (r.forward)                                                                                             \
    CUVIRT_FORWARD(fn, __VA_ARGS__);

#define CUVIRT_GEMV(fn, T, W)                                                                                \
  extern "C" CUVIRT_EXPORT cublasStatus_t fn(cublasHandle_t handle, cublasOperation_t trans, int m, int n,   \
                                             const T *alpha, const T *A, int lda, const T *x, int incx,      \
                                             const T *beta, T *y, int incy) {                                \
    CUVIRT_ROUTE(fn, handle, trans, m, n, alpha, A, lda, x, incx, beta, y, incy)                             \
    return submitGemv<W>(#fn, r, trans, m, n, alpha, reinterpret_cast<const W *>(A), lda,                    \
                         reinterpret_cast<const W *>(x), incx, beta, reinterpret_cast<W *>(y), incy);        \
  }
CUVIRT_GEMV(cublasSgemv_v2, float, float)
CUVIRT_GEMV(cublasDgemv_v2, double, double)
CUVIRT_GEMV(cublasCgemv_v2, cuComplex, cfloat)
CUVIRT_GEMV(cublasZgemv_v2, cuDoubleComplex, cdouble)
#undef CUVIRT_GEMV

#define CUVIRT_RANKK(fn, T, S, W, R, herk)                                                                   \
  extern "C" CUVIRT_EXPORT cublasStatus_t fn(cublasHandle_t handle, cublasFillMode_t uplo,                   \
                                             cublasOperation_t trans, int n, int k, const S *alpha,          \
                                             const T *A, int lda, const S *beta, T *C, int ldc) {            \
    CUVIRT_ROUTE(fn, handle, uplo, trans, n, k, alpha, A, lda, beta, C, ldc)                                 \
    return submitRankK<W, R, herk>(#fn, r, uplo, trans, n, k, alpha, reinterpret_cast<const W *>(A), lda,    \
                                   beta, reinterpret_cast<W *>(C), ldc);                                     \
  }
CUVIRT_RANKK(cublasSsyrk_v2, float, float, float, float, false)
CUVIRT_RANKK(cublasDsyrk_v2, double, double, double, double, false)
CUVIRT_RANKK(cublasCsyrk_v2, cuComplex, cuComplex, cfloat, cfloat, false)
CUVIRT_RANKK(cublasZsyrk_v2, cuDoubleComplex, cuDoubleComplex, cdouble, cdouble, false)
CUVIRT_RANKK(cublasCherk_v2, cuComplex, float, cfloat, float, true)
CUVIRT_RANKK(cublasZherk_v2, cuDoubleComplex, double, cdouble, double, true)
#undef CUVIRT_RANKK

#define CUVIRT_TRSM(fn, T, W)                                                                                \
  extern "C" CUVIRT_EXPORT cublasStatus_t fn(                                                                \
      cublasHandle_t handle, cublasSideMode_t side, cublasFillMode_t uplo, cublasOperation_t trans,          \
      cublasDiagType_t diag, int m, int n, const T *alpha, const T *A, int lda, T *B, int ldb) {             \
    CUVIRT_ROUTE(fn, handle, side, uplo, trans, diag, m, n, alpha, A, lda, B, ldb)                           \
    return submitTrsm<W>(#fn, r, side, uplo, trans, diag, m, n, alpha, reinterpret_cast<const W *>(A), lda,  \
                         reinterpret_cast<W *>(B), ldb);                                                     \
  }
CUVIRT_TRSM(cublasStrsm_v2, float, float)
CUVIRT_TRSM(cublasDtrsm_v2, double, double)
CUVIRT_TRSM(cublasCtrsm_v2, cuComplex, cfloat)
CUVIRT_TRSM(cublasZtrsm_v2, cuDoubleComplex, cdouble)
#undef CUVIRT_TRSM
