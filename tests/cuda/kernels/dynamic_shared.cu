// extern __shared__ with the size given at launch, including a size above the
// 48 KiB default via cudaFuncSetAttribute, and two arrays carved from it.
#include "check.h"
#include <vector>

__global__ void reverse_blocks(const int *in, int *out, int n) {
  extern __shared__ int s[];
  int per_block = blockDim.x;
  int base = blockIdx.x * per_block, t = threadIdx.x;
  if (base + t < n)
    s[t] = in[base + t];
  __syncthreads();
  int r = per_block - 1 - t;
  if (base + r < n && base + t < n)
    out[base + t] = s[r];
}

__global__ void carve(float *out, int nf) {
  extern __shared__ __align__(16) unsigned char raw[];
  float *f = (float *)raw;                                       // nf floats
  double *d = (double *)(raw + ((nf * sizeof(float) + 7) & ~7)); // then doubles, 8-aligned
  int t = threadIdx.x;
  f[t] = t * 1.5f;
  d[t] = t * 0.25;
  __syncthreads();
  out[t] = f[blockDim.x - 1 - t] + (float)d[(t + 1) % blockDim.x];
}

__global__ void big_shared(int *out, int words) {
  extern __shared__ int s[];
  for (int i = threadIdx.x; i < words; i += blockDim.x)
    s[i] = i;
  __syncthreads();
  long long sum = 0;
  for (int i = threadIdx.x; i < words; i += blockDim.x)
    sum += s[words - 1 - i];
  atomicAdd((unsigned long long *)out, (unsigned long long)sum);
}

int main() {
  const int n = 256 * 10;
  std::vector<int> in(n), out(n);
  for (int i = 0; i < n; ++i)
    in[i] = i * 3;
  int *din, *dout;
  CHECK(cudaMalloc(&din, n * sizeof(int)));
  CHECK(cudaMalloc(&dout, n * sizeof(int)));
  CHECK(cudaMemcpy(din, in.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  reverse_blocks<<<n / 256, 256, 256 * sizeof(int)>>>(din, dout, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    int want = in[(i / 256) * 256 + 255 - i % 256];
    EXPECT(out[i] == want, "reverse[%d] = %d, want %d", i, out[i], want);
  }

  const int T = 100;
  float *dcarve;
  CHECK(cudaMalloc(&dcarve, T * sizeof(float)));
  size_t bytes = ((T * sizeof(float) + 7) & ~7) + T * sizeof(double);
  carve<<<1, T, bytes>>>(dcarve, T);
  CHECK_LAUNCH();
  float hc[T];
  CHECK(cudaMemcpy(hc, dcarve, sizeof hc, cudaMemcpyDeviceToHost));
  for (int t = 0; t < T; ++t) {
    float want = (T - 1 - t) * 1.5f + (float)(((t + 1) % T) * 0.25);
    EXPECT(hc[t] == want, "carve[%d] = %g, want %g", t, hc[t], want);
  }

  // 64 KiB of dynamic shared memory needs an opt-in.
  int optin = 0;
  CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  const int words = 16384; // 64 KiB
  EXPECT(optin >= words * 4, "MaxSharedMemoryPerBlockOptin %d < 64 KiB", optin);
  CHECK(cudaFuncSetAttribute(big_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, words * 4));
  unsigned long long *dsum;
  CHECK(cudaMalloc(&dsum, sizeof *dsum));
  CHECK(cudaMemset(dsum, 0, sizeof *dsum));
  big_shared<<<3, 512, words * 4>>>((int *)dsum, words);
  CHECK_LAUNCH();
  unsigned long long sum = 0;
  CHECK(cudaMemcpy(&sum, dsum, sizeof sum, cudaMemcpyDeviceToHost));
  unsigned long long want = 3ull * words * (words - 1) / 2;
  EXPECT(sum == want, "big shared sum %llu, want %llu", sum, want);
  // Too much dynamic shared memory: the launch fails.
  big_shared<<<1, 32, optin + 1024>>>((int *)dsum, words);
  EXPECT_ANY_ERR(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());

  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
  CHECK(cudaFree(dcarve));
  CHECK(cudaFree(dsum));
  PASSED("dynamic_shared");
  return 0;
}
