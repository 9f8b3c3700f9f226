// bench/kernels/reduce.cu's sum of 2^24 floats written the legacy way
// (cuda-samples reduce6): a shared-memory tree down to one warp, then six
// volatile shared steps without __syncwarp. The CPU JIT makes each volatile
// shared access a warp synchronisation point (docs/ARCHITECTURE.md); this
// measures what they cost against the shuffle version and OpenMP.
//   nvcc -O3 -std=c++17 -arch=sm_75 -Xcompiler "-O3 -march=native -fopenmp" -lgomp \
//     -o build/bench/kernels/reduce_warpsync bench/kernels/reduce_warpsync.cu
#include "common.h"
#include <vector>

constexpr int THREADS = 256, BLOCKS = 1024;

__global__ void reduce(const float *x, int n, float *out) {
  __shared__ float s[THREADS];
  unsigned tid = threadIdx.x;
  float sum = 0.0f;
  for (int i = blockIdx.x * blockDim.x + tid; i < n; i += gridDim.x * blockDim.x)
    sum += x[i];
  s[tid] = sum;
  __syncthreads();
  for (unsigned st = THREADS / 2; st > 32; st >>= 1) {
    if (tid < st)
      s[tid] = sum = sum + s[tid + st];
    __syncthreads();
  }
  if (tid < 32) {
    volatile float *v = s;
    v[tid] = sum = sum + v[tid + 32];
    v[tid] = sum = sum + v[tid + 16];
    v[tid] = sum = sum + v[tid + 8];
    v[tid] = sum = sum + v[tid + 4];
    v[tid] = sum = sum + v[tid + 2];
    v[tid] = sum = sum + v[tid + 1];
    if (tid == 0)
      atomicAdd(out, sum);
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
  compare("reduce_warpsync", 30, cuda, cpp);
  CK(cudaMemcpy(&got, dsum, sizeof(float), cudaMemcpyDeviceToHost));
  float ex = float(exact);
  check("reduce_warpsync(cuda vs exact)", &got, &ex, 1, 1e-4f);
  check("reduce_warpsync", &got, &want, 1, 1e-4f);
  return 0;
}
