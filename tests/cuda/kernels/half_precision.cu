// __half and __half2 arithmetic (cuda_fp16.h): conversions, add/mul/fma,
// comparisons, half2 vector ops, checked against float math with half
// rounding on the host.
#include "check.h"
#include <cuda_fp16.h>
#include <math.h>
#include <vector>

__global__ void half_ops(const __half *a, const __half *b, __half *sum, __half *prod, __half *fma_out,
                         int *cmp, __half2 *vec, float *back, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n)
    return;
  __half x = a[i], y = b[i];
  sum[i] = __hadd(x, y);
  prod[i] = x * y; // operator overloads
  fma_out[i] = __hfma(x, y, __float2half(1.0f));
  cmp[i] = (__hlt(x, y) ? 1 : 0) | (__heq(x, x) ? 2 : 0) | (x > y ? 4 : 0);
  __half2 v = __halves2half2(x, y);
  vec[i] = __hmul2(v, __float2half2_rn(2.0f));
  back[i] = __half2float(x) + __low2float(vec[i]) + __high2float(vec[i]);
}

int main() {
  const int n = 4096;
  std::vector<__half> a(n), b(n), sum(n), prod(n), fm(n);
  std::vector<__half2> vec(n);
  std::vector<int> cmp(n);
  std::vector<float> back(n);
  for (int i = 0; i < n; ++i) {
    a[i] = __float2half((float)(i % 200) * 0.25f - 25.0f);
    b[i] = __float2half((float)((i * 7) % 100) * 0.125f - 6.0f);
  }
  __half *da, *db, *ds, *dp, *df;
  __half2 *dv;
  int *dc;
  float *dback;
  CHECK(cudaMalloc(&da, n * sizeof(__half)));
  CHECK(cudaMalloc(&db, n * sizeof(__half)));
  CHECK(cudaMalloc(&ds, n * sizeof(__half)));
  CHECK(cudaMalloc(&dp, n * sizeof(__half)));
  CHECK(cudaMalloc(&df, n * sizeof(__half)));
  CHECK(cudaMalloc(&dv, n * sizeof(__half2)));
  CHECK(cudaMalloc(&dc, n * sizeof(int)));
  CHECK(cudaMalloc(&dback, n * sizeof(float)));
  CHECK(cudaMemcpy(da, a.data(), n * sizeof(__half), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(db, b.data(), n * sizeof(__half), cudaMemcpyHostToDevice));
  half_ops<<<n / 128, 128>>>(da, db, ds, dp, df, dc, dv, dback, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(sum.data(), ds, n * sizeof(__half), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(prod.data(), dp, n * sizeof(__half), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(fm.data(), df, n * sizeof(__half), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(vec.data(), dv, n * sizeof(__half2), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(cmp.data(), dc, n * sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(back.data(), dback, n * sizeof(float), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    float x = __half2float(a[i]), y = __half2float(b[i]);
    // Each op is one correctly rounded half result.
    float ws = __half2float(__float2half(x + y));
    float wp = __half2float(__float2half(x * y));
    float wf = __half2float(__float2half(fmaf(x, y, 1.0f)));
    EXPECT(__half2float(sum[i]) == ws, "[%d] %g + %g = %g, want %g", i, x, y, __half2float(sum[i]), ws);
    EXPECT(__half2float(prod[i]) == wp, "[%d] %g * %g = %g, want %g", i, x, y, __half2float(prod[i]), wp);
    EXPECT(__half2float(fm[i]) == wf, "[%d] fma(%g, %g, 1) = %g, want %g", i, x, y, __half2float(fm[i]), wf);
    int wc = (x < y ? 1 : 0) | 2 | (x > y ? 4 : 0);
    EXPECT(cmp[i] == wc, "[%d] comparisons of %g, %g = %d, want %d", i, x, y, cmp[i], wc);
    float lo = __low2float(vec[i]), hi = __high2float(vec[i]);
    EXPECT(lo == __half2float(__float2half(2 * x)) && hi == __half2float(__float2half(2 * y)),
           "[%d] half2 * 2 = (%g, %g), want (%g, %g)", i, lo, hi, 2 * x, 2 * y);
    EXPECT(back[i] == x + lo + hi, "[%d] back to float %g, want %g", i, back[i], x + lo + hi);
  }
  CHECK(cudaFree(da));
  CHECK(cudaFree(db));
  CHECK(cudaFree(ds));
  CHECK(cudaFree(dp));
  CHECK(cudaFree(df));
  CHECK(cudaFree(dv));
  CHECK(cudaFree(dc));
  CHECK(cudaFree(dback));
  PASSED("half_precision");
  return 0;
}
