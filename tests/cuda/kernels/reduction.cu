// Sum reduction: shared memory down to one warp, then __shfl_down_sync;
// per-block partials summed by a second launch. Integer data: exact result.
#include "check.h"
#include <vector>

__device__ int warp_sum(int v) {
  for (int off = 16; off > 0; off >>= 1)
    v += __shfl_down_sync(0xffffffffu, v, off);
  return v;
}

__global__ void reduce(const int *in, int *out, int n) {
  __shared__ int s[256];
  int tid = threadIdx.x;
  int sum = 0;
  for (int i = blockIdx.x * blockDim.x + tid; i < n; i += blockDim.x * gridDim.x)
    sum += in[i];
  s[tid] = sum;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride >= 32; stride >>= 1) {
    if (tid < stride)
      s[tid] += s[tid + stride];
    __syncthreads();
  }
  if (tid < 32) {
    int v = warp_sum(s[tid]);
    if (tid == 0)
      out[blockIdx.x] = v;
  }
}

// Also check the other shuffles within one warp.
__global__ void shuffles(int *out) {
  int lane = threadIdx.x;
  out[lane] = __shfl_sync(0xffffffffu, lane * 10, 3);         // broadcast lane 3
  out[32 + lane] = __shfl_up_sync(0xffffffffu, lane, 1);      // lane-1 (lane 0 keeps its own)
  out[64 + lane] = __shfl_xor_sync(0xffffffffu, lane, 1);     // swap pairs
  out[96 + lane] = __ballot_sync(0xffffffffu, lane % 3 == 0); // vote
}

int main() {
  const int n = 1000003, blocks = 120;
  std::vector<int> h(n);
  long long ref = 0;
  for (int i = 0; i < n; ++i) {
    h[i] = (i % 201) - 100;
    ref += h[i];
  }
  int *din, *dpart, *dres;
  CHECK(cudaMalloc(&din, n * sizeof(int)));
  CHECK(cudaMalloc(&dpart, blocks * sizeof(int)));
  CHECK(cudaMalloc(&dres, sizeof(int)));
  CHECK(cudaMemcpy(din, h.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  reduce<<<blocks, 256>>>(din, dpart, n);
  CHECK_LAUNCH();
  reduce<<<1, 256>>>(dpart, dres, blocks);
  CHECK_LAUNCH();
  int res = 0;
  CHECK(cudaMemcpy(&res, dres, sizeof res, cudaMemcpyDeviceToHost));
  EXPECT(res == (int)ref, "sum = %d, want %lld", res, ref);

  int *dsh;
  CHECK(cudaMalloc(&dsh, 128 * sizeof(int)));
  shuffles<<<1, 32>>>(dsh);
  CHECK_LAUNCH();
  int sh[128];
  CHECK(cudaMemcpy(sh, dsh, sizeof sh, cudaMemcpyDeviceToHost));
  unsigned ballot = 0;
  for (int l = 0; l < 32; ++l)
    if (l % 3 == 0)
      ballot |= 1u << l;
  for (int l = 0; l < 32; ++l) {
    EXPECT(sh[l] == 30, "__shfl_sync lane %d = %d", l, sh[l]);
    EXPECT(sh[32 + l] == (l == 0 ? 0 : l - 1), "__shfl_up_sync lane %d = %d", l, sh[32 + l]);
    EXPECT(sh[64 + l] == (l ^ 1), "__shfl_xor_sync lane %d = %d", l, sh[64 + l]);
    EXPECT((unsigned)sh[96 + l] == ballot, "__ballot_sync lane %d = 0x%x, want 0x%x", l, sh[96 + l], ballot);
  }
  CHECK(cudaFree(din));
  CHECK(cudaFree(dpart));
  CHECK(cudaFree(dres));
  CHECK(cudaFree(dsh));
  PASSED("reduction");
  return 0;
}
