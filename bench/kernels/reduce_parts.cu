// Diagnostic (not in the table): where reduce.cu's time goes on cuvirt.
// Times its two halves as separate kernels: the grid-stride accumulation,
// and the warp-shuffle + shared-memory + atomicAdd tail (per block).
//   nvcc -O3 -arch=sm_75 -Xcompiler -fopenmp -lgomp -o build/bench/kernels/reduce_parts \
//     bench/kernels/reduce_parts.cu && build/tools/cuvirt-run -- build/bench/kernels/reduce_parts [part]
// With a part (omp, full, accumulate, chunked, tail, tail64k) only that one runs (for perf);
// REPS=n runs each n times (default 11; the best is printed).
#include "common.h"
#include <cstring>
#include <vector>

constexpr int THREADS = 256, BLOCKS = 1024;

__global__ void accumulate(const float *x, int n, float *out) { // reduce.cu's loop
  float s = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    s += x[i];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

__global__ void accumulate_chunked(const float *x, int n, float *out) { // each block its own chunk
  float s = 0.0f;
  int per = n / gridDim.x;
  for (int i = blockIdx.x * per + threadIdx.x; i < (blockIdx.x + 1) * per; i += blockDim.x)
    s += x[i];
  out[blockIdx.x * blockDim.x + threadIdx.x] = s;
}

__global__ void tail(const float *x, float *out) { // reduce.cu's block tail, one value a thread
  __shared__ float warp_sums[THREADS / 32];
  float s = x[blockIdx.x * blockDim.x + threadIdx.x];
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

__global__ void full(const float *x, int n, float *out) { // reduce.cu's kernel, both halves
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

static float reduce_cpp(const float *x, int n) { // reduce.cu's comparator
  float s = 0.0f;
#pragma omp parallel for simd reduction(+ : s) schedule(static)
  for (int i = 0; i < n; ++i)
    s += x[i];
  return s;
}

int main(int argc, char **argv) {
  const int n = 1 << 24;
  float *x, *out;
  CK(cudaMalloc(&x, n * sizeof(float)));
  CK(cudaMalloc(&out, n * sizeof(float)));
  CK(cudaMemset(x, 0, n * sizeof(float)));
  const int reps = std::getenv("REPS") ? std::atoi(std::getenv("REPS")) : 11; // noisy machine: more
  auto best = [&](const char *what, auto launch) {
    std::size_t len = std::strcspn(what, " ,:");
    if (argc > 1 && (std::strlen(argv[1]) != len || std::strncmp(what, argv[1], len) != 0))
      return;
    double b = 1e30;
    for (int r = 0; r < reps; ++r) { // the first run JIT-compiles: not counted
      double t = time_ms([&] {
        launch();
        CK(cudaDeviceSynchronize());
      });
      if (r)
        b = std::min(b, t);
    }
    std::printf("%-44s %8.2f ms\n", what, b);
  };
  std::vector<float> hx(n, 1.0f);
  volatile float sink = 0;
  best("omp: reduce.cu's C++ comparator", [&] { sink = reduce_cpp(hx.data(), n); });
  best("full: reduce.cu's kernel (1024x256)", [&] { full<<<BLOCKS, THREADS>>>(x, n, out); });
  best("accumulate: grid-stride (1024x256)", [&] { accumulate<<<BLOCKS, THREADS>>>(x, n, out); });
  best("chunked: accumulate, chunk per block (1024x256)",
       [&] { accumulate_chunked<<<BLOCKS, THREADS>>>(x, n, out); });
  best("tail: shuffles only (1024x256)", [&] { tail<<<BLOCKS, THREADS>>>(x, out); });
  best("tail64k: shuffles only (65536x256)", [&] { tail<<<n / THREADS, THREADS>>>(x, out); });
  return 0;
}
