// cuBLAS's SASS-only routines (GEMM, GEMV, SYRK/HERK, TRSM and the batched
// and mixed-precision GEMMs), each result checked against a host
// computation. On the CPU device they run through libcuvirt_cublas.so
// (shims/cublas, LD_PRELOADed by the test). Inputs are small integers, so
// every float sum is exact and most checks compare exactly.
#include "check.h"
#include <cmath>
#include <complex>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector>

#define CUBLAS_CHECK(call)                                                                                   \
  do {                                                                                                       \
    cublasStatus_t s_ = (call);                                                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                         \
      FAIL("%s: cuBLAS status %d", #call, int(s_));                                                          \
  } while (0)
#define EXPECT_STATUS(call, want)                                                                            \
  do {                                                                                                       \
    cublasStatus_t s_ = (call);                                                                              \
    EXPECT(s_ == (want), "%s: status %d, expected %d", #call, int(s_), int(want));                           \
  } while (0)

using cf = std::complex<float>;
using cd = std::complex<double>;

template <class T> T conjIf(T v, bool c) { return v; }
template <class R> std::complex<R> conjIf(std::complex<R> v, bool c) { return c ? std::conj(v) : v; }
template <class T> T val(int i) { return T(i % 7 - 3); }
template <> cf val<cf>(int i) { return cf(float(i % 7 - 3), float(i % 5 - 2)); }
template <> cd val<cd>(int i) { return cd(double(i % 7 - 3), double(i % 5 - 2)); }

/// op(X)[r][c] of a column-major matrix.
template <class T> T opAt(const std::vector<T> &X, int ld, cublasOperation_t op, int r, int c) {
  return op == CUBLAS_OP_N ? X[size_t(c) * ld + r] : conjIf(X[size_t(r) * ld + c], op == CUBLAS_OP_C);
}

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

template <class T>
cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                    const T *al, const T *A, int lda, const T *B, int ldb, const T *be, T *C, int ldc) {
  if constexpr (std::is_same_v<T, float>)
    return cublasSgemm(h, ta, tb, m, n, k, al, A, lda, B, ldb, be, C, ldc);
  else if constexpr (std::is_same_v<T, double>)
    return cublasDgemm(h, ta, tb, m, n, k, al, A, lda, B, ldb, be, C, ldc);
  else if constexpr (std::is_same_v<T, cf>)
    return cublasCgemm(h, ta, tb, m, n, k, (const cuComplex *)al, (const cuComplex *)A, lda,
                       (const cuComplex *)B, ldb, (const cuComplex *)be, (cuComplex *)C, ldc);
  else
    return cublasZgemm(h, ta, tb, m, n, k, (const cuDoubleComplex *)al, (const cuDoubleComplex *)A, lda,
                       (const cuDoubleComplex *)B, ldb, (const cuDoubleComplex *)be, (cuDoubleComplex *)C,
                       ldc);
}

/// Every transpose pair, lda/ldb/ldc past the rows, alpha = 2, beta = -1.
template <class T> void gemmAllOps(cublasHandle_t h, const char *name) {
  const int m = 37, n = 29, k = 23, pad = 3;
  const cublasOperation_t ops[] = {CUBLAS_OP_N, CUBLAS_OP_T, CUBLAS_OP_C};
  for (cublasOperation_t ta : ops)
    for (cublasOperation_t tb : ops) {
      const int ra = ta == CUBLAS_OP_N ? m : k, ca = ta == CUBLAS_OP_N ? k : m;
      const int rb = tb == CUBLAS_OP_N ? k : n, cb = tb == CUBLAS_OP_N ? n : k;
      const int lda = ra + pad, ldb = rb + pad, ldc = m + pad;
      std::vector<T> A(size_t(lda) * ca), B(size_t(ldb) * cb), C(size_t(ldc) * n);
      for (size_t i = 0; i < A.size(); ++i)
        A[i] = val<T>(int(i));
      for (size_t i = 0; i < B.size(); ++i)
        B[i] = val<T>(int(i * 3 + 1));
      for (size_t i = 0; i < C.size(); ++i)
        C[i] = val<T>(int(i * 5 + 2));
      T *dA = toDevice(A), *dB = toDevice(B), *dC = toDevice(C);
      const T al = T(2), be = T(-1);
      CUBLAS_CHECK(gemm<T>(h, ta, tb, m, n, k, &al, dA, lda, dB, ldb, &be, dC, ldc));
      std::vector<T> got = toHost(dC, C.size());
      int bad = 0;
      for (int j = 0; j < n; ++j)
        for (int i = 0; i < ldc; ++i) {
          T want = C[size_t(j) * ldc + i]; // rows past m: untouched
          if (i < m) {
            T s = T(0);
            for (int p = 0; p < k; ++p)
              s += opAt(A, lda, ta, i, p) * opAt(B, ldb, tb, p, j);
            want = al * s + be * want;
          }
          bad += got[size_t(j) * ldc + i] != want;
        }
      EXPECT(bad == 0, "%s ops (%d,%d): %d wrong elements", name, int(ta), int(tb), bad);
      CHECK(cudaFree(dA));
      CHECK(cudaFree(dB));
      CHECK(cudaFree(dC));
    }
}

__global__ void fill(float *p, int n, float v) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    p[i] = v;
}

/// beta = 0 must not read C (NaN stays out); alpha/beta read from device
/// memory when the work runs, written just before on the same stream; a
/// kernel's output consumed in stream order without a synchronisation.
void streamOrderAndPointerMode(cublasHandle_t h) {
  const int n = 64;
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  CUBLAS_CHECK(cublasSetStream(h, s));
  float *dA, *dB, *dC, *dScal;
  CHECK(cudaMalloc(&dA, n * n * sizeof(float)));
  CHECK(cudaMalloc(&dB, n * n * sizeof(float)));
  CHECK(cudaMalloc(&dC, n * n * sizeof(float)));
  CHECK(cudaMalloc(&dScal, 2 * sizeof(float)));
  std::vector<float> nan(n * n, NAN);
  CHECK(cudaMemcpy(dC, nan.data(), nan.size() * sizeof(float), cudaMemcpyHostToDevice));
  fill<<<(n * n + 255) / 256, 256, 0, s>>>(dA, n * n, 1.0f);
  fill<<<(n * n + 255) / 256, 256, 0, s>>>(dB, n * n, 2.0f);
  CHECK(cudaGetLastError());
  const float scal[2] = {3.0f, 0.0f}; // alpha, beta
  float *pinned;
  CHECK(cudaMallocHost(&pinned, sizeof scal));
  pinned[0] = scal[0];
  pinned[1] = scal[1];
  CHECK(cudaMemcpyAsync(dScal, pinned, sizeof scal, cudaMemcpyHostToDevice, s));
  CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_DEVICE));
  CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, dScal, dA, n, dB, n, dScal + 1, dC, n));
  CUBLAS_CHECK(cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST));
  std::vector<float> got(n * n);
  CHECK(cudaMemcpyAsync(got.data(), dC, got.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  int bad = 0;
  for (float v : got)
    bad += v != 3.0f * 2.0f * n;
  EXPECT(bad == 0, "device-pointer Sgemm after kernels, beta 0 over NaN: %d wrong (C[0] = %f)", bad, got[0]);

  // Host pointer mode: alpha is copied at the call, the variable may change.
  float alpha = 1.0f, beta = 0.0f;
  CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, dA, n, dB, n, &beta, dC, n));
  alpha = 100.0f;
  CHECK(cudaMemcpyAsync(got.data(), dC, got.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  EXPECT(got[5] == 2.0f * n, "host-mode alpha read late: C[5] = %f, expected %f", got[5], 2.0f * n);

  // Captured into a graph, replayed twice with new inputs.
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  alpha = 1.0f;
  beta = 1.0f;
  CHECK(cudaMemsetAsync(dC, 0, n * n * sizeof(float), s));
  CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &alpha, dA, n, dB, n, &beta, dC, n));
  CHECK(cudaStreamEndCapture(s, &graph));
  CHECK(cudaGraphInstantiate(&exec, graph, 0));
  CHECK(cudaGraphLaunch(exec, s));
  CHECK(cudaGraphLaunch(exec, s));
  CHECK(cudaMemcpyAsync(got.data(), dC, got.size() * sizeof(float), cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  EXPECT(got[7] == 2 * 2.0f * n, "captured Sgemm replayed twice: C[7] = %f, expected %f", got[7], 4.0f * n);
  CHECK(cudaGraphExecDestroy(exec));
  CHECK(cudaGraphDestroy(graph));

  CUBLAS_CHECK(cublasSetStream(h, 0));
  CHECK(cudaStreamDestroy(s));
  CHECK(cudaFreeHost(pinned));
  CHECK(cudaFree(dA));
  CHECK(cudaFree(dB));
  CHECK(cudaFree(dC));
  CHECK(cudaFree(dScal));
}

/// Hgemm, GemmEx over 16F/16BF/32F/64F inputs and compute types.
void mixedPrecision(cublasHandle_t h) {
  const int m = 20, n = 12, k = 16;
  std::vector<float> A(m * k), B(k * n), ref(m * n, 0.0f);
  for (int i = 0; i < m * k; ++i)
    A[i] = float(i % 7 - 3);
  for (int i = 0; i < k * n; ++i)
    B[i] = float(i % 5 - 2);
  for (int j = 0; j < n; ++j)
    for (int i = 0; i < m; ++i)
      for (int p = 0; p < k; ++p)
        ref[j * m + i] += A[p * m + i] * B[j * k + p];
  std::vector<__half> Ah(A.size()), Bh(B.size());
  std::vector<__nv_bfloat16> Abf(A.size()), Bbf(B.size());
  std::vector<double> Ad(A.begin(), A.end()), Bd(B.begin(), B.end());
  for (size_t i = 0; i < A.size(); ++i)
    Ah[i] = __float2half(A[i]), Abf[i] = __float2bfloat16(A[i]);
  for (size_t i = 0; i < B.size(); ++i)
    Bh[i] = __float2half(B[i]), Bbf[i] = __float2bfloat16(B[i]);
  __half *dAh = toDevice(Ah), *dBh = toDevice(Bh), *dCh;
  __nv_bfloat16 *dAbf = toDevice(Abf), *dBbf = toDevice(Bbf), *dCbf;
  float *dA = toDevice(A), *dB = toDevice(B), *dC;
  double *dAd = toDevice(Ad), *dBd = toDevice(Bd), *dCd;
  CHECK(cudaMalloc(&dCh, m * n * sizeof(__half)));
  CHECK(cudaMalloc(&dCbf, m * n * sizeof(__nv_bfloat16)));
  CHECK(cudaMalloc(&dC, m * n * sizeof(float)));
  CHECK(cudaMalloc(&dCd, m * n * sizeof(double)));
  const __half hone = __float2half(1.0f), hzero = __float2half(0.0f);
  const float one = 1.0f, zero = 0.0f;
  const double done = 1.0, dzero = 0.0;

  auto checkF = [&](const char *what, const std::vector<float> &got) {
    int bad = 0;
    for (int i = 0; i < m * n; ++i)
      bad += got[i] != ref[i];
    EXPECT(bad == 0, "%s: %d wrong elements (got %f, expected %f at 0)", what, bad, got[0], ref[0]);
  };
  auto halfs = [&](const __half *d) {
    std::vector<__half> hv = toHost(d, m * n);
    std::vector<float> f(m * n);
    for (int i = 0; i < m * n; ++i)
      f[i] = __half2float(hv[i]);
    return f;
  };
  CUBLAS_CHECK(cublasHgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &hone, dAh, m, dBh, k, &hzero, dCh, m));
  checkF("Hgemm", halfs(dCh));
  CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &hone, dAh, CUDA_R_16F, m, dBh, CUDA_R_16F,
                            k, &hzero, dCh, CUDA_R_16F, m, CUBLAS_COMPUTE_16F, CUBLAS_GEMM_DEFAULT));
  checkF("GemmEx 16F/16F compute 16F", halfs(dCh));
  CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dAh, CUDA_R_16F, m, dBh, CUDA_R_16F,
                            k, &zero, dC, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  checkF("GemmEx 16F->32F", toHost(dC, m * n));
  CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dAbf, CUDA_R_16BF, m, dBbf,
                            CUDA_R_16BF, k, &zero, dCbf, CUDA_R_16BF, m, CUBLAS_COMPUTE_32F_FAST_16BF,
                            CUBLAS_GEMM_DEFAULT));
  {
    std::vector<__nv_bfloat16> bv = toHost(dCbf, m * n);
    std::vector<float> f(m * n);
    for (int i = 0; i < m * n; ++i)
      f[i] = __bfloat162float(bv[i]);
    checkF("GemmEx 16BF->16BF", f);
  }
  CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, CUDA_R_32F, m, dB, CUDA_R_32F, k,
                            &zero, dC, CUDA_R_32F, m, CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT));
  checkF("GemmEx 32F fast TF32", toHost(dC, m * n));
  CUBLAS_CHECK(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &done, dAd, CUDA_R_64F, m, dBd, CUDA_R_64F,
                            k, &dzero, dCd, CUDA_R_64F, m, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT));
  {
    std::vector<double> dv = toHost(dCd, m * n);
    checkF("GemmEx 64F", std::vector<float>(dv.begin(), dv.end()));
  }
  CUBLAS_CHECK(cublasSgemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dAh, CUDA_R_16F, m, dBh, CUDA_R_16F,
                             k, &zero, dC, CUDA_R_32F, m));
  checkF("SgemmEx 16F->32F", toHost(dC, m * n));
  // Strided batched, 16F in, 32F out: batch 1 reuses A (stride 0).
  float *dC2;
  CHECK(cudaMalloc(&dC2, 2 * m * n * sizeof(float)));
  CUBLAS_CHECK(cublasGemmStridedBatchedEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dAh, CUDA_R_16F, m, 0,
                                          dBh, CUDA_R_16F, k, 0, &zero, dC2, CUDA_R_32F, m, m * n, 2,
                                          CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  std::vector<float> two = toHost(dC2, 2 * m * n);
  checkF("GemmStridedBatchedEx [0]", std::vector<float>(two.begin(), two.begin() + m * n));
  checkF("GemmStridedBatchedEx [1]", std::vector<float>(two.begin() + m * n, two.end()));
  // Type combinations cuBLAS does not have.
  EXPECT_STATUS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dAh, CUDA_R_16F, m, dB, CUDA_R_32F,
                             k, &zero, dC, CUDA_R_32F, m, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                CUBLAS_STATUS_NOT_SUPPORTED);
  EXPECT_STATUS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, CUDA_R_32F, m, dB, CUDA_R_32F, k,
                             &zero, dC, CUDA_R_32F, m, CUBLAS_COMPUTE_64F, CUBLAS_GEMM_DEFAULT),
                CUBLAS_STATUS_NOT_SUPPORTED);
  for (void *p : {(void *)dAh, (void *)dBh, (void *)dCh, (void *)dAbf, (void *)dBbf, (void *)dCbf, (void *)dA,
                  (void *)dB, (void *)dC, (void *)dAd, (void *)dBd, (void *)dCd, (void *)dC2})
    CHECK(cudaFree(p));
}

/// Strided and pointer-array batched GEMM (the arrays in device memory).
void batched(cublasHandle_t h) {
  const int m = 9, n = 7, k = 5, batch = 3;
  std::vector<double> A(m * k * batch), B(k * n * batch), C(m * n * batch, 0.0), ref(m * n * batch, 0.0);
  for (size_t i = 0; i < A.size(); ++i)
    A[i] = double(int(i) % 9 - 4);
  for (size_t i = 0; i < B.size(); ++i)
    B[i] = double(int(i) % 4 - 1);
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i)
        for (int p = 0; p < k; ++p)
          ref[b * m * n + j * m + i] += A[b * m * k + p * m + i] * B[b * k * n + j * k + p];
  double *dA = toDevice(A), *dB = toDevice(B), *dC = toDevice(C);
  const double one = 1.0, zero = 0.0;
  CUBLAS_CHECK(cublasDgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dA, m, m * k, dB, k,
                                         k * n, &zero, dC, m, m * n, batch));
  std::vector<double> got = toHost(dC, C.size());
  EXPECT(got == ref, "DgemmStridedBatched: wrong result (C[last] = %f, expected %f)", got.back(), ref.back());
  CHECK(cudaMemset(dC, 0, C.size() * sizeof(double)));
  std::vector<double *> ptrs;
  for (int b = 0; b < batch; ++b)
    ptrs.push_back(dA + b * m * k);
  for (int b = 0; b < batch; ++b)
    ptrs.push_back(dB + b * k * n);
  for (int b = 0; b < batch; ++b)
    ptrs.push_back(dC + b * m * n);
  double **dPtrs = toDevice(ptrs);
  CUBLAS_CHECK(cublasDgemmBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dPtrs, m, dPtrs + batch, k,
                                  &zero, dPtrs + 2 * batch, m, batch));
  got = toHost(dC, C.size());
  EXPECT(got == ref, "DgemmBatched: wrong result (C[last] = %f, expected %f)", got.back(), ref.back());
  // A NULL entry (read when the work runs): skipped with a message on the CPU
  // device, not a crash of the stream's worker; the other entries still run.
  CHECK(cudaMemset(dC, 0, C.size() * sizeof(double)));
  double *null = nullptr;
  CHECK(cudaMemcpy(dPtrs + 2 * batch + 1, &null, sizeof null, cudaMemcpyHostToDevice));
  CUBLAS_CHECK(cublasDgemmBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, k, &one, dPtrs, m, dPtrs + batch, k,
                                  &zero, dPtrs + 2 * batch, m, batch));
  got = toHost(dC, C.size());
  EXPECT(got[0] == ref[0] && got.back() == ref.back() && got[m * n] == 0.0,
         "DgemmBatched with a NULL C entry: C[0] %f C[last] %f C[entry 1] %f", got[0], got.back(),
         got[m * n]);
  CHECK(cudaFree(dA));
  CHECK(cudaFree(dB));
  CHECK(cudaFree(dC));
  CHECK(cudaFree(dPtrs));
}

/// Sgemv/Dgemv (N and T, strided x and y), Ssyrk/Dsyrk/Cherk (one triangle
/// only), Dtrsm large enough for cuBLAS's internal GEMMs.
void level2and3(cublasHandle_t h) {
  const int m = 33, n = 21, lda = 40;
  std::vector<float> A(lda * n), x(2 * 33), y(2 * 33);
  for (size_t i = 0; i < A.size(); ++i)
    A[i] = float(int(i) % 7 - 3);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = float(int(i) % 3 - 1), y[i] = float(int(i) % 4);
  float *dA = toDevice(A), *dx = toDevice(x), *dy = toDevice(y);
  const float al = 2.0f, be = 3.0f;
  for (cublasOperation_t t : {CUBLAS_OP_N, CUBLAS_OP_T}) {
    CHECK(cudaMemcpy(dy, y.data(), y.size() * sizeof(float), cudaMemcpyHostToDevice));
    CUBLAS_CHECK(cublasSgemv(h, t, m, n, &al, dA, lda, dx, 2, &be, dy, 2));
    std::vector<float> got = toHost(dy, y.size());
    const int leny = t == CUBLAS_OP_N ? m : n, lenx = t == CUBLAS_OP_N ? n : m;
    int bad = 0;
    for (int i = 0; i < leny; ++i) {
      float s = 0;
      for (int p = 0; p < lenx; ++p)
        s += (t == CUBLAS_OP_N ? A[p * lda + i] : A[i * lda + p]) * x[2 * p];
      bad += got[2 * i] != al * s + be * y[2 * i] || got[2 * i + 1] != y[2 * i + 1];
    }
    EXPECT(bad == 0, "Sgemv op %d: %d wrong elements", int(t), bad);
  }
  {
    std::vector<double> Ad(A.begin(), A.end()), xd(x.begin(), x.end()), yd(m, NAN);
    double *dAd = toDevice(Ad), *dxd = toDevice(xd), *dyd = toDevice(yd);
    const double one = 1.0, zero = 0.0;
    CUBLAS_CHECK(cublasDgemv(h, CUBLAS_OP_N, m, n, &one, dAd, lda, dxd, 1, &zero, dyd, 1));
    std::vector<double> got = toHost(dyd, m);
    int bad = 0;
    for (int i = 0; i < m; ++i) {
      double s = 0;
      for (int p = 0; p < n; ++p)
        s += Ad[p * lda + i] * xd[p];
      bad += got[i] != s;
    }
    EXPECT(bad == 0, "Dgemv beta 0 over NaN: %d wrong elements", bad);
    CHECK(cudaFree(dAd));
    CHECK(cudaFree(dxd));
    CHECK(cudaFree(dyd));
  }
  // C = A A^T on the upper triangle; the lower keeps its sentinel.
  {
    const int nn = 24, kk = 13;
    std::vector<float> Ak(nn * kk), C(nn * nn, -7.0f);
    for (size_t i = 0; i < Ak.size(); ++i)
      Ak[i] = float(int(i) % 5 - 2);
    float *dAk = toDevice(Ak), *dCk = toDevice(C);
    const float one = 1.0f, zero = 0.0f;
    CUBLAS_CHECK(cublasSsyrk(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, nn, kk, &one, dAk, nn, &zero, dCk, nn));
    std::vector<float> got = toHost(dCk, C.size());
    int bad = 0;
    for (int j = 0; j < nn; ++j)
      for (int i = 0; i < nn; ++i) {
        float s = 0;
        for (int p = 0; p < kk; ++p)
          s += Ak[p * nn + i] * Ak[p * nn + j];
        bad += got[j * nn + i] != (i <= j ? s : -7.0f);
      }
    EXPECT(bad == 0, "Ssyrk upper: %d wrong elements", bad);
    // Cherk lower, op C: C = A^H A, real diagonal.
    std::vector<cf> Ac(kk * nn), Cc(nn * nn, cf(-7, 0));
    for (size_t i = 0; i < Ac.size(); ++i)
      Ac[i] = val<cf>(int(i));
    cf *dAc = toDevice(Ac), *dCc = toDevice(Cc);
    CUBLAS_CHECK(cublasCherk(h, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_C, nn, kk, &one, (const cuComplex *)dAc, kk,
                             &zero, (cuComplex *)dCc, nn));
    std::vector<cf> gotc = toHost(dCc, Cc.size());
    bad = 0;
    for (int j = 0; j < nn; ++j)
      for (int i = 0; i < nn; ++i) {
        cf s = 0;
        for (int p = 0; p < kk; ++p)
          s += std::conj(Ac[i * kk + p]) * Ac[j * kk + p];
        bad += gotc[j * nn + i] != (i >= j ? s : cf(-7, 0));
      }
    EXPECT(bad == 0, "Cherk lower: %d wrong elements", bad);
    CHECK(cudaFree(dAk));
    CHECK(cudaFree(dCk));
    CHECK(cudaFree(dAc));
    CHECK(cudaFree(dCc));
  }
  // Solve U X = 2 B, U upper triangular (well conditioned), 300 x 200.
  {
    const int mm = 300, nn = 200;
    std::vector<double> U(mm * mm, 0.0), Bm(mm * nn);
    for (int j = 0; j < mm; ++j)
      for (int i = 0; i <= j; ++i)
        U[j * mm + i] = i == j ? 4.0 + (i % 3) : double((i + j) % 5 - 2) / mm;
    for (size_t i = 0; i < Bm.size(); ++i)
      Bm[i] = double(int(i) % 11 - 5);
    double *dU = toDevice(U), *dX = toDevice(Bm);
    const double two = 2.0;
    CUBLAS_CHECK(cublasDtrsm(h, CUBLAS_SIDE_LEFT, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, CUBLAS_DIAG_NON_UNIT,
                             mm, nn, &two, dU, mm, dX, mm));
    std::vector<double> X = toHost(dX, Bm.size());
    double worst = 0;
    for (int j = 0; j < nn; ++j)
      for (int i = 0; i < mm; ++i) {
        double s = 0;
        for (int p = i; p < mm; ++p)
          s += U[p * mm + i] * X[j * mm + p];
        worst = std::fmax(worst, std::fabs(s - 2.0 * Bm[j * mm + i]));
      }
    EXPECT(worst < 1e-9, "Dtrsm 300x200: residual %g", worst);
    CHECK(cudaFree(dU));
    CHECK(cudaFree(dX));
  }
  CHECK(cudaFree(dA));
  CHECK(cudaFree(dx));
  CHECK(cudaFree(dy));
}

/// cuBLAS's own statuses for bad arguments, and no crash.
void badArguments(cublasHandle_t h) {
  float *d;
  CHECK(cudaMalloc(&d, 64 * 64 * sizeof(float)));
  const float one = 1.0f;
  EXPECT_STATUS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, -1, 4, 4, &one, d, 4, d, 4, &one, d, 4),
                CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STATUS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 8, 4, 4, &one, d, 4, d, 4, &one, d, 8),
                CUBLAS_STATUS_INVALID_VALUE); // lda < m
  EXPECT_STATUS(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, 8, 4, 6, &one, d, 5, d, 6, &one, d, 8),
                CUBLAS_STATUS_INVALID_VALUE); // lda < k for op T
  EXPECT_STATUS(cublasSgemm(h, (cublasOperation_t)7, CUBLAS_OP_N, 4, 4, 4, &one, d, 4, d, 4, &one, d, 4),
                CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STATUS(cublasSgemv(h, CUBLAS_OP_N, 4, 4, &one, d, 4, d, 0, &one, d, 1), CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STATUS(cublasSsyrk(h, CUBLAS_FILL_MODE_UPPER, CUBLAS_OP_N, 4, 4, &one, d, 2, &one, d, 4),
                CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STATUS(cublasSgemmStridedBatched(h, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 4, 16, d, 4, 16,
                                          &one, d, 4, 16, -1),
                CUBLAS_STATUS_INVALID_VALUE);
  EXPECT_STATUS(cublasSgemm(nullptr, CUBLAS_OP_N, CUBLAS_OP_N, 4, 4, 4, &one, d, 4, d, 4, &one, d, 4),
                CUBLAS_STATUS_NOT_INITIALIZED);
  // Empty products are no-ops; k = 0 scales C by beta.
  CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, 0, 4, 4, &one, d, 1, d, 4, &one, d, 1));
  CHECK(cudaFree(d));
}

/// A bigger product, for speed (printed) and accumulated error.
void largeSgemm(cublasHandle_t h) {
  const int n = 512;
  std::vector<float> A(n * n), B(n * n);
  for (int i = 0; i < n * n; ++i)
    A[i] = float(i % 13) / 13.0f, B[i] = float(i % 7) / 7.0f;
  float *dA = toDevice(A), *dB = toDevice(B), *dC;
  CHECK(cudaMalloc(&dC, n * n * sizeof(float)));
  const float one = 1.0f, zero = 0.0f;
  cudaEvent_t t0, t1;
  CHECK(cudaEventCreate(&t0));
  CHECK(cudaEventCreate(&t1));
  CHECK(cudaEventRecord(t0));
  CUBLAS_CHECK(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, n, n, n, &one, dA, n, dB, n, &zero, dC, n));
  CHECK(cudaEventRecord(t1));
  CHECK(cudaEventSynchronize(t1));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, t0, t1));
  printf("Sgemm %dx%dx%d: %.2f ms (%.1f GFLOP/s)\n", n, n, n, ms, 2.0 * n * n * n / (ms * 1e6));
  std::vector<float> got = toHost(dC, n * n);
  double worst = 0;
  for (int j = 0; j < n; j += 37)
    for (int i = 0; i < n; i += 11) {
      double s = 0;
      for (int p = 0; p < n; ++p)
        s += double(A[p * n + i]) * B[p * n + j];
      worst = std::fmax(worst, std::fabs(s - got[j * n + i]) / std::fmax(1.0, std::fabs(s)));
    }
  EXPECT(worst < 1e-5, "Sgemm 512 relative error %g", worst);
  CHECK(cudaFree(dA));
  CHECK(cudaFree(dB));
  CHECK(cudaFree(dC));
}

int main() {
  cublasHandle_t h;
  CUBLAS_CHECK(cublasCreate(&h));
  gemmAllOps<float>(h, "Sgemm");
  gemmAllOps<double>(h, "Dgemm");
  gemmAllOps<cf>(h, "Cgemm");
  gemmAllOps<cd>(h, "Zgemm");
  streamOrderAndPointerMode(h);
  mixedPrecision(h);
  batched(h);
  level2and3(h);
  badArguments(h);
  largeSgemm(h);
  CHECK(cudaDeviceSynchronize());
  CUBLAS_CHECK(cublasDestroy(h));
  PASSED("cublas_gemm");
  return 0;
}
