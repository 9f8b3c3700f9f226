// OpenBLAS, loaded on first use, and the typed BLAS calls over it.
#include "shims/cublas/blas.h"
#include "shims/cublas/cublas_shim.h"
#include <cstdio>
#include <cstdlib>
#include <dlfcn.h>
#include <mutex>
#include <thread>

namespace cuvirt::cublas {
namespace {

OpenBlas g_blas{};
bool g_loaded = false;

template <class F> bool bind(void *lib, F &slot, const char *name) {
  slot = reinterpret_cast<F>(dlsym(lib, name));
  return slot != nullptr;
}

bool load() {
  void *lib = nullptr;
  for (const char *name : {"libopenblas.so.0", "libopenblas.so"})
    if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) != nullptr)
      break;
  if (lib == nullptr) {
    std::fprintf(
        stderr, "cuvirt: cuBLAS GEMM/GEMV on the CPU device needs OpenBLAS (libopenblas.so.0, Debian package "
                "libopenblas0); those calls go to NVIDIA's cuBLAS, which cannot run them\n");
    return false;
  }
  OpenBlas b{};
  bool ok = bind(lib, b.sgemm, "cblas_sgemm") && bind(lib, b.dgemm, "cblas_dgemm") &&
            bind(lib, b.cgemm, "cblas_cgemm") && bind(lib, b.zgemm, "cblas_zgemm") &&
            bind(lib, b.sgemv, "cblas_sgemv") && bind(lib, b.dgemv, "cblas_dgemv") &&
            bind(lib, b.cgemv, "cblas_cgemv") && bind(lib, b.zgemv, "cblas_zgemv") &&
            bind(lib, b.ssyrk, "cblas_ssyrk") && bind(lib, b.dsyrk, "cblas_dsyrk") &&
            bind(lib, b.csyrk, "cblas_csyrk") && bind(lib, b.zsyrk, "cblas_zsyrk") &&
            bind(lib, b.cherk, "cblas_cherk") && bind(lib, b.zherk, "cblas_zherk") &&
            bind(lib, b.strsm, "cblas_strsm") && bind(lib, b.dtrsm, "cblas_dtrsm") &&
            bind(lib, b.ctrsm, "cblas_ctrsm") && bind(lib, b.ztrsm, "cblas_ztrsm");
  if (!ok) {
    std::fprintf(stderr, "cuvirt: the OpenBLAS found lacks CBLAS routines (%s); cuBLAS GEMM stays NVIDIA's\n",
                 dlerror());
    return false;
  }
  // One BLAS call runs at a time per stream; its threads take the cores the
  // device's blocks would (they do not run while that stream's GEMM does).
  // CUVIRT_CUBLAS_THREADS caps them, e.g. when several streams multiply at once.
  using SetThreads = void (*)(int);
  if (auto *set = reinterpret_cast<SetThreads>(dlsym(lib, "openblas_set_num_threads"))) {
    int threads = static_cast<int>(std::thread::hardware_concurrency());
    if (const char *env = std::getenv("CUVIRT_CUBLAS_THREADS"); env != nullptr && std::atoi(env) > 0)
      threads = std::atoi(env);
    set(threads > 0 ? threads : 1);
  }
  g_blas = b;
  return true;
}

/// Zeroes a rows x cols column-major matrix (beta == 0 must not read C).
template <class T> void zero(T *C, int rows, int cols, int ldc) {
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i)
      C[static_cast<long long>(j) * ldc + i] = T(0);
}
/// Zeroes the `uplo` triangle of an n x n matrix.
template <class T> void zeroTriangle(cublasFillMode_t uplo, T *C, int n, int ldc) {
  for (int j = 0; j < n; ++j) {
    const int lo = uplo == CUBLAS_FILL_MODE_UPPER ? 0 : j, hi = uplo == CUBLAS_FILL_MODE_UPPER ? j + 1 : n;
    for (int i = lo; i < hi; ++i)
      C[static_cast<long long>(j) * ldc + i] = T(0);
  }
}
CBLAS_UPLO cblasUplo(cublasFillMode_t u) { return u == CUBLAS_FILL_MODE_UPPER ? CblasUpper : CblasLower; }

} // namespace

bool haveOpenBlas() {
  static std::once_flag once;
  std::call_once(once, [] { g_loaded = load(); });
  return g_loaded;
}

const OpenBlas &openBlas() { return g_blas; }

template <class T>
void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha, const T *A, int lda,
          const T *B, int ldb, T beta, T *C, int ldc) {
  if (m == 0 || n == 0)
    return;
  if (beta == T(0))
    zero(C, m, n, ldc);
  if (k == 0 || alpha == T(0)) {
    if (beta != T(0) && beta != T(1))
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < m; ++i)
          C[static_cast<long long>(j) * ldc + i] *= beta;
    return;
  }
  const auto &b = g_blas;
  if constexpr (std::is_same_v<T, float>)
    b.sgemm(CblasColMajor, cblasOp(ta), cblasOp(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  else if constexpr (std::is_same_v<T, double>)
    b.dgemm(CblasColMajor, cblasOp(ta), cblasOp(tb), m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
  else if constexpr (std::is_same_v<T, cfloat>)
    b.cgemm(CblasColMajor, cblasOp(ta), cblasOp(tb), m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
  else
    b.zgemm(CblasColMajor, cblasOp(ta), cblasOp(tb), m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
}

template <class T>
void gemv(cublasOperation_t t, int m, int n, T alpha, const T *A, int lda, const T *x, int incx, T beta, T *y,
          int incy) {
  const int leny = t == CUBLAS_OP_N ? m : n;
  if (m == 0 || n == 0)
    return;
  if (beta == T(0))
    for (int i = 0; i < leny; ++i)
      y[static_cast<long long>(i) * (incy < 0 ? -incy : incy)] = T(0);
  const auto &b = g_blas;
  if constexpr (std::is_same_v<T, float>)
    b.sgemv(CblasColMajor, cblasOp(t), m, n, alpha, A, lda, x, incx, beta, y, incy);
  else if constexpr (std::is_same_v<T, double>)
    b.dgemv(CblasColMajor, cblasOp(t), m, n, alpha, A, lda, x, incx, beta, y, incy);
  else if constexpr (std::is_same_v<T, cfloat>)
    b.cgemv(CblasColMajor, cblasOp(t), m, n, &alpha, A, lda, x, incx, &beta, y, incy);
  else
    b.zgemv(CblasColMajor, cblasOp(t), m, n, &alpha, A, lda, x, incx, &beta, y, incy);
}

template <class T>
void syrk(cublasFillMode_t uplo, cublasOperation_t t, int n, int k, T alpha, const T *A, int lda, T beta,
          T *C, int ldc) {
  if (n == 0)
    return;
  if (beta == T(0))
    zeroTriangle(uplo, C, n, ldc);
  // CBLAS's complex syrk takes Trans only; cuBLAS's real syrk takes C as T.
  const CBLAS_TRANSPOSE op = t == CUBLAS_OP_N ? CblasNoTrans : CblasTrans;
  const auto &b = g_blas;
  if constexpr (std::is_same_v<T, float>)
    b.ssyrk(CblasColMajor, cblasUplo(uplo), op, n, k, alpha, A, lda, beta, C, ldc);
  else if constexpr (std::is_same_v<T, double>)
    b.dsyrk(CblasColMajor, cblasUplo(uplo), op, n, k, alpha, A, lda, beta, C, ldc);
  else if constexpr (std::is_same_v<T, cfloat>)
    b.csyrk(CblasColMajor, cblasUplo(uplo), op, n, k, &alpha, A, lda, &beta, C, ldc);
  else
    b.zsyrk(CblasColMajor, cblasUplo(uplo), op, n, k, &alpha, A, lda, &beta, C, ldc);
}

template <class T, class R>
void herk(cublasFillMode_t uplo, cublasOperation_t t, int n, int k, R alpha, const T *A, int lda, R beta,
          T *C, int ldc) {
  if (n == 0)
    return;
  if (beta == R(0))
    zeroTriangle(uplo, C, n, ldc);
  const CBLAS_TRANSPOSE op = t == CUBLAS_OP_N ? CblasNoTrans : CblasConjTrans;
  if constexpr (std::is_same_v<T, cfloat>)
    g_blas.cherk(CblasColMajor, cblasUplo(uplo), op, n, k, alpha, A, lda, beta, C, ldc);
  else
    g_blas.zherk(CblasColMajor, cblasUplo(uplo), op, n, k, alpha, A, lda, beta, C, ldc);
}

template <class T>
void trsm(cublasSideMode_t side, cublasFillMode_t uplo, cublasOperation_t t, cublasDiagType_t diag, int m,
          int n, T alpha, const T *A, int lda, T *B, int ldb) {
  if (m == 0 || n == 0)
    return;
  if (alpha == T(0)) { // B = 0, A not referenced
    zero(B, m, n, ldb);
    return;
  }
  const CBLAS_SIDE s = side == CUBLAS_SIDE_LEFT ? CblasLeft : CblasRight;
  const CBLAS_DIAG d = diag == CUBLAS_DIAG_UNIT ? CblasUnit : CblasNonUnit;
  const auto &b = g_blas;
  if constexpr (std::is_same_v<T, float>)
    b.strsm(CblasColMajor, s, cblasUplo(uplo), cblasOp(t), d, m, n, alpha, A, lda, B, ldb);
  else if constexpr (std::is_same_v<T, double>)
    b.dtrsm(CblasColMajor, s, cblasUplo(uplo), cblasOp(t), d, m, n, alpha, A, lda, B, ldb);
  else if constexpr (std::is_same_v<T, cfloat>)
    b.ctrsm(CblasColMajor, s, cblasUplo(uplo), cblasOp(t), d, m, n, &alpha, A, lda, B, ldb);
  else
    b.ztrsm(CblasColMajor, s, cblasUplo(uplo), cblasOp(t), d, m, n, &alpha, A, lda, B, ldb);
}

#define CUVIRT_INSTANTIATE(T)                                                                                \
  template void gemm<T>(cublasOperation_t, cublasOperation_t, int, int, int, T, const T *, int, const T *,   \
                        int, T, T *, int);                                                                   \
  template void gemv<T>(cublasOperation_t, int, int, T, const T *, int, const T *, int, T, T *, int);        \
  template void syrk<T>(cublasFillMode_t, cublasOperation_t, int, int, T, const T *, int, T, T *, int);      \
  template void trsm<T>(cublasSideMode_t, cublasFillMode_t, cublasOperation_t, cublasDiagType_t, int, int,   \
                        T, const T *, int, T *, int);
CUVIRT_INSTANTIATE(float)
CUVIRT_INSTANTIATE(double)
CUVIRT_INSTANTIATE(cfloat)
CUVIRT_INSTANTIATE(cdouble)
#undef CUVIRT_INSTANTIATE
template void herk<cfloat, float>(cublasFillMode_t, cublasOperation_t, int, int, float, const cfloat *, int,
                                  float, cfloat *, int);
template void herk<cdouble, double>(cublasFillMode_t, cublasOperation_t, int, int, double, const cdouble *,
                                    int, double, cdouble *, int);

} // namespace cuvirt::cublas
