// cublasLtMatmul (PyTorch's GEMM path): SASS-only kernels in libcublasLt,
// run on the CPU device by libcuvirt_cublas.so (shims/cublas/lt.cpp, LD_PRELOADed
// by the test). Checks: the heuristic's algorithm, transposed A, C and D
// distinct with different leading dimensions, a strided batch, the
// bias + ReLU and bias + GELU epilogues, half in / float out, and
// NOT_SUPPORTED for a row-major layout. Small integers: exact sums.
#include "check.h"
#include <cmath>
#include <cublasLt.h>
#include <cuda_fp16.h>
#include <vector>

#define LT_CHECK(call)                                                                                       \
  do {                                                                                                       \
    cublasStatus_t s_ = (call);                                                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                         \
      FAIL("%s: cuBLAS status %d", #call, int(s_));                                                          \
  } while (0)

template <class T> T *toDevice(const std::vector<T> &h) {
  T *d = nullptr;
  CHECK(cudaMalloc(&d, h.size() * sizeof(T)));
  CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}
template <class T> std::vector<T> toHost(const T *d, size_t n) {
  std::vector<T> h(n);
  CHECK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

static cublasLtMatrixLayout_t layout(cudaDataType t, int rows, int cols, int ld, int batch = 1,
                                     long long stride = 0) {
  cublasLtMatrixLayout_t l;
  LT_CHECK(cublasLtMatrixLayoutCreate(&l, t, rows, cols, ld));
  if (batch > 1) {
    LT_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &batch, sizeof batch));
    LT_CHECK(cublasLtMatrixLayoutSetAttribute(l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                                              sizeof stride));
  }
  return l;
}

int main() {
  cublasLtHandle_t lt;
  LT_CHECK(cublasLtCreate(&lt));
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  // D (m x n, ldd) = 2 * A^T B + 1 * C (ldc), A stored k x m, two batches.
  const int m = 24, n = 10, k = 16, batch = 2, lda = k + 2, ldb = k + 1, ldc = m + 3, ldd = m + 5;
  std::vector<float> A(size_t(lda) * m * batch), B(size_t(ldb) * n * batch), C(size_t(ldc) * n * batch),
      D(size_t(ldd) * n * batch, -99.0f), bias(m);
  for (size_t i = 0; i < A.size(); ++i)
    A[i] = float(int(i) % 7 - 3);
  for (size_t i = 0; i < B.size(); ++i)
    B[i] = float(int(i) % 5 - 2);
  for (size_t i = 0; i < C.size(); ++i)
    C[i] = float(int(i) % 3);
  for (int i = 0; i < m; ++i)
    bias[i] = float(i % 4) - 1.5f;
  float *dA = toDevice(A), *dB = toDevice(B), *dC = toDevice(C), *dD = toDevice(D), *dBias = toDevice(bias);
  auto ref = [&](int b, int i, int j) {
    float acc = 0;
    for (int p = 0; p < k; ++p)
      acc += A[size_t(b) * lda * m + size_t(i) * lda + p] * B[size_t(b) * ldb * n + size_t(j) * ldb + p];
    return 2.0f * acc + C[size_t(b) * ldc * n + size_t(j) * ldc + i];
  };

  cublasLtMatmulDesc_t op;
  LT_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans = CUBLAS_OP_T;
  LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof trans));
  cublasLtMatrixLayout_t la = layout(CUDA_R_32F, k, m, lda, batch, (long long)lda * m),
                         lb = layout(CUDA_R_32F, k, n, ldb, batch, (long long)ldb * n),
                         lc = layout(CUDA_R_32F, m, n, ldc, batch, (long long)ldc * n),
                         ld = layout(CUDA_R_32F, m, n, ldd, batch, (long long)ldd * n);
  // PyTorch asks the heuristic first, then passes the algorithm it got.
  cublasLtMatmulPreference_t pref;
  LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  cublasLtMatmulHeuristicResult_t heur[1];
  int found = 0;
  cublasStatus_t hs = cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, ld, pref, 1, heur, &found);
  const cublasLtMatmulAlgo_t *algo = hs == CUBLAS_STATUS_SUCCESS && found > 0 ? &heur[0].algo : nullptr;
  printf("heuristic: status %d, %d algorithm(s)\n", int(hs), found);
  const float two = 2.0f, one = 1.0f;
  LT_CHECK(cublasLtMatmul(lt, op, &two, dA, la, dB, lb, &one, dC, lc, dD, ld, algo, nullptr, 0, s));
  CHECK(cudaStreamSynchronize(s));
  std::vector<float> got = toHost(dD, D.size()), gotC = toHost(dC, C.size());
  int bad = 0;
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < ldd; ++i) {
        const float g = got[size_t(b) * ldd * n + size_t(j) * ldd + i];
        bad += i < m ? g != ref(b, i, j) : g != -99.0f;
      }
  EXPECT(bad == 0, "batched A^T B + C into D: %d wrong elements", bad);
  EXPECT(gotC == C, "C was modified");

  // Bias + ReLU, then bias + GELU (tanh form), batch 0 only.
  cublasLtMatrixLayout_t la1 = layout(CUDA_R_32F, k, m, lda), lb1 = layout(CUDA_R_32F, k, n, ldb),
                         lc1 = layout(CUDA_R_32F, m, n, ldc), ld1 = layout(CUDA_R_32F, m, n, ldd);
  LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &dBias, sizeof dBias));
  for (cublasLtEpilogue_t epi : {CUBLASLT_EPILOGUE_RELU_BIAS, CUBLASLT_EPILOGUE_GELU_BIAS}) {
    LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
    LT_CHECK(cublasLtMatmul(lt, op, &two, dA, la1, dB, lb1, &one, dC, lc1, dD, ld1, nullptr, nullptr, 0, s));
    CHECK(cudaStreamSynchronize(s));
    got = toHost(dD, size_t(ldd) * n);
    double worst = 0;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double x = double(ref(0, i, j)) + bias[i];
        double want = epi == CUBLASLT_EPILOGUE_RELU_BIAS
                          ? (x > 0 ? x : 0)
                          : 0.5 * x * (1 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        worst =
            std::fmax(worst, std::fabs(got[size_t(j) * ldd + i] - want) / std::fmax(1.0, std::fabs(want)));
      }
    EXPECT(worst < 1e-5, "epilogue %d: relative error %g", int(epi), worst);
  }

  // Half inputs, float output and scale (PyTorch's autocast GEMMs).
  std::vector<__half> Ah(size_t(k) * m), Bh(size_t(k) * n);
  for (size_t i = 0; i < Ah.size(); ++i)
    Ah[i] = __float2half(float(int(i) % 7 - 3));
  for (size_t i = 0; i < Bh.size(); ++i)
    Bh[i] = __float2half(float(int(i) % 5 - 2));
  __half *dAh = toDevice(Ah), *dBh = toDevice(Bh);
  cublasLtMatmulDesc_t op2;
  LT_CHECK(cublasLtMatmulDescCreate(&op2, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  LT_CHECK(cublasLtMatmulDescSetAttribute(op2, CUBLASLT_MATMUL_DESC_TRANSA, &trans, sizeof trans));
  cublasLtMatrixLayout_t lah = layout(CUDA_R_16F, k, m, k), lbh = layout(CUDA_R_16F, k, n, k),
                         lcf = layout(CUDA_R_32F, m, n, m);
  const float zero = 0.0f;
  LT_CHECK(
      cublasLtMatmul(lt, op2, &one, dAh, lah, dBh, lbh, &zero, dD, lcf, dD, lcf, nullptr, nullptr, 0, s));
  CHECK(cudaStreamSynchronize(s));
  got = toHost(dD, size_t(m) * n);
  bad = 0;
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i) {
      float acc = 0;
      for (int p = 0; p < k; ++p)
        acc += __half2float(Ah[size_t(i) * k + p]) * __half2float(Bh[size_t(j) * k + p]);
      bad += got[size_t(j) * m + i] != acc;
    }
  EXPECT(bad == 0, "half A^T B -> float D: %d wrong elements", bad);

  // A row-major D: not run on the CPU device, a clean status.
  cublasLtMatrixLayout_t lrow = layout(CUDA_R_32F, m, n, n);
  const cublasLtOrder_t row = CUBLASLT_ORDER_ROW;
  LT_CHECK(cublasLtMatrixLayoutSetAttribute(lrow, CUBLASLT_MATRIX_LAYOUT_ORDER, &row, sizeof row));
  cublasStatus_t st =
      cublasLtMatmul(lt, op2, &one, dAh, lah, dBh, lbh, &zero, dD, lrow, dD, lrow, nullptr, nullptr, 0, s);
  EXPECT(st != CUBLAS_STATUS_SUCCESS, "row-major layout: status %d, expected an error", int(st));
  CHECK(cudaStreamSynchronize(s));

  for (auto l : {la, lb, lc, ld, la1, lb1, lc1, ld1, lah, lbh, lcf, lrow})
    LT_CHECK(cublasLtMatrixLayoutDestroy(l));
  LT_CHECK(cublasLtMatmulPreferenceDestroy(pref));
  LT_CHECK(cublasLtMatmulDescDestroy(op));
  LT_CHECK(cublasLtMatmulDescDestroy(op2));
  LT_CHECK(cublasLtDestroy(lt));
  for (void *p : {(void *)dA, (void *)dB, (void *)dC, (void *)dD, (void *)dBias, (void *)dAh, (void *)dBh})
    CHECK(cudaFree(p));
  CHECK(cudaStreamDestroy(s));
  PASSED("cublaslt_matmul");
  return 0;
}
