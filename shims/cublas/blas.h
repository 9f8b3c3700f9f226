// Typed host BLAS over OpenBLAS's CBLAS (loaded with dlopen, see
// haveOpenBlas), with cuBLAS's operation codes. Column-major throughout.
#pragma once
#include <cblas.h>
#include <complex>
#include <cublas_v2.h>

namespace cuvirt::cublas {

struct OpenBlas {
  decltype(&cblas_sgemm) sgemm;
  decltype(&cblas_dgemm) dgemm;
  decltype(&cblas_cgemm) cgemm;
  decltype(&cblas_zgemm) zgemm;
  decltype(&cblas_sgemv) sgemv;
  decltype(&cblas_dgemv) dgemv;
  decltype(&cblas_cgemv) cgemv;
  decltype(&cblas_zgemv) zgemv;
  decltype(&cblas_ssyrk) ssyrk;
  decltype(&cblas_dsyrk) dsyrk;
  decltype(&cblas_csyrk) csyrk;
  decltype(&cblas_zsyrk) zsyrk;
  decltype(&cblas_cherk) cherk;
  decltype(&cblas_zherk) zherk;
  decltype(&cblas_strsm) strsm;
  decltype(&cblas_dtrsm) dtrsm;
  decltype(&cblas_ctrsm) ctrsm;
  decltype(&cblas_ztrsm) ztrsm;
};
/// Valid once haveOpenBlas() returned true.
const OpenBlas &openBlas();

using cfloat = std::complex<float>;
using cdouble = std::complex<double>;

inline CBLAS_TRANSPOSE cblasOp(cublasOperation_t op) {
  return op == CUBLAS_OP_N ? CblasNoTrans : op == CUBLAS_OP_T ? CblasTrans : CblasConjTrans;
}
inline bool validOp(cublasOperation_t op) {
  return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C;
}

/// C = alpha op(A) op(B) + beta C. beta == 0 overwrites C without reading it
/// (BLAS: NaN in C must not survive).
template <class T>
void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha, const T *A, int lda,
          const T *B, int ldb, T beta, T *C, int ldc);
/// y = alpha op(A) x + beta y.
template <class T>
void gemv(cublasOperation_t t, int m, int n, T alpha, const T *A, int lda, const T *x, int incx, T beta, T *y,
          int incy);
/// C = alpha op(A) op(A)^T + beta C on the `uplo` triangle.
template <class T>
void syrk(cublasFillMode_t uplo, cublasOperation_t t, int n, int k, T alpha, const T *A, int lda, T beta,
          T *C, int ldc);
/// C = alpha op(A) op(A)^H + beta C, real alpha and beta.
template <class T, class R>
void herk(cublasFillMode_t uplo, cublasOperation_t t, int n, int k, R alpha, const T *A, int lda, R beta,
          T *C, int ldc);
/// op(A) X = alpha B (left) or X op(A) = alpha B (right); X overwrites B.
template <class T>
void trsm(cublasSideMode_t side, cublasFillMode_t uplo, cublasOperation_t t, cublasDiagType_t diag, int m,
          int n, T alpha, const T *A, int lda, T *B, int ldb);

} // namespace cuvirt::cublas
