// The GEMM core shared by cuBLAS's GEMM entry points (gemm.cpp) and
// cublasLtMatmul (lt.cpp): one description of types, shapes and operand
// addressing, run on the stream's worker with OpenBLAS.
#pragma once
#include "shims/cublas/blas.h"
#include "shims/cublas/cublas_shim.h"

namespace cuvirt::cublas {

/// The precision the product is computed in.
enum class Work { F32, F64, C32, C64 };

/// Bytes per element of the types cuBLAS's GEMMs take; 0 for others.
std::size_t typeSize(cudaDataType t);
/// cuBLAS's GemmEx table: whether (compute, A, B, C types) is a combination
/// it has, with the scale type and our working precision.
bool resolveTypes(cublasComputeType_t compute, cudaDataType at, cudaDataType bt, cudaDataType ct,
                  cudaDataType &scale, Work &work);
/// Element i of an array of type t, widened; and stored back, rounded.
cdouble load(cudaDataType t, const void *base, std::size_t i);
void store(cudaDataType t, void *base, std::size_t i, cdouble v);

struct Gemm {
  const char *name;
  cublasOperation_t ta, tb;
  int m, n, k;
  cudaDataType at, bt, ct, scale;
  Work work;
  int lda, ldb, ldc;
  // Operands: strided (A + i * strideA elements) or pointer arrays in device
  // memory (read when the work runs: earlier work on the stream may write them).
  const void *A, *B;
  void *C;
  long long strideA = 0, strideB = 0, strideC = 0;
  const void *const *Aarray = nullptr, *const *Barray = nullptr;
  void *const *Carray = nullptr;
  int batch = 1;
  Scalar alpha, beta;

  [[nodiscard]] int rowsA() const { return ta == CUBLAS_OP_N ? m : k; }
  [[nodiscard]] int colsA() const { return ta == CUBLAS_OP_N ? k : m; }
  [[nodiscard]] int rowsB() const { return tb == CUBLAS_OP_N ? k : n; }
  [[nodiscard]] int colsB() const { return tb == CUBLAS_OP_N ? n : k; }

  // cublasLt: D differs from C (C is copied into D, then D is the output),
  // and an epilogue (bias, ReLU, GELU) is applied to D.
  const void *Csrc = nullptr;
  int ldcSrc = 0;
  long long strideCsrc = 0;
  unsigned epilogue = 0; // cublasLtEpilogue_t bits; 0 or 1 = none
  const void *bias = nullptr;
  cudaDataType biasType = CUDA_R_32F;
  long long biasStride = 0;

  /// Checks of the arguments (cuBLAS's statuses), then the work on the stream.
  cublasStatus_t submit(const Route &r, const void *alphaPtr, const void *betaPtr);
  /// The work itself (on the stream's worker).
  void run();

private:
  [[nodiscard]] bool checkOperands() const;
  template <class W> void runOne(const void *a, const void *b, void *c, W al, W be) const;
  template <class W> void runAll();
  void prepareC(const void *src, void *dst) const;
  void applyEpilogue(void *c, int batchIndex) const;
};

} // namespace cuvirt::cublas
