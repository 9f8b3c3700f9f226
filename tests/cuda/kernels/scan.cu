// Exclusive prefix sum (Blelloch work-efficient scan) in shared memory, one
// block per 1024-element segment, block sums scanned on the host.
#include "check.h"
#include <vector>

constexpr int B = 512; // threads per block; 2*B elements per block

__global__ void blelloch(const int *in, int *out, int *block_sums, int n) {
  __shared__ int t[2 * B];
  int base = blockIdx.x * 2 * B, tid = threadIdx.x;
  t[2 * tid] = base + 2 * tid < n ? in[base + 2 * tid] : 0;
  t[2 * tid + 1] = base + 2 * tid + 1 < n ? in[base + 2 * tid + 1] : 0;
  int offset = 1;
  for (int d = B; d > 0; d >>= 1) { // up-sweep
    __syncthreads();
    if (tid < d) {
      int ai = offset * (2 * tid + 1) - 1, bi = offset * (2 * tid + 2) - 1;
      t[bi] += t[ai];
    }
    offset <<= 1;
  }
  if (tid == 0) {
    block_sums[blockIdx.x] = t[2 * B - 1];
    t[2 * B - 1] = 0;
  }
  for (int d = 1; d < 2 * B; d <<= 1) { // down-sweep
    offset >>= 1;
    __syncthreads();
    if (tid < d) {
      int ai = offset * (2 * tid + 1) - 1, bi = offset * (2 * tid + 2) - 1;
      int v = t[ai];
      t[ai] = t[bi];
      t[bi] += v;
    }
  }
  __syncthreads();
  if (base + 2 * tid < n)
    out[base + 2 * tid] = t[2 * tid];
  if (base + 2 * tid + 1 < n)
    out[base + 2 * tid + 1] = t[2 * tid + 1];
}

__global__ void add_offsets(int *out, const int *offsets, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] += offsets[i / (2 * B)];
}

int main() {
  const int n = 50000;
  const int blocks = (n + 2 * B - 1) / (2 * B);
  std::vector<int> in(n), out(n), sums(blocks);
  for (int i = 0; i < n; ++i)
    in[i] = (i * 37) % 11 - 3;
  int *din, *dout, *dsums;
  CHECK(cudaMalloc(&din, n * sizeof(int)));
  CHECK(cudaMalloc(&dout, n * sizeof(int)));
  CHECK(cudaMalloc(&dsums, blocks * sizeof(int)));
  CHECK(cudaMemcpy(din, in.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  blelloch<<<blocks, B>>>(din, dout, dsums, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(sums.data(), dsums, blocks * sizeof(int), cudaMemcpyDeviceToHost));
  int run = 0;
  for (int b = 0; b < blocks; ++b) {
    int s = sums[b];
    sums[b] = run;
    run += s;
  }
  CHECK(cudaMemcpy(dsums, sums.data(), blocks * sizeof(int), cudaMemcpyHostToDevice));
  add_offsets<<<(n + 255) / 256, 256>>>(dout, dsums, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  int acc = 0;
  for (int i = 0; i < n; ++i) {
    EXPECT(out[i] == acc, "scan[%d] = %d, want %d", i, out[i], acc);
    acc += in[i];
  }
  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
  CHECK(cudaFree(dsums));
  PASSED("scan");
  return 0;
}
