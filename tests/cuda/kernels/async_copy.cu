// Asynchronous copies into shared memory: cuda::pipeline with several stages
// and cuda::memcpy_async, a pipeline with producer and consumer roles, cuda::memcpy_async completing on a
// cuda::barrier (cp.async.mbarrier.arrive), cooperative_groups::memcpy_async with cg::wait and
// cg::wait_prior. Each result checked exactly on the host.
#include "check.h"
#include <cooperative_groups.h>
#include <cooperative_groups/memcpy_async.h>
#include <cuda/barrier>
#include <cuda/pipeline>
#include <cuda_runtime.h>
#include <vector>

namespace cg = cooperative_groups;

// The programming guide's multi-stage pipeline: fetch `stages` batches ahead,
// compute on the oldest; each thread reads what another thread's copy wrote.
template <int stages> __global__ void staged(int *out, const int *in, int batches) {
  auto grid = cg::this_grid();
  auto block = cg::this_thread_block();
  extern __shared__ int shared[]; // stages * block.size()
  __shared__ cuda::pipeline_shared_state<cuda::thread_scope_block, stages> state;
  auto pipe = cuda::make_pipeline(block, &state);
  const unsigned n = block.size();
  auto batchAt = [&](int b) { return size_t(blockIdx.x) * n + size_t(grid.size()) * size_t(b); };
  for (int compute = 0, fetch = 0; compute < batches; ++compute) {
    for (; fetch < batches && fetch < compute + stages; ++fetch) {
      pipe.producer_acquire();
      cuda::memcpy_async(block, shared + (fetch % stages) * n, in + batchAt(fetch), sizeof(int) * n, pipe);
      pipe.producer_commit();
    }
    pipe.consumer_wait();
    const int *s = shared + (compute % stages) * n;
    out[batchAt(compute) + threadIdx.x] = s[(threadIdx.x + 1) % n] * 2 + s[threadIdx.x];
    pipe.consumer_release();
  }
}

// A pipeline with roles: the last warp produces (memcpy_async a word per
// lane at a time), the first three warps consume. Consumers run first on
// the CPU, so their consumer_wait must let the producer's copies arrive.
template <int stages> __global__ void roles(int *out, const int *in, int batches) {
  auto block = cg::this_thread_block();
  __shared__ int buf[stages][128];
  __shared__ cuda::pipeline_shared_state<cuda::thread_scope_block, stages> state;
  const bool producer = threadIdx.x >= 96;
  auto pipe = cuda::make_pipeline(block, &state,
                                  producer ? cuda::pipeline_role::producer : cuda::pipeline_role::consumer);
  const int *src = in + size_t(blockIdx.x) * batches * 128;
  if (producer) {
    for (int b = 0; b < batches; ++b) {
      pipe.producer_acquire();
      for (unsigned j = threadIdx.x - 96; j < 128; j += 32)
        cuda::memcpy_async(&buf[b % stages][j], src + b * 128 + j, sizeof(int), pipe);
      pipe.producer_commit();
    }
    return;
  }
  int sum = 0;
  for (int b = 0; b < batches; ++b) {
    pipe.consumer_wait();
    sum += buf[b % stages][(threadIdx.x + unsigned(b)) % 128] * (b + 1);
    pipe.consumer_release();
  }
  out[blockIdx.x * 96 + threadIdx.x] = sum;
}

// cuda::memcpy_async whose completion is a cuda::barrier phase.
__global__ void barrierCopy(int *out, const int *in) {
  __shared__ cuda::barrier<cuda::thread_scope_block> bar;
  __shared__ int s[256];
  auto block = cg::this_thread_block();
  if (block.thread_rank() == 0)
    init(&bar, block.size());
  block.sync();
  for (int r = 0; r < 3; ++r) {
    cuda::memcpy_async(block, s, in + (blockIdx.x * 3 + r) * blockDim.x, sizeof(int) * blockDim.x, bar);
    bar.arrive_and_wait();
    out[(blockIdx.x * 3 + r) * blockDim.x + threadIdx.x] = s[blockDim.x - 1 - threadIdx.x] + r;
    bar.arrive_and_wait(); // s is overwritten next round
  }
}

// cooperative_groups::memcpy_async, then wait_prior<1> (the first copy) and wait (both).
__global__ void cgCopy(int *out, const int *in0, const int *in1) {
  extern __shared__ int sh[]; // 2 * blockDim.x
  auto block = cg::this_thread_block();
  const unsigned n = block.size(), t = threadIdx.x;
  cg::memcpy_async(block, sh, in0 + blockIdx.x * n, sizeof(int) * n);
  cg::memcpy_async(block, sh + n, in1 + blockIdx.x * n, sizeof(int) * n);
  cg::wait_prior<1>(block);
  int v0 = sh[(t + 5) % n];
  cg::wait(block);
  int v1 = sh[n + (t + 7) % n];
  out[blockIdx.x * n + t] = v0 * 3 + v1;
}

int main() {
  {
    const int blocks = 4, n = 128, batches = 7;
    const size_t total = size_t(blocks) * n * batches;
    std::vector<int> in(total), out(total, -1);
    for (size_t i = 0; i < total; ++i)
      in[i] = int((i * 40503u) % 1009);
    int *dIn, *dOut;
    CHECK(cudaMalloc(&dIn, sizeof(int) * total));
    CHECK(cudaMalloc(&dOut, sizeof(int) * total));
    CHECK(cudaMemcpy(dIn, in.data(), sizeof(int) * total, cudaMemcpyHostToDevice));
    for (int stages : {2, 3}) {
      CHECK(cudaMemset(dOut, 0xff, sizeof(int) * total));
      if (stages == 2)
        staged<2><<<blocks, n, 2 * n * sizeof(int)>>>(dOut, dIn, batches);
      else
        staged<3><<<blocks, n, 3 * n * sizeof(int)>>>(dOut, dIn, batches);
      CHECK(cudaGetLastError());
      CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * total, cudaMemcpyDeviceToHost));
      for (int b = 0; b < blocks; ++b)
        for (int k = 0; k < batches; ++k) {
          size_t base = size_t(b) * n + size_t(blocks) * n * k;
          for (int t = 0; t < n; ++t) {
            int want = in[base + (t + 1) % n] * 2 + in[base + t];
            EXPECT(out[base + t] == want, "staged<%d> block %d batch %d thread %d: %d != %d", stages, b, k, t,
                   out[base + t], want);
          }
        }
    }
    CHECK(cudaFree(dIn));
    CHECK(cudaFree(dOut));
  }
  {
    const int blocks = 3, n = 192;
    std::vector<int> in(size_t(blocks) * 3 * n), out(in.size());
    for (size_t i = 0; i < in.size(); ++i)
      in[i] = int(i * 13 % 501);
    int *dIn, *dOut;
    CHECK(cudaMalloc(&dIn, sizeof(int) * in.size()));
    CHECK(cudaMalloc(&dOut, sizeof(int) * in.size()));
    CHECK(cudaMemcpy(dIn, in.data(), sizeof(int) * in.size(), cudaMemcpyHostToDevice));
    barrierCopy<<<blocks, n>>>(dOut, dIn);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * out.size(), cudaMemcpyDeviceToHost));
    for (int b = 0; b < blocks; ++b)
      for (int r = 0; r < 3; ++r)
        for (int t = 0; t < n; ++t) {
          size_t base = size_t(b * 3 + r) * n;
          int want = in[base + n - 1 - t] + r;
          EXPECT(out[base + t] == want, "barrierCopy block %d round %d thread %d: %d != %d", b, r, t,
                 out[base + t], want);
        }
    CHECK(cudaFree(dIn));
    CHECK(cudaFree(dOut));
  }
  {
    const int blocks = 2, n = 96;
    std::vector<int> in0(size_t(blocks) * n), in1(in0.size()), out(in0.size());
    for (size_t i = 0; i < in0.size(); ++i) {
      in0[i] = int(i * 7 % 113);
      in1[i] = int(i * 11 % 127) - 60;
    }
    int *d0, *d1, *dOut;
    CHECK(cudaMalloc(&d0, sizeof(int) * in0.size()));
    CHECK(cudaMalloc(&d1, sizeof(int) * in0.size()));
    CHECK(cudaMalloc(&dOut, sizeof(int) * in0.size()));
    CHECK(cudaMemcpy(d0, in0.data(), sizeof(int) * in0.size(), cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(d1, in1.data(), sizeof(int) * in1.size(), cudaMemcpyHostToDevice));
    cgCopy<<<blocks, n, 2 * n * sizeof(int)>>>(dOut, d0, d1);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * out.size(), cudaMemcpyDeviceToHost));
    for (int b = 0; b < blocks; ++b)
      for (int t = 0; t < n; ++t) {
        int want = in0[size_t(b) * n + (t + 5) % n] * 3 + in1[size_t(b) * n + (t + 7) % n];
        EXPECT(out[size_t(b) * n + t] == want, "cgCopy block %d thread %d: %d != %d", b, t,
               out[size_t(b) * n + t], want);
      }
    CHECK(cudaFree(d0));
    CHECK(cudaFree(d1));
    CHECK(cudaFree(dOut));
  }
  {
    const int blocks = 2, batches = 9;
    std::vector<int> in(size_t(blocks) * batches * 128), out(size_t(blocks) * 96);
    for (size_t i = 0; i < in.size(); ++i)
      in[i] = int(i * 31 % 977);
    int *dIn, *dOut;
    CHECK(cudaMalloc(&dIn, sizeof(int) * in.size()));
    CHECK(cudaMalloc(&dOut, sizeof(int) * out.size()));
    CHECK(cudaMemcpy(dIn, in.data(), sizeof(int) * in.size(), cudaMemcpyHostToDevice));
    roles<2><<<blocks, 128>>>(dOut, dIn, batches);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpy(out.data(), dOut, sizeof(int) * out.size(), cudaMemcpyDeviceToHost));
    for (int b = 0; b < blocks; ++b)
      for (int t = 0; t < 96; ++t) {
        int want = 0;
        for (int k = 0; k < batches; ++k)
          want += in[(size_t(b) * batches + k) * 128 + (t + k) % 128] * (k + 1);
        EXPECT(out[b * 96 + t] == want, "roles block %d consumer %d: %d != %d", b, t, out[b * 96 + t], want);
      }
    CHECK(cudaFree(dIn));
    CHECK(cudaFree(dOut));
  }
  PASSED("async_copy");
  return 0;
}
