// The GEMM family: S/D/C/Z gemm, gemm3m, Hgemm, SgemmEx/CgemmEx, GemmEx and
// their batched (pointer arrays) and strided batched forms. One description
// (types, shapes, operand addressing) and one run function for all of them;
// operands that are not float/double/complex are converted to the compute
// precision around an OpenBLAS call.
#include "shims/cublas/gemm.h"
#include "shims/cublas/blas.h"
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector>

namespace cuvirt::cublas {

std::size_t typeSize(cudaDataType t) {
  switch (t) {
  case CUDA_R_8I:
    return 1;
  case CUDA_R_16F:
  case CUDA_R_16BF:
  case CUDA_C_8I:
    return 2;
  case CUDA_R_32F:
  case CUDA_R_32I:
    return 4;
  case CUDA_R_64F:
  case CUDA_C_32F:
    return 8;
  case CUDA_C_64F:
    return 16;
  default:
    return 0;
  }
}

/// cuBLAS's GemmEx table: the compute type decides the scale type and our
/// working precision; the operand types must be one of its combinations.
bool resolveTypes(cublasComputeType_t compute, cudaDataType at, cudaDataType bt, cudaDataType ct,
                  cudaDataType &scale, Work &work) {
  if (at != bt)
    return false;
  switch (compute) {
  case CUBLAS_COMPUTE_16F:
  case CUBLAS_COMPUTE_16F_PEDANTIC:
    scale = CUDA_R_16F;
    work = Work::F32;
    return at == CUDA_R_16F && ct == CUDA_R_16F;
  case CUBLAS_COMPUTE_32F:
  case CUBLAS_COMPUTE_32F_PEDANTIC:
  case CUBLAS_COMPUTE_32F_FAST_16F:
  case CUBLAS_COMPUTE_32F_FAST_16BF:
  case CUBLAS_COMPUTE_32F_FAST_TF32:
  case CUBLAS_COMPUTE_32F_EMULATED_16BFX9:
    if (ct == CUDA_C_32F) {
      scale = CUDA_C_32F;
      work = Work::C32;
      return at == CUDA_C_32F || at == CUDA_C_8I;
    }
    scale = CUDA_R_32F;
    work = Work::F32;
    return (at == CUDA_R_32F && ct == CUDA_R_32F) ||
           (at == CUDA_R_16F && (ct == CUDA_R_16F || ct == CUDA_R_32F)) ||
           (at == CUDA_R_16BF && (ct == CUDA_R_16BF || ct == CUDA_R_32F)) ||
           (at == CUDA_R_8I && ct == CUDA_R_32F);
  case CUBLAS_COMPUTE_64F:
  case CUBLAS_COMPUTE_64F_PEDANTIC:
  case CUBLAS_COMPUTE_64F_EMULATED_FIXEDPOINT:
    scale = ct == CUDA_C_64F ? CUDA_C_64F : CUDA_R_64F;
    work = ct == CUDA_C_64F ? Work::C64 : Work::F64;
    return at == ct && (at == CUDA_R_64F || at == CUDA_C_64F);
  case CUBLAS_COMPUTE_32I:
  case CUBLAS_COMPUTE_32I_PEDANTIC:
    // int8 products summed in double are exact far past any int32 result.
    scale = CUDA_R_32I;
    work = Work::F64;
    return at == CUDA_R_8I && ct == CUDA_R_32I;
  default:
    return false;
  }
}

cdouble load(cudaDataType t, const void *base, std::size_t i) {
  const auto *p = static_cast<const unsigned char *>(base);
  switch (t) {
  case CUDA_R_8I:
    return double(reinterpret_cast<const std::int8_t *>(p)[i]);
  case CUDA_C_8I:
    return {double(reinterpret_cast<const std::int8_t *>(p)[2 * i]),
            double(reinterpret_cast<const std::int8_t *>(p)[2 * i + 1])};
  case CUDA_R_16F:
    return double(__half2float(reinterpret_cast<const __half *>(p)[i]));
  case CUDA_R_16BF:
    return double(__bfloat162float(reinterpret_cast<const __nv_bfloat16 *>(p)[i]));
  case CUDA_R_32F:
    return double(reinterpret_cast<const float *>(p)[i]);
  case CUDA_R_32I:
    return double(reinterpret_cast<const std::int32_t *>(p)[i]);
  case CUDA_R_64F:
    return reinterpret_cast<const double *>(p)[i];
  case CUDA_C_32F:
    return cdouble(reinterpret_cast<const cfloat *>(p)[i]);
  case CUDA_C_64F:
    return reinterpret_cast<const cdouble *>(p)[i];
  default:
    return 0;
  }
}

void store(cudaDataType t, void *base, std::size_t i, cdouble v) {
  auto *p = static_cast<unsigned char *>(base);
  switch (t) {
  case CUDA_R_16F:
    reinterpret_cast<__half *>(p)[i] = __float2half(float(v.real()));
    return;
  case CUDA_R_16BF:
    reinterpret_cast<__nv_bfloat16 *>(p)[i] = __float2bfloat16(float(v.real()));
    return;
  case CUDA_R_32F:
    reinterpret_cast<float *>(p)[i] = float(v.real());
    return;
  case CUDA_R_32I:
    reinterpret_cast<std::int32_t *>(p)[i] = static_cast<std::int32_t>(std::llround(v.real()));
    return;
  case CUDA_R_64F:
    reinterpret_cast<double *>(p)[i] = v.real();
    return;
  case CUDA_C_32F:
    reinterpret_cast<cfloat *>(p)[i] = cfloat(v);
    return;
  case CUDA_C_64F:
    reinterpret_cast<cdouble *>(p)[i] = v;
    return;
  default:
    return;
  }
}

template <class W> W fromComplex(cdouble v) {
  if constexpr (std::is_same_v<W, float> || std::is_same_v<W, double>)
    return W(v.real());
  else
    return W(v);
}
template <class W> cudaDataType nativeType() {
  if constexpr (std::is_same_v<W, float>)
    return CUDA_R_32F;
  else if constexpr (std::is_same_v<W, double>)
    return CUDA_R_64F;
  else if constexpr (std::is_same_v<W, cfloat>)
    return CUDA_C_32F;
  else
    return CUDA_C_64F;
}

/// A column-major rows x cols matrix of type t, packed as W (ld = rows).
template <class W> std::vector<W> pack(cudaDataType t, const void *p, int rows, int cols, int ld) {
  std::vector<W> out(static_cast<std::size_t>(rows) * cols);
  for (int j = 0; j < cols; ++j)
    for (int i = 0; i < rows; ++i)
      out[static_cast<std::size_t>(j) * rows + i] =
          fromComplex<W>(load(t, p, static_cast<std::size_t>(j) * ld + i));
  return out;
}

template <class W> void Gemm::runOne(const void *a, const void *b, void *c, W al, W be) const {
  if (at == nativeType<W>() && bt == at && ct == at) {
    gemm<W>(ta, tb, m, n, k, al, static_cast<const W *>(a), lda, static_cast<const W *>(b), ldb, be,
            static_cast<W *>(c), ldc);
    return;
  }
  const bool useAB = k > 0 && al != W(0);
  std::vector<W> pa = useAB ? pack<W>(at, a, rowsA(), colsA(), lda) : std::vector<W>(1);
  std::vector<W> pb = useAB ? pack<W>(bt, b, rowsB(), colsB(), ldb) : std::vector<W>(1);
  std::vector<W> pc =
      be != W(0) ? pack<W>(ct, c, m, n, ldc) : std::vector<W>(static_cast<std::size_t>(m) * n);
  gemm<W>(ta, tb, m, n, useAB ? k : 0, al, pa.data(), useAB ? std::max(1, rowsA()) : 1, pb.data(),
          useAB ? std::max(1, rowsB()) : 1, be, pc.data(), m);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i)
      store(ct, c, static_cast<std::size_t>(j) * ldc + i, cdouble(pc[static_cast<std::size_t>(j) * m + i]));
}

template <class W> void Gemm::runAll() {
  const W al = fromComplex<W>(load(scale, alpha.get(), 0));
  const W be = fromComplex<W>(load(scale, beta.get(), 0));
  const std::size_t ea = typeSize(at), eb = typeSize(bt), ec = typeSize(ct);
  for (int i = 0; i < batch; ++i) {
    if (Aarray != nullptr) {
      // The pointers were read just now: an unmapped one is skipped with a
      // message rather than faulting the stream's worker.
      const bool useAB = k > 0 && al != W(0);
      if (!mapped(Carray[i], matrixBytes(m, n, ldc, ec)) ||
          (useAB && (!mapped(Aarray[i], matrixBytes(rowsA(), colsA(), lda, ea)) ||
                     !mapped(Barray[i], matrixBytes(rowsB(), colsB(), ldb, eb))))) {
        std::fprintf(stderr, "cuvirt: %s: batch entry %d points at unmapped memory; skipped\n", name, i);
        continue;
      }
      runOne<W>(Aarray[i], Barray[i], Carray[i], al, be);
      continue;
    }
    void *c = static_cast<char *>(C) + i * strideC * static_cast<long long>(ec);
    if (Csrc != nullptr && be != W(0))
      prepareC(static_cast<const char *>(Csrc) + i * strideCsrc * static_cast<long long>(ec), c);
    runOne<W>(static_cast<const char *>(A) + i * strideA * static_cast<long long>(ea),
              static_cast<const char *>(B) + i * strideB * static_cast<long long>(eb), c, al, be);
    applyEpilogue(c, i);
  }
}

/// cublasLt's C, copied into D (the output) before D += ...; the copy keeps
/// C intact when the two differ.
void Gemm::prepareC(const void *src, void *dst) const {
  if (src == dst)
    return;
  const std::size_t e = typeSize(ct);
  for (int j = 0; j < n; ++j)
    std::memmove(static_cast<char *>(dst) + static_cast<std::size_t>(j) * ldc * e,
                 static_cast<const char *>(src) + static_cast<std::size_t>(j) * ldcSrc * e,
                 static_cast<std::size_t>(m) * e);
}

/// cublasLt's epilogues on real outputs: + bias[row], then ReLU or GELU
/// (tanh approximation, as cuBLASLt's).
void Gemm::applyEpilogue(void *c, int batchIndex) const {
  const bool hasBias = (epilogue & CUBLASLT_EPILOGUE_BIAS) != 0;
  const bool relu = (epilogue & CUBLASLT_EPILOGUE_RELU) != 0, gelu = (epilogue & CUBLASLT_EPILOGUE_GELU) != 0;
  if (!hasBias && !relu && !gelu)
    return;
  const void *b = hasBias ? static_cast<const char *>(bias) +
                                batchIndex * biasStride * static_cast<long long>(typeSize(biasType))
                          : nullptr;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      const std::size_t idx = static_cast<std::size_t>(j) * ldc + i;
      double v = load(ct, c, idx).real();
      if (hasBias)
        v += load(biasType, b, static_cast<std::size_t>(i)).real();
      if (relu)
        v = v > 0 ? v : 0;
      if (gelu)
        v = 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
      store(ct, c, idx, v);
    }
}

void Gemm::run() {
  switch (work) {
  case Work::F32:
    return runAll<float>();
  case Work::F64:
    return runAll<double>();
  case Work::C32:
    return runAll<cfloat>();
  case Work::C64:
    return runAll<cdouble>();
  }
}

cublasStatus_t Gemm::submit(const Route &r, const void *alphaPtr, const void *betaPtr) {
  if (!validOp(ta) || !validOp(tb) || m < 0 || n < 0 || k < 0 || batch < 0 || lda < std::max(1, rowsA()) ||
      ldb < std::max(1, rowsB()) || ldc < std::max(1, m) || alphaPtr == nullptr || betaPtr == nullptr)
    return CUBLAS_STATUS_INVALID_VALUE;
  alpha = Scalar(alphaPtr, typeSize(scale), r.deviceScalars);
  beta = Scalar(betaPtr, typeSize(scale), r.deviceScalars);
  if (m == 0 || n == 0 || batch == 0)
    return CUBLAS_STATUS_SUCCESS;
  if (!checkOperands())
    return CUBLAS_STATUS_INVALID_VALUE;
  return enqueue(r.stream, [g = *this]() mutable { g.run(); });
}

bool Gemm::checkOperands() const {
  const bool useAB = k > 0 && !alpha.knownZero();
  const auto bad = [&](const char *what, const void *p) {
    std::fprintf(stderr, "cuvirt: %s: %s (%p) is not memory the CPU device can reach\n", name, what, p);
    return false;
  };
  if (Aarray != nullptr) {
    const std::size_t bytes = static_cast<std::size_t>(batch) * sizeof(void *);
    if (!addressable(Carray, bytes))
      return bad("the C pointer array", Carray);
    if (useAB && !addressable(Aarray, bytes))
      return bad("the A pointer array", Aarray);
    if (useAB && !addressable(Barray, bytes))
      return bad("the B pointer array", Barray);
    return true;
  }
  const auto span = [&](long long stride, std::size_t elem, std::size_t one) {
    return [=, this](const void *p) {
      const auto last = static_cast<const char *>(p) + (batch - 1) * stride * static_cast<long long>(elem);
      return addressable(p, one) && addressable(last, one);
    };
  };
  if (!span(strideC, typeSize(ct), matrixBytes(m, n, ldc, typeSize(ct)))(C))
    return bad(Csrc != nullptr ? "D" : "C", C);
  if (Csrc != nullptr && !beta.knownZero() &&
      !span(strideCsrc, typeSize(ct), matrixBytes(m, n, ldcSrc, typeSize(ct)))(Csrc))
    return bad("C", Csrc);
  if ((epilogue & CUBLASLT_EPILOGUE_BIAS) != 0 &&
      !span(biasStride, typeSize(biasType), static_cast<std::size_t>(m) * typeSize(biasType))(bias))
    return bad("the bias", bias);
  if (useAB && !span(strideA, typeSize(at), matrixBytes(rowsA(), colsA(), lda, typeSize(at)))(A))
    return bad("A", A);
  if (useAB && !span(strideB, typeSize(bt), matrixBytes(rowsB(), colsB(), ldb, typeSize(bt)))(B))
    return bad("B", B);
  return true;
}

static Gemm plain(const char *name, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                  cudaDataType t, const void *A, int lda, const void *B, int ldb, void *C, int ldc) {
  Gemm g{name, ta, tb, m, n, k, t, t, t, t, Work::F32, lda, ldb, ldc, A, B, C};
  g.work = t == CUDA_R_32F   ? Work::F32
           : t == CUDA_R_64F ? Work::F64
           : t == CUDA_C_32F ? Work::C32
                             : Work::C64;
  if (t == CUDA_R_16F)
    g.work = Work::F32; // Hgemm: half scalars, float arithmetic
  return g;
}

static cublasStatus_t submitEx(Gemm g, const Route &r, cublasComputeType_t compute, const void *alpha,
                               const void *beta) {
  if (!resolveTypes(compute, g.at, g.bt, g.ct, g.scale, g.work))
    return CUBLAS_STATUS_NOT_SUPPORTED;
  return g.submit(r, alpha, beta);
}

} // namespace cuvirt::cublas

using namespace cuvirt::cublas;
using cuvirt::cublas::route;

#define CUVIRT_ROUTE(fn, ...)                                                                                \
  const Route r = route(handle);                                                                             \
  if (r.forward)                                                                                             \
    CUVIRT_FORWARD(fn, __VA_ARGS__);

// ---- S/D/C/Z gemm, gemm3m, Hgemm -----------------------------------------------

#define CUVIRT_GEMM(fn, T, cudaType)                                                                         \
  extern "C" CUVIRT_EXPORT cublasStatus_t fn(                                                                \
      cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,        \
      const T *alpha, const T *A, int lda, const T *B, int ldb, const T *beta, T *C, int ldc) {              \
    CUVIRT_ROUTE(fn, handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc)                   \
    return plain(#fn, transa, transb, m, n, k, cudaType, A, lda, B, ldb, C, ldc).submit(r, alpha, beta);     \
  }
CUVIRT_GEMM(cublasSgemm_v2, float, CUDA_R_32F)
CUVIRT_GEMM(cublasDgemm_v2, double, CUDA_R_64F)
CUVIRT_GEMM(cublasCgemm_v2, cuComplex, CUDA_C_32F)
CUVIRT_GEMM(cublasZgemm_v2, cuDoubleComplex, CUDA_C_64F)
CUVIRT_GEMM(cublasCgemm3m, cuComplex, CUDA_C_32F)
CUVIRT_GEMM(cublasZgemm3m, cuDoubleComplex, CUDA_C_64F)
CUVIRT_GEMM(cublasHgemm, __half, CUDA_R_16F)
#undef CUVIRT_GEMM

// ---- batched (pointer arrays) ----------------------------------------------------

#define CUVIRT_GEMM_BATCHED(fn, T, cudaType)                                                                 \
  extern "C" CUVIRT_EXPORT cublasStatus_t fn(                                                                \
      cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,        \
      const T *alpha, const T *const Aarray[], int lda, const T *const Barray[], int ldb, const T *beta,     \
      T *const Carray[], int ldc, int batchCount) {                                                          \
    CUVIRT_ROUTE(fn, handle, transa, transb, m, n, k, alpha, Aarray, lda, Barray, ldb, beta, Carray, ldc,    \
                 batchCount)                                                                                 \
    Gemm g = plain(#fn, transa, transb, m, n, k, cudaType, nullptr, lda, nullptr, ldb, nullptr, ldc);        \
    g.Aarray = reinterpret_cast<const void *const *>(Aarray);                                                \
    g.Barray = reinterpret_cast<const void *const *>(Barray);                                                \
    g.Carray = reinterpret_cast<void *const *>(Carray);                                                      \
    g.batch = batchCount;                                                                                    \
    return g.submit(r, alpha, beta);                                                                         \
  }
CUVIRT_GEMM_BATCHED(cublasSgemmBatched, float, CUDA_R_32F)
CUVIRT_GEMM_BATCHED(cublasDgemmBatched, double, CUDA_R_64F)
CUVIRT_GEMM_BATCHED(cublasCgemmBatched, cuComplex, CUDA_C_32F)
CUVIRT_GEMM_BATCHED(cublasZgemmBatched, cuDoubleComplex, CUDA_C_64F)
CUVIRT_GEMM_BATCHED(cublasHgemmBatched, __half, CUDA_R_16F)
#undef CUVIRT_GEMM_BATCHED

// ---- strided batched ------------------------------------------------------------

#define CUVIRT_GEMM_STRIDED(fn, T, cudaType)                                                                 \
  extern "C" CUVIRT_EXPORT cublasStatus_t fn(                                                                \
      cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,        \
      const T *alpha, const T *A, int lda, long long strideA, const T *B, int ldb, long long strideB,        \
      const T *beta, T *C, int ldc, long long strideC, int batchCount) {                                     \
    CUVIRT_ROUTE(fn, handle, transa, transb, m, n, k, alpha, A, lda, strideA, B, ldb, strideB, beta, C, ldc, \
                 strideC, batchCount)                                                                        \
    Gemm g = plain(#fn, transa, transb, m, n, k, cudaType, A, lda, B, ldb, C, ldc);                          \
    g.strideA = strideA;                                                                                     \
    g.strideB = strideB;                                                                                     \
    g.strideC = strideC;                                                                                     \
    g.batch = batchCount;                                                                                    \
    return g.submit(r, alpha, beta);                                                                         \
  }
CUVIRT_GEMM_STRIDED(cublasSgemmStridedBatched, float, CUDA_R_32F)
CUVIRT_GEMM_STRIDED(cublasDgemmStridedBatched, double, CUDA_R_64F)
CUVIRT_GEMM_STRIDED(cublasCgemmStridedBatched, cuComplex, CUDA_C_32F)
CUVIRT_GEMM_STRIDED(cublasZgemmStridedBatched, cuDoubleComplex, CUDA_C_64F)
CUVIRT_GEMM_STRIDED(cublasHgemmStridedBatched, __half, CUDA_R_16F)
#undef CUVIRT_GEMM_STRIDED

// ---- mixed precision ------------------------------------------------------------

extern "C" CUVIRT_EXPORT cublasStatus_t cublasSgemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                                      cublasOperation_t transb, int m, int n, int k,
                                                      const float *alpha, const void *A, cudaDataType Atype,
                                                      int lda, const void *B, cudaDataType Btype, int ldb,
                                                      const float *beta, void *C, cudaDataType Ctype,
                                                      int ldc) {
  CUVIRT_ROUTE(cublasSgemmEx, handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C,
               Ctype, ldc)
  Gemm g{"cublasSgemmEx", transa,    transb, m,   n,   k, Atype, Btype, Ctype,
         CUDA_R_32F,      Work::F32, lda,    ldb, ldc, A, B,     C};
  if (Ctype == CUDA_C_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  return submitEx(g, r, CUBLAS_COMPUTE_32F, alpha, beta);
}

extern "C" CUVIRT_EXPORT cublasStatus_t cublasCgemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                                      cublasOperation_t transb, int m, int n, int k,
                                                      const cuComplex *alpha, const void *A,
                                                      cudaDataType Atype, int lda, const void *B,
                                                      cudaDataType Btype, int ldb, const cuComplex *beta,
                                                      void *C, cudaDataType Ctype, int ldc) {
  CUVIRT_ROUTE(cublasCgemmEx, handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C,
               Ctype, ldc)
  Gemm g{"cublasCgemmEx", transa,    transb, m,   n,   k, Atype, Btype, Ctype,
         CUDA_C_32F,      Work::C32, lda,    ldb, ldc, A, B,     C};
  if (Ctype != CUDA_C_32F)
    return CUBLAS_STATUS_NOT_SUPPORTED;
  return submitEx(g, r, CUBLAS_COMPUTE_32F, alpha, beta);
}

extern "C" CUVIRT_EXPORT cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa,
                                                     cublasOperation_t transb, int m, int n, int k,
                                                     const void *alpha, const void *A, cudaDataType Atype,
                                                     int lda, const void *B, cudaDataType Btype, int ldb,
                                                     const void *beta, void *C, cudaDataType Ctype, int ldc,
                                                     cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  CUVIRT_ROUTE(cublasGemmEx, handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C,
               Ctype, ldc, computeType, algo)
  Gemm g{"cublasGemmEx", transa,    transb, m,   n,   k, Atype, Btype, Ctype,
         CUDA_R_32F,     Work::F32, lda,    ldb, ldc, A, B,     C};
  return submitEx(g, r, computeType, alpha, beta);
}

extern "C" CUVIRT_EXPORT cublasStatus_t cublasGemmBatchedEx(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const void *alpha, const void *const Aarray[], cudaDataType Atype, int lda, const void *const Barray[],
    cudaDataType Btype, int ldb, const void *beta, void *const Carray[], cudaDataType Ctype, int ldc,
    int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  CUVIRT_ROUTE(cublasGemmBatchedEx, handle, transa, transb, m, n, k, alpha, Aarray, Atype, lda, Barray, Btype,
               ldb, beta, Carray, Ctype, ldc, batchCount, computeType, algo)
  Gemm g{"cublasGemmBatchedEx",
         transa,
         transb,
         m,
         n,
         k,
         Atype,
         Btype,
         Ctype,
         CUDA_R_32F,
         Work::F32,
         lda,
         ldb,
         ldc,
         nullptr,
         nullptr,
         nullptr};
  g.Aarray = Aarray;
  g.Barray = Barray;
  g.Carray = Carray;
  g.batch = batchCount;
  return submitEx(g, r, computeType, alpha, beta);
}

extern "C" CUVIRT_EXPORT cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
    const void *alpha, const void *A, cudaDataType Atype, int lda, long long strideA, const void *B,
    cudaDataType Btype, int ldb, long long strideB, const void *beta, void *C, cudaDataType Ctype, int ldc,
    long long strideC, int batchCount, cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  CUVIRT_ROUTE(cublasGemmStridedBatchedEx, handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B,
               Btype, ldb, strideB, beta, C, Ctype, ldc, strideC, batchCount, computeType, algo)
  Gemm g{"cublasGemmStridedBatchedEx",
         transa,
         transb,
         m,
         n,
         k,
         Atype,
         Btype,
         Ctype,
         CUDA_R_32F,
         Work::F32,
         lda,
         ldb,
         ldc,
         A,
         B,
         C};
  g.strideA = strideA;
  g.strideB = strideB;
  g.strideC = strideC;
  g.batch = batchCount;
  return submitEx(g, r, computeType, alpha, beta);
}
