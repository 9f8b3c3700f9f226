// Warp-synchronous code through plain global memory, which the CPU device
// keeps in lockstep only with CUVIRT_WARP_LOCKSTEP=1 (set by the test; see
// docs/ARCHITECTURE.md, "Warp-synchronous code"): CuPy's partition kernel
// (32 threads bitonic-sort a row in global memory, no __syncwarp) and a fused
// in-place `x += x.T` (each thread reads another thread's element before
// any writes). Exact results against the host.
#include "check.h"
#include <algorithm>
#include <vector>

// CuPy's bitonic_sort_step / bitonic_sort (cupy/_core/_routines_sorting.pyx).
__device__ void bitonicStep(float *a, long x, long y, int i, long s, long w) {
  for (long j = i; j < (y - x) / 2; j += 32) {
    long n = j + (j & -w);
    float v = a[n + x], u = a[n + w + x];
    if (n & s ? v < u : v > u) {
      a[n + x] = u;
      a[n + w + x] = v;
    }
  }
}

__global__ void sortRows(float *a, long len) {
  long row = (long(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
  int id = threadIdx.x % 32;
  long x = row * len, y = x + len;
  for (long s = 2; s <= len; s *= 2)
    for (long w = s / 2; w >= 1; w /= 2)
      bitonicStep(a, x, y, id, s, w);
}

// x += x.T for an n x n matrix, one thread per element (n * n <= 32: one warp).
__global__ void addTranspose(float *x, int n) {
  int i = threadIdx.x;
  if (i < n * n)
    x[i] = x[i] + x[(i % n) * n + i / n];
}

int main() {
  for (long len : {256L, 32L}) {
    const long rows = 8;
    std::vector<float> h(len * rows), r(h.size());
    for (size_t i = 0; i < h.size(); ++i)
      h[i] = float((unsigned(i) * 2654435761u) % 1000u);
    float *d;
    CHECK(cudaMalloc(&d, h.size() * sizeof(float)));
    CHECK(cudaMemcpy(d, h.data(), h.size() * sizeof(float), cudaMemcpyHostToDevice));
    sortRows<<<2, 128>>>(d, len);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(r.data(), d, r.size() * sizeof(float), cudaMemcpyDeviceToHost));
    int bad = 0;
    for (long k = 0; k < rows; ++k) {
      std::sort(h.begin() + k * len, h.begin() + (k + 1) * len);
      for (long i = 0; i < len; ++i)
        bad += r[k * len + i] != h[k * len + i];
    }
    EXPECT(bad == 0, "bitonic rows of %ld in global memory: %d values out of place", len, bad);
    CHECK(cudaFree(d));
  }
  {
    const int n = 5;
    std::vector<float> h(n * n), r(n * n);
    for (int i = 0; i < n * n; ++i)
      h[i] = float(i * i % 17);
    float *d;
    CHECK(cudaMalloc(&d, sizeof(float) * n * n));
    CHECK(cudaMemcpy(d, h.data(), sizeof(float) * n * n, cudaMemcpyHostToDevice));
    addTranspose<<<1, 32>>>(d, n);
    CHECK_LAUNCH();
    CHECK(cudaMemcpy(r.data(), d, sizeof(float) * n * n, cudaMemcpyDeviceToHost));
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j)
        EXPECT(r[i * n + j] == h[i * n + j] + h[j * n + i], "x += x.T at (%d, %d): %g, want %g", i, j,
               double(r[i * n + j]), double(h[i * n + j] + h[j * n + i]));
    CHECK(cudaFree(d));
  }
  PASSED("warp_lockstep_global");
  return 0;
}
