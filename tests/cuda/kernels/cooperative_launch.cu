// Cooperative launch with grid-wide sync: a multi-phase algorithm (sum of
// squares per block, grid sync, a total, grid sync, normalisation), a grid
// barrier checked by counting arrivals, this_grid()'s ranks and validity;
// cudaLaunchCooperativeKernel and cudaLaunchKernelEx with the cooperative
// attribute; a grid larger than the device holds at once is refused.
#include "check.h"
#include <cmath>
#include <cooperative_groups.h>
#include <vector>

namespace cg = cooperative_groups;

constexpr int kRounds = 8;

// in[n] -> out[n] = in / sqrt(sum(in^2)). partial[] holds one sum per block.
// arrivals: each round every block adds one, syncs, and records what it saw
// (gridDim.x * (round + 1) if the barrier holds).
__global__ void normalize(const float *in, float *out, float *partial, float *norm, int n, unsigned *arrivals,
                          unsigned *seen, unsigned long long *ranks, int *info) {
  cg::grid_group grid = cg::this_grid();
  cg::thread_block block = cg::this_thread_block();
  __shared__ float s[256];

  // phase 1: per-block sums of squares (grid-stride)
  float acc = 0;
  for (unsigned long long i = grid.thread_rank(); i < (unsigned long long)n; i += grid.size())
    acc += in[i] * in[i];
  s[threadIdx.x] = acc;
  block.sync();
  for (unsigned w = blockDim.x / 2; w > 0; w /= 2) {
    if (threadIdx.x < w)
      s[threadIdx.x] += s[threadIdx.x + w];
    block.sync();
  }
  if (threadIdx.x == 0)
    partial[blockIdx.x] = s[0];
  grid.sync();

  // phase 2: one block totals the partial sums
  if (grid.block_rank() == 0 && threadIdx.x == 0) {
    float t = 0;
    for (unsigned b = 0; b < gridDim.x; ++b)
      t += partial[b];
    *norm = sqrtf(t);
  }
  grid.sync();

  // phase 3: everyone reads the total
  const float r = 1.0f / *norm;
  for (unsigned long long i = grid.thread_rank(); i < (unsigned long long)n; i += grid.size())
    out[i] = in[i] * r;

  // the barrier itself, many times
  for (int round = 0; round < kRounds; ++round) {
    if (threadIdx.x == 0)
      atomicAdd(arrivals, 1u);
    grid.sync();
    if (threadIdx.x == 0)
      seen[round * gridDim.x + blockIdx.x] = atomicAdd(arrivals, 0u);
    grid.sync();
  }
  ranks[grid.thread_rank()] = grid.block_rank() * 1000000ull + block.thread_rank();
  if (grid.thread_rank() == 0) {
    info[0] = grid.is_valid();
    info[1] = (int)grid.num_blocks();
    info[2] = (int)grid.size();
  }
}

__global__ void validity(int *out) {
  if (threadIdx.x == 0)
    out[blockIdx.x] = cg::this_grid().is_valid() ? 1 : 2;
}

struct Buffers {
  float *in, *out, *partial, *norm;
  unsigned *arrivals, *seen;
  unsigned long long *ranks;
  int *info;
};

static void check(const char *how, const Buffers &b, const std::vector<float> &x, int blocks, int threads) {
  const int n = (int)x.size();
  std::vector<float> y(n);
  CHECK(cudaMemcpy(y.data(), b.out, n * sizeof(float), cudaMemcpyDeviceToHost));
  double ss = 0;
  for (float v : x)
    ss += double(v) * v;
  const double norm = std::sqrt(ss);
  int bad = 0;
  for (int i = 0; i < n && bad < 5; ++i)
    if (std::fabs(y[i] - x[i] / norm) > 1e-5 * std::fabs(x[i] / norm) + 1e-7) {
      EXPECT(false, "%s: out[%d] = %g, want %g", how, i, y[i], x[i] / norm);
      ++bad;
    }
  std::vector<unsigned> seen(kRounds * blocks);
  CHECK(cudaMemcpy(seen.data(), b.seen, seen.size() * sizeof(unsigned), cudaMemcpyDeviceToHost));
  for (int r = 0; r < kRounds; ++r)
    for (int k = 0; k < blocks; ++k)
      EXPECT(seen[r * blocks + k] == unsigned(blocks * (r + 1)),
             "%s: round %d block %d saw %u arrivals, want %d", how, r, k, seen[r * blocks + k],
             blocks * (r + 1));
  std::vector<unsigned long long> ranks(blocks * threads);
  CHECK(cudaMemcpy(ranks.data(), b.ranks, ranks.size() * sizeof(unsigned long long), cudaMemcpyDeviceToHost));
  for (int i = 0; i < blocks * threads; ++i)
    if (ranks[i] != (unsigned long long)(i / threads) * 1000000ull + i % threads) {
      EXPECT(false, "%s: grid thread %d has rank entry %llu", how, i, ranks[i]);
      break;
    }
  int info[3];
  CHECK(cudaMemcpy(info, b.info, sizeof info, cudaMemcpyDeviceToHost));
  EXPECT(info[0] == 1, "%s: this_grid().is_valid() = %d in a cooperative launch", how, info[0]);
  EXPECT(info[1] == blocks, "%s: num_blocks() = %d, want %d", how, info[1], blocks);
  EXPECT(info[2] == blocks * threads, "%s: size() = %d, want %d", how, info[2], blocks * threads);
}

int main() {
  int dev = 0, coop = 0, sms = 0;
  CHECK(cudaSetDevice(dev));
  CHECK(cudaDeviceGetAttribute(&coop, cudaDevAttrCooperativeLaunch, dev));
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
  EXPECT(coop == 1, "cudaDevAttrCooperativeLaunch = %d", coop);

  const int threads = 256;
  int perSm = 0;
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, normalize, threads, 0));
  EXPECT(perSm > 0, "occupancy %d", perSm);
  // a grid that fits (at most 16 blocks: every block gets its own CPU thread)
  const int maxBlocks = perSm * sms;
  const int blocks = maxBlocks < 16 ? maxBlocks : 16;
  const int n = 100003;
  std::vector<float> x(n);
  for (int i = 0; i < n; ++i)
    x[i] = float((i * 37) % 101) - 50.0f;

  Buffers b;
  CHECK(cudaMalloc(&b.in, n * sizeof(float)));
  CHECK(cudaMalloc(&b.out, n * sizeof(float)));
  CHECK(cudaMalloc(&b.partial, maxBlocks * sizeof(float)));
  CHECK(cudaMalloc(&b.norm, sizeof(float)));
  CHECK(cudaMalloc(&b.arrivals, sizeof(unsigned)));
  CHECK(cudaMalloc(&b.seen, kRounds * maxBlocks * sizeof(unsigned)));
  CHECK(cudaMalloc(&b.ranks, (size_t)maxBlocks * threads * sizeof(unsigned long long)));
  CHECK(cudaMalloc(&b.info, 3 * sizeof(int)));
  CHECK(cudaMemcpy(b.in, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));

  int nn = n;
  void *args[] = {&b.in, &b.out, &b.partial, &b.norm, &nn, &b.arrivals, &b.seen, &b.ranks, &b.info};

  // 1. cudaLaunchCooperativeKernel
  CHECK(cudaMemset(b.arrivals, 0, sizeof(unsigned)));
  CHECK(cudaMemset(b.out, 0, n * sizeof(float)));
  CHECK(cudaLaunchCooperativeKernel((void *)normalize, dim3(blocks), dim3(threads), args, 0, 0));
  CHECK_LAUNCH();
  check("cudaLaunchCooperativeKernel", b, x, blocks, threads);

  // 2. cudaLaunchKernelEx with cudaLaunchAttributeCooperative, a different grid
  const int blocks2 = blocks > 1 ? blocks - 1 : 1;
  CHECK(cudaMemset(b.arrivals, 0, sizeof(unsigned)));
  CHECK(cudaMemset(b.out, 0, n * sizeof(float)));
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(blocks2);
  cfg.blockDim = dim3(threads);
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  CHECK(cudaLaunchKernelEx(&cfg, normalize, (const float *)b.in, b.out, b.partial, b.norm, nn, b.arrivals,
                           b.seen, b.ranks, b.info));
  CHECK_LAUNCH();
  check("cudaLaunchKernelEx(cooperative)", b, x, blocks2, threads);

  // 3. more blocks than the device holds at once
  EXPECT_ERR(cudaLaunchCooperativeKernel((void *)normalize, dim3(maxBlocks + 1), dim3(threads), args, 0, 0),
             cudaErrorCooperativeLaunchTooLarge);
  (void)cudaGetLastError(); // a launch error is not sticky
  CHECK(cudaDeviceSynchronize());

  // 4. this_grid() is invalid outside a cooperative launch, valid inside one
  int *valid;
  CHECK(cudaMalloc(&valid, 2 * sizeof(int)));
  validity<<<2, 32>>>(valid);
  CHECK_LAUNCH();
  int v[2];
  CHECK(cudaMemcpy(v, valid, sizeof v, cudaMemcpyDeviceToHost));
  EXPECT(v[0] == 2 && v[1] == 2, "this_grid().is_valid() in a plain launch: %d %d", v[0], v[1]);
  void *vargs[] = {&valid};
  CHECK(cudaLaunchCooperativeKernel((void *)validity, dim3(2), dim3(32), vargs, 0, 0));
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(v, valid, sizeof v, cudaMemcpyDeviceToHost));
  EXPECT(v[0] == 1 && v[1] == 1, "this_grid().is_valid() in a cooperative launch: %d %d", v[0], v[1]);

  CHECK(cudaFree(valid));
  CHECK(cudaFree(b.in));
  CHECK(cudaFree(b.out));
  CHECK(cudaFree(b.partial));
  CHECK(cudaFree(b.norm));
  CHECK(cudaFree(b.arrivals));
  CHECK(cudaFree(b.seen));
  CHECK(cudaFree(b.ranks));
  CHECK(cudaFree(b.info));
  PASSED("cooperative_launch");
  return 0;
}
