// Kernels for the CPU JIT's PTX-level tests (compiled with nvcc -ptx at build time).
#include <cstdio>

extern "C" __global__ void vecAdd(const float *a, const float *b, float *c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    c[i] = a[i] + b[i];
}

extern "C" __global__ void blockSum(const int *in, int *out) {
  __shared__ int s[256];
  unsigned tid = threadIdx.x;
  s[tid] = in[blockIdx.x * blockDim.x + tid];
  __syncthreads();
  for (unsigned st = blockDim.x / 2; st > 0; st >>= 1) {
    if (tid < st)
      s[tid] += s[tid + st];
    __syncthreads();
  }
  if (tid == 0)
    out[blockIdx.x] = s[0];
}

extern "C" __global__ void warpSum(const int *in, int *out) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = in[i];
  for (int off = 16; off > 0; off /= 2)
    v += __shfl_down_sync(0xffffffffu, v, off);
  unsigned odd = __ballot_sync(0xffffffffu, in[i] & 1);
  if ((threadIdx.x & 31) == 0) {
    out[2 * (i / 32)] = v;
    out[2 * (i / 32) + 1] = int(odd);
  }
}

#define TILE 16
extern "C" __global__ void sgemm(const float *A, const float *B, float *C, int n) {
  __shared__ float As[TILE][TILE];
  __shared__ float Bs[TILE][TILE];
  int tx = threadIdx.x, ty = threadIdx.y;
  int row = blockIdx.y * TILE + ty, col = blockIdx.x * TILE + tx;
  float sum = 0;
  for (int t = 0; t < n / TILE; ++t) {
    As[ty][tx] = A[row * n + t * TILE + tx];
    Bs[ty][tx] = B[(t * TILE + ty) * n + col];
    __syncthreads();
    for (int k = 0; k < TILE; ++k)
      sum += As[ty][k] * Bs[k][tx];
    __syncthreads();
  }
  C[row * n + col] = sum;
}

extern "C" __global__ void reverseDyn(int *data) {
  extern __shared__ int buf[];
  int t = threadIdx.x, n = blockDim.x;
  buf[t] = data[blockIdx.x * n + t];
  __syncthreads();
  data[blockIdx.x * n + t] = buf[n - 1 - t];
}

extern "C" __global__ void hello(int x) {
  if (threadIdx.x == 0)
    printf("hello from block %d: x=%d f=%.2f s=%s\n", blockIdx.x, x, 1.5, "ok");
}

// A block reduction as CUDA samples write it: grid-stride accumulation, warp
// shuffles, shared memory across warps, one atomic per block.
extern "C" __global__ void gridReduce(const float *x, int n, float *out) {
  __shared__ float warpSums[32];
  float s = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    s += x[i];
  for (int o = 16; o > 0; o /= 2)
    s += __shfl_down_sync(0xffffffffu, s, o);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0)
    warpSums[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < int(blockDim.x / 32) ? warpSums[lane] : 0.0f;
    for (int o = 16; o > 0; o /= 2)
      s += __shfl_down_sync(0xffffffffu, s, o);
    if (lane == 0)
      atomicAdd(out, s);
  }
}
