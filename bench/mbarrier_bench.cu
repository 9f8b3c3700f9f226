// Cost of a block-wide cuda::barrier arrive_and_wait against __syncthreads on
// cuvirt's CPU device: ROUNDS of each in one block of 256 threads, each round
// a shared-memory exchange, plus a producer/consumer pair of warps on
// mbarriers (parity spins). Prints microseconds per round.
//   nvcc -O2 -arch=sm_80 -o build/bench/mbarrier_bench bench/mbarrier_bench.cu
//   LD_LIBRARY_PATH=build/shims build/bench/mbarrier_bench [rounds]
#include <cstdio>
#include <cstdlib>
#include <cuda/barrier>
#include <cuda_runtime.h>

using block_barrier = cuda::barrier<cuda::thread_scope_block>;

__global__ void withSyncthreads(int *out, int rounds) {
  __shared__ int s[256];
  int v = 0;
  for (int r = 0; r < rounds; ++r) {
    s[threadIdx.x] = v + r;
    __syncthreads();
    v += s[(threadIdx.x + 1) % blockDim.x];
    __syncthreads();
  }
  out[threadIdx.x] = v;
}

__global__ void withBarrier(int *out, int rounds) {
  __shared__ block_barrier bar;
  __shared__ int s[256];
  if (threadIdx.x == 0)
    init(&bar, blockDim.x);
  __syncthreads();
  int v = 0;
  for (int r = 0; r < rounds; ++r) {
    s[threadIdx.x] = v + r;
    bar.arrive_and_wait();
    v += s[(threadIdx.x + 1) % blockDim.x];
    bar.arrive_and_wait();
  }
  out[threadIdx.x] = v;
}

// Warp 0 produces one value a lane per round, warp 1 consumes it.
__global__ void producerConsumer(int *out, int rounds) {
  __shared__ unsigned long long full, empty;
  __shared__ int buf[32];
  unsigned fb = unsigned(__cvta_generic_to_shared(&full)), eb = unsigned(__cvta_generic_to_shared(&empty));
  if (threadIdx.x == 0) {
    asm volatile("mbarrier.init.shared.b64 [%0], 32;" ::"r"(fb));
    asm volatile("mbarrier.init.shared.b64 [%0], 32;" ::"r"(eb));
  }
  __syncthreads();
  int v = 0;
  for (int r = 0; r < rounds; ++r) {
    unsigned ph = unsigned(r) & 1u, done = 0;
    unsigned bar = threadIdx.x < 32 ? eb : fb, want = threadIdx.x < 32 ? ph ^ 1u : ph;
    while (!done)
      asm volatile("{ .reg .pred p; mbarrier.test_wait.parity.shared.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
                   : "=r"(done)
                   : "r"(bar), "r"(want)
                   : "memory");
    if (threadIdx.x < 32)
      buf[threadIdx.x] = r + int(threadIdx.x);
    else
      v += buf[threadIdx.x - 32];
    asm volatile("{ .reg .b64 st; mbarrier.arrive.shared.b64 st, [%0]; }" ::"r"(threadIdx.x < 32 ? fb : eb)
                 : "memory");
  }
  out[threadIdx.x] = v;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? std::atoi(argv[1]) : 20000;
  int *out;
  cudaMalloc(&out, 256 * sizeof(int));
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  auto time = [&](const char *name, auto launch) {
    launch(1); // JIT
    float best = 1e30f;
    for (int k = 0; k < 3; ++k) {
      cudaEventRecord(a);
      launch(rounds);
      cudaEventRecord(b);
      cudaEventSynchronize(b);
      float ms = 0;
      cudaEventElapsedTime(&ms, a, b);
      best = ms < best ? ms : best;
    }
    std::printf("%-40s %8.3f us/round\n", name, best * 1000.0f / float(rounds));
  };
  time("__syncthreads x2, 256 threads", [&](int r) { withSyncthreads<<<1, 256>>>(out, r); });
  time("arrive_and_wait x2, 256 threads", [&](int r) { withBarrier<<<1, 256>>>(out, r); });
  time("producer/consumer warps (mbarrier)", [&](int r) { producerConsumer<<<1, 64>>>(out, r); });
  cudaError_t e = cudaDeviceSynchronize();
  if (e != cudaSuccess) {
    std::printf("FAILED: %s\n", cudaGetErrorString(e));
    return 1;
  }
  return 0;
}
