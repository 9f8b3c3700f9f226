// cuda::barrier (libcu++, lowered to PTX mbarrier.*), raw mbarrier
// producer/consumer loops and cuda-samples' simpleAWBarrier, each result
// checked exactly on the host. Built for sm_80 (test_wait loops) and sm_90
// (try_wait loops); the last kernel never completes its barrier phase and
// must fail the launch, not hang.
#include "check.h"
#include <algorithm>
#include <cmath>
#include <cooperative_groups.h>
#include <cuda/barrier>
#include <cuda_awbarrier_primitives.h>
#include <cuda_runtime.h>
#include <utility>
#include <vector>

using block_barrier = cuda::barrier<cuda::thread_scope_block>;

// simpleAWBarrier-style tiles: all threads load a tile, arrive_and_wait,
// thread 0 folds it into an accumulator, arrive_and_wait, all read it.
__global__ void tiledSum(const int *in, int *seen, int tiles) {
  __shared__ block_barrier bar;
  __shared__ int tile[256];
  __shared__ int acc;
  const unsigned n = blockDim.x, t = threadIdx.x;
  if (t == 0) {
    init(&bar, n);
    acc = 0;
  }
  __syncthreads();
  for (int k = 0; k < tiles; ++k) {
    tile[t] = in[(blockIdx.x * tiles + k) * n + t];
    bar.arrive_and_wait();
    if (t == 0) {
      int s = 0;
      for (unsigned i = 0; i < n; ++i)
        s += tile[i] * (k + 1);
      acc += s;
    }
    bar.arrive_and_wait();
    seen[(blockIdx.x * tiles + k) * n + t] = acc;
  }
}

// arrive, independent work, wait; double-buffered exchange with a neighbour.
__global__ void splitArriveWait(int *out, int rounds) {
  __shared__ block_barrier bar;
  __shared__ int buf[2][256];
  const unsigned n = blockDim.x, t = threadIdx.x;
  if (t == 0)
    init(&bar, n);
  __syncthreads();
  for (int r = 0; r < rounds; ++r) {
    buf[r & 1][t] = int(t) * 7 + r;
    block_barrier::arrival_token tok = bar.arrive();
    int local = 0;
    for (unsigned i = 0; i < t % 17; ++i)
      local += int(i) * r;
    bar.wait(std::move(tok));
    out[(blockIdx.x * rounds + r) * n + t] = buf[r & 1][(t + 1) % n] + local;
  }
}

// arrive_and_drop: thread t takes part in 1 + t % 5 rounds.
__global__ void dropOut(int *out) {
  __shared__ block_barrier bar;
  __shared__ int cnt[8];
  const unsigned n = blockDim.x, t = threadIdx.x;
  if (t == 0)
    init(&bar, n);
  if (t < 8)
    cnt[t] = 0;
  __syncthreads();
  const int iters = 1 + int(t % 5);
  for (int k = 0; k < 8; ++k) {
    if (k == iters) {
      bar.arrive_and_drop();
      break;
    }
    atomicAdd(&cnt[k], 1);
    bar.arrive_and_wait();
    out[k * n + t] = cnt[k];
  }
}

// A barrier for 64 of the block's threads (warps 0-1); the other warps do
// their own work and meet everyone at __syncthreads at the end.
__global__ void subsetBarrier(int *out) {
  __shared__ block_barrier bar;
  __shared__ int s[64];
  __shared__ int other[256];
  const unsigned t = threadIdx.x;
  if (t == 0)
    init(&bar, 64);
  __syncthreads();
  int v = 0;
  if (t < 64) {
    for (int r = 0; r < 8; ++r) {
      s[t] = int(t) + 100 * r;
      bar.arrive_and_wait();
      v += s[63 - t];
      bar.arrive_and_wait();
    }
  } else {
    for (unsigned i = 0; i < t; ++i)
      v += int(i % 3);
  }
  other[t] = v;
  __syncthreads();
  out[t] = v + other[(t + 64) % blockDim.x];
}

// ---- raw mbarrier PTX: producer warp / consumer warps with full and empty
// barriers per stage, phase-parity waits that spin ----------------------------
__device__ __forceinline__ unsigned smem(const void *p) { return unsigned(__cvta_generic_to_shared(p)); }
__device__ __forceinline__ void mbarInit(unsigned long long *b, unsigned count) {
  asm volatile("mbarrier.init.shared.b64 [%0], %1;" ::"r"(smem(b)), "r"(count) : "memory");
}
__device__ __forceinline__ void mbarArrive(unsigned long long *b) {
  asm volatile("{ .reg .b64 st; mbarrier.arrive.shared.b64 st, [%0]; }" ::"r"(smem(b)) : "memory");
}
__device__ __forceinline__ bool mbarPoll(unsigned long long *b, unsigned parity) {
  unsigned done;
#if __CUDA_ARCH__ >= 900
  asm volatile("{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
               : "=r"(done)
               : "r"(smem(b)), "r"(parity)
               : "memory");
#else
  asm volatile("{ .reg .pred p; mbarrier.test_wait.parity.shared.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
               : "=r"(done)
               : "r"(smem(b)), "r"(parity)
               : "memory");
#endif
  return done != 0;
}
__device__ __forceinline__ void mbarWaitParity(unsigned long long *b, unsigned parity) {
  while (!mbarPoll(b, parity)) {
  }
}

constexpr int kStages = 2, kConsumers = 96, kItems = 12;

__global__ void producerConsumer(int *out) {
  __shared__ unsigned long long full[kStages], empty[kStages];
  __shared__ int buf[kStages][kConsumers];
  const unsigned t = threadIdx.x;
  if (t == 0)
    for (int s = 0; s < kStages; ++s) {
      mbarInit(&full[s], 32);
      mbarInit(&empty[s], kConsumers);
    }
  __syncthreads();
  if (t >=
      kConsumers) { // the producer is the last warp (it runs after the consumers on the CPU): 3 values a lane
    unsigned lane = t - kConsumers;
    for (int it = 0; it < kItems; ++it) {
      int s = it % kStages;
      unsigned ph = unsigned(it / kStages) & 1u;
      mbarWaitParity(&empty[s], ph ^ 1u); // the first pass finds the buffers free
      for (int j = 0; j < 3; ++j)
        buf[s][lane * 3 + j] = it * 1000 + int(lane) * 3 + j + int(blockIdx.x) * 100000;
      mbarArrive(&full[s]);
    }
  } else {
    unsigned c = t;
    long long sum = 0;
    for (int it = 0; it < kItems; ++it) {
      int s = it % kStages;
      unsigned ph = unsigned(it / kStages) & 1u;
      mbarWaitParity(&full[s], ph);
      sum += (long long)buf[s][(c + unsigned(it)) % kConsumers] * (it + 1);
      mbarArrive(&empty[s]);
    }
    out[blockIdx.x * kConsumers + c] = int(sum % 1000000007);
  }
}

// The __mbarrier_* primitives (cuda_awbarrier_primitives.h): token waits,
// then arrive_and_drop by the last warp, then a phase of the other three
// warps alone, waited on by phase parity (sm_90; by token below).
__global__ void awPrimitives(int *out) {
  __shared__ __mbarrier_t bar;
  __shared__ int s[128];
  const unsigned n = blockDim.x, t = threadIdx.x;
  if (t == 0)
    __mbarrier_init(&bar, n);
  __syncthreads();
  int acc = 0;
  for (int r = 0; r < 4; ++r) {
    s[t] = int(t) + r * 1000;
    __mbarrier_token_t tok = r == 3 && t >= 96 ? __mbarrier_arrive_and_drop(&bar) : __mbarrier_arrive(&bar);
#if __CUDA_ARCH__ >= 900
    while (!__mbarrier_try_wait(&bar, tok, 1000)) {
    }
#else
    while (!__mbarrier_test_wait(&bar, tok)) {
    }
#endif
    acc += s[(t + 1) % n];
    __syncthreads(); // s is rewritten next round
  }
  if (t < 96) {
    s[t] = int(t) * 3;
    __mbarrier_token_t tok = __mbarrier_arrive(&bar);
#if __CUDA_ARCH__ >= 900 // the parity primitives trap below sm_90
    (void)tok;
    while (!__mbarrier_test_wait_parity(&bar, false)) { // phase 4 (parity 0)
    }
#else
    while (!__mbarrier_test_wait(&bar, tok)) {
    }
#endif
    acc += s[95 - t];
    __mbarrier_inval(&bar);
  }
  out[t] = acc;
}

// cuda-samples' simpleAWBarrier: warp shuffles, arrive / wait on a
// cuda::barrier, warp 0 sums the warps' partials; grid syncs between phases
// (a cooperative launch).
namespace cg = cooperative_groups;
__device__ void reduceBlockData(block_barrier &bar, cg::thread_block_tile<32> &tile32, double &threadSum,
                                double *result) {
  extern __shared__ double tmp[];
  for (int offset = tile32.size() / 2; offset > 0; offset /= 2)
    threadSum += tile32.shfl_down(threadSum, offset);
  if (tile32.thread_rank() == 0)
    tmp[tile32.meta_group_rank()] = threadSum;
  block_barrier::arrival_token token = bar.arrive();
  bar.wait(std::move(token));
  if (tile32.meta_group_rank() == 0) {
    double beta = tile32.thread_rank() < tile32.meta_group_size() ? tmp[tile32.thread_rank()] : 0.0;
    for (int offset = tile32.size() / 2; offset > 0; offset /= 2)
      beta += tile32.shfl_down(beta, offset);
    if (tile32.thread_rank() == 0)
      *result = beta;
  }
}

__global__ void normVecByDotProductAWBarrier(float *vecA, float *vecB, double *partial, int size) {
  cg::thread_block cta = cg::this_thread_block();
  cg::grid_group grid = cg::this_grid();
  cg::thread_block_tile<32> tile32 = cg::tiled_partition<32>(cta);
  __shared__ block_barrier bar;
  if (threadIdx.x == 0)
    init(&bar, blockDim.x);
  cg::sync(cta);
  double threadSum = 0.0;
  for (int i = grid.thread_rank(); i < size; i += grid.size())
    threadSum += (double)(vecA[i] * vecB[i]);
  reduceBlockData(bar, tile32, threadSum, &partial[blockIdx.x]);
  cg::sync(grid);
  if (blockIdx.x == 0) {
    threadSum = 0.0;
    for (int i = cta.thread_rank(); i < gridDim.x; i += cta.size())
      threadSum += partial[i];
    reduceBlockData(bar, tile32, threadSum, &partial[0]);
    if (cta.thread_rank() == 0)
      partial[0] = sqrt(partial[0]);
  }
  cg::sync(grid);
  float finalValue = partial[0];
  for (int i = grid.thread_rank(); i < size; i += grid.size()) {
    vecA[i] = vecA[i] / finalValue;
    vecB[i] = vecB[i] / finalValue;
  }
}

// Every thread waits for a phase that needs one arrival more than the block
// has: nothing can complete it.
__global__ void deadlock(int *out) {
  __shared__ block_barrier bar;
  if (threadIdx.x == 0)
    init(&bar, blockDim.x + 1);
  __syncthreads();
  bar.arrive_and_wait();
  out[threadIdx.x] = 1;
}

int main() {
  const int blocks = 3, n = 256, tiles = 5;
  int *dIn, *dOut;
  CHECK(cudaMalloc(&dIn, sizeof(int) * blocks * tiles * n));
  CHECK(cudaMalloc(&dOut, sizeof(int) * blocks * 16 * n));

  {
    std::vector<int> in(size_t(blocks) * tiles * n), seen(in.size());
    for (size_t i = 0; i < in.size(); ++i)
      in[i] = int((i * 2654435761u) % 97) - 48;
    CHECK(cudaMemcpy(dIn, in.data(), sizeof(int) * in.size(), cudaMemcpyHostToDevice));
    tiledSum<<<blocks, n>>>(dIn, dOut, tiles);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(seen.data(), dOut, sizeof(int) * seen.size(), cudaMemcpyDeviceToHost));
    for (int b = 0; b < blocks; ++b) {
      int acc = 0;
      for (int k = 0; k < tiles; ++k) {
        int s = 0;
        for (int i = 0; i < n; ++i)
          s += in[size_t(b * tiles + k) * n + i] * (k + 1);
        acc += s;
        for (int t = 0; t < n; ++t)
          EXPECT(seen[size_t(b * tiles + k) * n + t] == acc, "tiledSum block %d tile %d thread %d: %d != %d",
                 b, k, t, seen[size_t(b * tiles + k) * n + t], acc);
      }
    }
  }
  {
    const int rounds = 6, bn = 200;
    std::vector<int> out(size_t(blocks) * rounds * bn);
    splitArriveWait<<<blocks, bn>>>(dOut, rounds);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * out.size(), cudaMemcpyDeviceToHost));
    for (int b = 0; b < blocks; ++b)
      for (int r = 0; r < rounds; ++r)
        for (int t = 0; t < bn; ++t) {
          int local = 0;
          for (int i = 0; i < t % 17; ++i)
            local += i * r;
          int want = ((t + 1) % bn) * 7 + r + local;
          EXPECT(out[size_t(b * rounds + r) * bn + t] == want, "split block %d round %d thread %d: %d != %d",
                 b, r, t, out[size_t(b * rounds + r) * bn + t], want);
        }
  }
  {
    const int bn = 160;
    std::vector<int> out(size_t(8) * bn, -1);
    CHECK(cudaMemset(dOut, 0xff, sizeof(int) * out.size()));
    dropOut<<<1, bn>>>(dOut);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * out.size(), cudaMemcpyDeviceToHost));
    for (int k = 0; k < 8; ++k) {
      int want = 0;
      for (int t = 0; t < bn; ++t)
        want += 1 + t % 5 > k;
      for (int t = 0; t < bn; ++t) {
        int w = 1 + t % 5 > k ? want : -1;
        EXPECT(out[size_t(k) * bn + t] == w, "dropOut round %d thread %d: %d != %d", k, t,
               out[size_t(k) * bn + t], w);
      }
    }
  }
  {
    std::vector<int> out(n);
    subsetBarrier<<<1, n>>>(dOut);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * n, cudaMemcpyDeviceToHost));
    std::vector<int> v(n);
    for (int t = 0; t < n; ++t) {
      v[t] = 0;
      if (t < 64)
        for (int r = 0; r < 8; ++r)
          v[t] += 63 - t + 100 * r;
      else
        for (int i = 0; i < t; ++i)
          v[t] += i % 3;
    }
    for (int t = 0; t < n; ++t)
      EXPECT(out[t] == v[t] + v[(t + 64) % n], "subsetBarrier thread %d: %d != %d", t, out[t],
             v[t] + v[(t + 64) % n]);
  }
  {
    std::vector<int> out(size_t(blocks) * kConsumers);
    producerConsumer<<<blocks, 32 + kConsumers>>>(dOut);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * out.size(), cudaMemcpyDeviceToHost));
    for (int b = 0; b < blocks; ++b)
      for (int c = 0; c < kConsumers; ++c) {
        long long sum = 0;
        for (int it = 0; it < kItems; ++it)
          sum += (long long)(it * 1000 + (c + it) % kConsumers + b * 100000) * (it + 1);
        EXPECT(out[size_t(b) * kConsumers + c] == int(sum % 1000000007),
               "producerConsumer block %d consumer %d: %d != %d", b, c, out[size_t(b) * kConsumers + c],
               int(sum % 1000000007));
      }
  }
  {
    const int bn = 128;
    std::vector<int> out(bn);
    awPrimitives<<<1, bn>>>(dOut);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * bn, cudaMemcpyDeviceToHost));
    for (int t = 0; t < bn; ++t) {
      int want = 0;
      for (int r = 0; r < 4; ++r)
        want += (t + 1) % bn + r * 1000;
      if (t < 96)
        want += (95 - t) * 3;
      EXPECT(out[t] == want, "awPrimitives thread %d: %d != %d", t, out[t], want);
    }
  }
  {
    // Integer-valued products: the dot product is exact, so is every quotient.
    const int size = 10000, threads = 256;
    int perSm = 0, sms = 0, coop = 0;
    CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, 0));
    CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, normVecByDotProductAWBarrier, threads,
                                                        threads / 32 * sizeof(double)));
    const int grid = std::min(4, perSm * sms);
    EXPECT(coop == 1 && grid >= 1, "cooperative launch: attribute %d, %d blocks", coop, grid);
    std::vector<float> a(size), b(size), ra(size), rb(size);
    double dot = 0;
    for (int i = 0; i < size; ++i) {
      a[i] = float(i % 13 + 1);
      b[i] = float(i % 7 + 1);
      dot += double(a[i] * b[i]);
    }
    const float fv = float(std::sqrt(dot));
    float *dA, *dB;
    double *dP;
    CHECK(cudaMalloc(&dA, size * sizeof(float)));
    CHECK(cudaMalloc(&dB, size * sizeof(float)));
    CHECK(cudaMalloc(&dP, 4 * sizeof(double)));
    CHECK(cudaMemcpy(dA, a.data(), size * sizeof(float), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(dB, b.data(), size * sizeof(float), cudaMemcpyHostToDevice));
    int n = size;
    void *args[] = {&dA, &dB, &dP, &n};
    CHECK(cudaLaunchCooperativeKernel((void *)normVecByDotProductAWBarrier, grid, threads, args,
                                      threads / 32 * sizeof(double), 0));
    CHECK(cudaDeviceSynchronize());
    CHECK(cudaMemcpy(ra.data(), dA, size * sizeof(float), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(rb.data(), dB, size * sizeof(float), cudaMemcpyDeviceToHost));
    for (int i = 0; i < size; ++i)
      EXPECT(ra[i] == a[i] / fv && rb[i] == b[i] / fv, "simpleAWBarrier %d: %g %g != %g %g", i, ra[i], rb[i],
             a[i] / fv, b[i] / fv);
    CHECK(cudaFree(dA));
    CHECK(cudaFree(dB));
    CHECK(cudaFree(dP));
  }
  // Last: a failed launch leaves the context unusable (sticky, as on a GPU).
  deadlock<<<2, 64>>>(dOut);
  cudaError_t e = cudaDeviceSynchronize();
  EXPECT(e == cudaErrorLaunchFailure, "deadlocked barrier: %s, expected cudaErrorLaunchFailure",
         cudaGetErrorName(e));
  PASSED("async_barrier");
  return 0;
}
