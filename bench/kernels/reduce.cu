// Sum of 2^24 floats: grid-stride loads, warp shuffles, shared memory across
// warps, one atomicAdd per block; against an OpenMP simd reduction.
#include "common.h"
#include <vector>

constexpr int THREADS = 256, BLOCKS = 1024;

__global__ void reduce(const float *x, int n, float *out) {
  __shared__ float warp_sums[THREADS / 32];
  float s = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    s += x[i];
  for (int o = 16; o > 0; o /= 2)
    s += __shfl_down_sync(0xffffffffu, s, o);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0)
    warp_sums[warp] = s;
  __syncthreads();
  if (warp == 0) {
    s = lane < THREADS / 32 ? warp_sums[lane] : 0.0f;
    for (int o = 16; o > 0; o /= 2)
      s += __shfl_down_sync(0xffffffffu, s, o);
    if (lane == 0)
      atomicAdd(out, s);
  }
}

static float reduce_cpp(const float *x, int n) {
  float s = 0.0f;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
  for (int i = 0; i < n; ++i)
    s += x[i];
  return s;
}

int main() {
  const int n = 1 << 24;
  std::vector<float> x(n);
  double exact = 0;
  for (int i = 0; i < n; ++i)
    exact += x[i] = float(i % 1024) * (1.0f / 1024);
  float *dx, *dsum;
  CK(cudaMalloc(&dx, n * sizeof(float)));
  CK(cudaMalloc(&dsum, sizeof(float)));
  CK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  float got = 0, want = 0;
  auto cuda = [&] {
    CK(cudaMemsetAsync(dsum, 0, sizeof(float)));
    reduce<<<BLOCKS, THREADS>>>(dx, n, dsum);
    CK(cudaDeviceSynchronize());
  };
  auto cpp = [&] { want = reduce_cpp(x.data(), n); };
  compare("reduce", 30, cuda, cpp);
  CK(cudaMemcpy(&got, dsum, sizeof(float), cudaMemcpyDeviceToHost));
  float ex = float(exact);
  check("reduce(cuda vs exact)", &got, &ex, 1, 1e-4f);
  check("reduce(c++ vs exact)", &want, &ex, 1, 1e-4f);
  check("reduce", &got, &want, 1, 1e-4f);
  return 0;
}
