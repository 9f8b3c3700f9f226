// atomicCAS-based float max (the classic int-reinterpret loop), plus the
// built-in atomics on ints and floats under contention.
#include "check.h"
#include <float.h>
#include <vector>

__device__ float atomic_max_float(float *addr, float value) {
  int *ai = (int *)addr;
  int old = *ai, assumed;
  do {
    assumed = old;
    if (__int_as_float(assumed) >= value)
      break;
    old = atomicCAS(ai, assumed, __float_as_int(value));
  } while (assumed != old);
  return __int_as_float(old);
}

__global__ void maxes(const float *v, int n, float *result, int *counters, float *fsum) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x) {
    atomic_max_float(result, v[i]);
    atomicAdd(&counters[0], 1);
    atomicSub(&counters[1], 2);
    atomicMax(&counters[2], (int)v[i]);
    atomicMin(&counters[3], (int)v[i]);
    atomicOr(&counters[4], 1 << (i % 31));
    atomicXor(&counters[5], i);
    atomicInc((unsigned *)&counters[6], 999u); // wraps to 0 after 999
    atomicAdd(fsum, 0.5f);                     // exact: small multiples of 0.5
  }
}

int main() {
  const int n = 200000;
  std::vector<float> v(n);
  float want = -FLT_MAX;
  int imax = -2147483647, imin = 2147483647, x = 0;
  unsigned s = 1;
  for (int i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    v[i] = (float)((int)(s >> 8) % 100000) / 7.0f - 5000.0f;
    want = v[i] > want ? v[i] : want;
    imax = (int)v[i] > imax ? (int)v[i] : imax;
    imin = (int)v[i] < imin ? (int)v[i] : imin;
    x ^= i;
  }
  float *dv, *dres, *dsum;
  int *dc;
  CHECK(cudaMalloc(&dv, n * sizeof(float)));
  CHECK(cudaMalloc(&dres, sizeof(float)));
  CHECK(cudaMalloc(&dsum, sizeof(float)));
  CHECK(cudaMalloc(&dc, 7 * sizeof(int)));
  CHECK(cudaMemcpy(dv, v.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  float init = -FLT_MAX, zero = 0;
  int c0[7] = {0, 0, -2147483647, 2147483647, 0, 0, 0};
  CHECK(cudaMemcpy(dres, &init, sizeof init, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dsum, &zero, sizeof zero, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dc, c0, sizeof c0, cudaMemcpyHostToDevice));
  maxes<<<80, 256>>>(dv, n, dres, dc, dsum);
  CHECK_LAUNCH();
  float got = 0, sum = 0;
  int c[7];
  CHECK(cudaMemcpy(&got, dres, sizeof got, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(&sum, dsum, sizeof sum, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(c, dc, sizeof c, cudaMemcpyDeviceToHost));
  EXPECT(got == want, "atomic float max %g, want %g", got, want);
  EXPECT(c[0] == n, "atomicAdd count %d, want %d", c[0], n);
  EXPECT(c[1] == -2 * n, "atomicSub %d, want %d", c[1], -2 * n);
  EXPECT(c[2] == imax && c[3] == imin, "atomicMax/Min %d %d, want %d %d", c[2], c[3], imax, imin);
  EXPECT(c[4] == 0x7fffffff, "atomicOr 0x%x", c[4]);
  EXPECT(c[5] == x, "atomicXor 0x%x, want 0x%x", c[5], x);
  EXPECT(c[6] == n % 1000, "atomicInc %d, want %d", c[6], n % 1000);
  EXPECT(sum == n * 0.5f, "float atomicAdd %g, want %g", sum, n * 0.5f);
  CHECK(cudaFree(dv));
  CHECK(cudaFree(dres));
  CHECK(cudaFree(dsum));
  CHECK(cudaFree(dc));
  PASSED("atomics");
  return 0;
}
