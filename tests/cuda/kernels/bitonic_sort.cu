// Bitonic sort of 2^16 keys: one launch per (k, j) step across the grid.
#include "check.h"
#include <algorithm>
#include <vector>

__global__ void bitonic_step(int *a, int j, int k) {
  unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
  unsigned ixj = i ^ j;
  if (ixj > i) {
    bool up = (i & k) == 0;
    int x = a[i], y = a[ixj];
    if ((x > y) == up) {
      a[i] = y;
      a[ixj] = x;
    }
  }
}

int main() {
  const int n = 1 << 16;
  std::vector<int> h(n);
  unsigned s = 99;
  for (int i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    h[i] = (int)(s >> 8) - (1 << 23);
  }
  std::vector<int> ref = h;
  std::sort(ref.begin(), ref.end());
  int *d;
  CHECK(cudaMalloc(&d, n * sizeof(int)));
  CHECK(cudaMemcpy(d, h.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  for (int k = 2; k <= n; k <<= 1)
    for (int j = k >> 1; j > 0; j >>= 1) {
      bitonic_step<<<n / 256, 256>>>(d, j, k);
      CHECK(cudaGetLastError());
    }
  CHECK(cudaDeviceSynchronize());
  CHECK(cudaMemcpy(h.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i)
    EXPECT(h[i] == ref[i], "sorted[%d] = %d, want %d", i, h[i], ref[i]);
  CHECK(cudaFree(d));
  PASSED("bitonic_sort");
  return 0;
}
