// 256-bin histogram: per-block shared-memory bins with atomicAdd, merged into
// global bins with atomicAdd.
#include "check.h"
#include <vector>

__global__ void histogram(const unsigned char *data, int n, unsigned *bins) {
  __shared__ unsigned local[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x)
    local[i] = 0;
  __syncthreads();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    atomicAdd(&local[data[i]], 1u);
  __syncthreads();
  for (int i = threadIdx.x; i < 256; i += blockDim.x)
    if (local[i])
      atomicAdd(&bins[i], local[i]);
}

int main() {
  const int n = 3000017;
  std::vector<unsigned char> data(n);
  std::vector<unsigned> ref(256, 0), bins(256, 0);
  unsigned x = 12345;
  for (int i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    // skewed: many hits on a few bins (contention) plus a uniform spread
    data[i] = (i % 4 == 0) ? (unsigned char)(x >> 30) : (unsigned char)(x >> 16);
    ref[data[i]]++;
  }
  unsigned char *dd;
  unsigned *db;
  CHECK(cudaMalloc(&dd, n));
  CHECK(cudaMalloc(&db, 256 * sizeof(unsigned)));
  CHECK(cudaMemcpy(dd, data.data(), n, cudaMemcpyHostToDevice));
  CHECK(cudaMemset(db, 0, 256 * sizeof(unsigned)));
  histogram<<<64, 256>>>(dd, n, db);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(bins.data(), db, 256 * sizeof(unsigned), cudaMemcpyDeviceToHost));
  for (int b = 0; b < 256; ++b)
    EXPECT(bins[b] == ref[b], "bin %d = %u, want %u", b, bins[b], ref[b]);
  CHECK(cudaFree(dd));
  CHECK(cudaFree(db));
  PASSED("histogram");
  return 0;
}
