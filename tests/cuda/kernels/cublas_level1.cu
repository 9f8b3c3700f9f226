// cuBLAS from the toolkit (libcublas, its kernels shipped as PTX too):
// level-1 routines and Sger, each result checked against a host
// computation. The values are small integers and halves, so every sum is
// exact in float except the norm (a square root). GEMM/GEMV are not run:
// cuBLAS ships those kernels as SASS only (README.md).
#include "check.h"
#include <cmath>
#include <cublas_v2.h>
#include <vector>

#define CUBLAS_CHECK(call)                                                                                   \
  do {                                                                                                       \
    cublasStatus_t s_ = (call);                                                                              \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                                                         \
      FAIL("%s: cuBLAS status %d", #call, int(s_));                                                          \
  } while (0)

static std::vector<float> to_host(const float *d, size_t n) {
  std::vector<float> h(n);
  CHECK(cudaMemcpy(h.data(), d, n * sizeof(float), cudaMemcpyDeviceToHost));
  return h;
}

int main() {
  const int n = 1000, m = 64;
  std::vector<float> x(n), y(n), A(m * m);
  for (int i = 0; i < n; ++i)
    x[i] = float(i % 13) - 6.0f, y[i] = float(i % 7) * 0.5f;
  for (int i = 0; i < m * m; ++i)
    A[i] = float(i % 5) - 2.0f;
  float *dx, *dy, *dA;
  CHECK(cudaMalloc(&dx, n * sizeof(float)));
  CHECK(cudaMalloc(&dy, n * sizeof(float)));
  CHECK(cudaMalloc(&dA, m * m * sizeof(float)));
  CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dA, A.data(), m * m * sizeof(float), cudaMemcpyHostToDevice));
  cublasHandle_t h;
  CUBLAS_CHECK(cublasCreate(&h));

  float r = 0;
  double dot = 0, sq = 0, asum = 0;
  int amax = 1;
  for (int i = 0; i < n; ++i) {
    dot += double(x[i]) * y[i];
    sq += double(x[i]) * x[i];
    asum += std::fabs(x[i]);
    if (std::fabs(x[i]) > std::fabs(x[amax - 1]))
      amax = i + 1; // 1-based, the first of equal magnitudes
  }
  CUBLAS_CHECK(cublasSdot(h, n, dx, 1, dy, 1, &r));
  EXPECT(r == float(dot), "Sdot %f, expected %f", r, dot);
  // Every other element of both (incx = incy = 2).
  double dot2 = 0;
  for (int i = 0; i < n / 2; ++i)
    dot2 += double(x[2 * i]) * y[2 * i];
  CUBLAS_CHECK(cublasSdot(h, n / 2, dx, 2, dy, 2, &r));
  EXPECT(r == float(dot2), "Sdot strided %f, expected %f", r, dot2);
  CUBLAS_CHECK(cublasSnrm2(h, n, dx, 1, &r));
  EXPECT(std::fabs(r - std::sqrt(sq)) <= 1e-5 * std::sqrt(sq), "Snrm2 %f, expected %f", r, std::sqrt(sq));
  CUBLAS_CHECK(cublasSasum(h, n, dx, 1, &r));
  EXPECT(r == float(asum), "Sasum %f, expected %f", r, asum);
  int idx = 0;
  CUBLAS_CHECK(cublasIsamax(h, n, dx, 1, &idx));
  EXPECT(idx == amax, "Isamax %d, expected %d", idx, amax);

  const float a = 2.0f;
  CUBLAS_CHECK(cublasSaxpy(h, n, &a, dx, 1, dy, 1));
  std::vector<float> got = to_host(dy, n);
  for (int i = 0; i < n; ++i)
    EXPECT(got[i] == a * x[i] + y[i], "Saxpy y[%d] = %f, expected %f", i, got[i], a * x[i] + y[i]);
  CUBLAS_CHECK(cublasSscal(h, n, &a, dx, 1));
  got = to_host(dx, n);
  for (int i = 0; i < n; ++i)
    EXPECT(got[i] == a * x[i], "Sscal x[%d] = %f, expected %f", i, got[i], a * x[i]);
  for (float &v : x)
    v *= a;
  CUBLAS_CHECK(cublasScopy(h, n, dx, 1, dy, 1));
  got = to_host(dy, n);
  for (int i = 0; i < n; ++i)
    EXPECT(got[i] == x[i], "Scopy y[%d] = %f, expected %f", i, got[i], x[i]);
  // y is now x: A += a * x * y^T over the first m elements, column-major.
  CUBLAS_CHECK(cublasSger(h, m, m, &a, dx, 1, dy, 1, dA, m));
  got = to_host(dA, size_t(m) * m);
  for (int j = 0; j < m; ++j)
    for (int i = 0; i < m; ++i) {
      float want = A[j * m + i] + a * x[i] * x[j];
      EXPECT(got[j * m + i] == want, "Sger A[%d,%d] = %f, expected %f", i, j, got[j * m + i], want);
    }
  CHECK(cudaDeviceSynchronize());
  CUBLAS_CHECK(cublasDestroy(h));
  CHECK(cudaFree(dx));
  CHECK(cudaFree(dy));
  CHECK(cudaFree(dA));
  PASSED("cublas_level1");
  return 0;
}
