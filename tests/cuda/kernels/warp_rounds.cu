// How the CPU JIT runs per-thread loops and shuffles (translate/cpu/jit): loops
// run in rounds (one iteration of every thread per round), shuffles are read
// inline from the source lane; both must give CUDA's results when threads
// diverge, exit early or loop different numbers of times. Exact integer
// results against a host model of each kernel.
#include "check.h"
#include <vector>

// Grid-stride loop (rounds in lockstep, then a ragged last round) + shuffles
// + shared memory, as in a block reduction; n is not a multiple of the grid.
__global__ void gridStride(const int *x, int n, long long *out) {
  __shared__ int sums[32];
  int s = 0;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    s += x[i];
  for (int o = 16; o > 0; o /= 2)
    s += __shfl_down_sync(0xffffffffu, s, o);
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0)
    sums[warp] = s;
  __syncthreads();
  if (warp == 0) { // the other warps are done: shuffles with exited threads around
    s = lane < (int)(blockDim.x / 32) ? sums[lane] : 0;
    for (int o = 16; o > 0; o /= 2)
      s += __shfl_down_sync(0xffffffffu, s, o);
    if (lane == 0)
      atomicAdd((unsigned long long *)out, (unsigned long long)(long long)s);
  }
}

// Per-thread trip counts that differ, a loop inside a loop, and a loop whose
// counter is used after it.
__global__ void ragged(int *out) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  int acc = 0, k = 0;
  for (int i = 0; i < t % 7; ++i) {
    for (int j = 0; j <= (t + i) % 5; ++j)
      acc += i * 10 + j;
    k = i;
  }
  out[t] = acc * 100 + k;
}

// Every shuffle kind with widths, in a block that is not a multiple of 32
// (the last warp is partial), then again after some lanes of each warp have
// exited (absent lanes: each reader keeps its own value).
__global__ void shuffles(int *out, int exitFrom) {
  int t = threadIdx.x, lane = t % 32;
  int *o = out + t * 8;
  if (lane >= exitFrom) {
    o[4] = o[5] = o[6] = o[7] = -1;
  }
  int v = t * 3 + 1;
  o[0] = __shfl_sync(0xffffffffu, v, 5, 16);
  o[1] = __shfl_up_sync(0xffffffffu, v, 3, 8);
  o[2] = __shfl_down_sync(0xffffffffu, v, 2);
  o[3] = __shfl_xor_sync(0xffffffffu, v, 5);
  if (lane >= exitFrom)
    return;
  unsigned m = exitFrom >= 32 ? 0xffffffffu : (1u << exitFrom) - 1;
  o[4] = __shfl_sync(m, v, 1);
  o[5] = __shfl_up_sync(m, v, 1);
  o[6] = __shfl_down_sync(m, v, 4);
  o[7] = __shfl_xor_sync(m, v, 3);
}

// Host model of PTX shfl.sync for one lane: present = lanes taking part.
static int shflRef(int kind, const std::vector<int> &v, int base, int lane, unsigned present, int b,
                   int width) {
  // CUDA's headers: c = (32 - width) << 8, | 31 except for shfl.up.
  int c = ((32 - width) << 8) | (kind == 1 ? 0 : 31), segMask = (c >> 8) & 31, cval = c & 31;
  int maxLane = (lane & segMask) | (cval & ~segMask), minLane = lane & segMask, j = 0;
  bool in = false;
  switch (kind) {
  case 0:
    j = minLane | (b & 31 & ~segMask);
    in = j <= maxLane;
    break;
  case 1:
    j = lane - b;
    in = j >= maxLane;
    break;
  case 2:
    j = lane + b;
    in = j <= maxLane;
    break;
  default:
    j = lane ^ b;
    in = j <= maxLane;
    break;
  }
  if (!in || j < 0 || j > 31 || !(present >> j & 1u))
    j = lane;
  return v[base + j];
}

int main() {
  // gridStride
  const int n = 1000003, blocks = 37, threads = 256;
  std::vector<int> h(n);
  long long ref = 0;
  for (int i = 0; i < n; ++i) {
    h[i] = (i % 2001) - 1000;
    ref += h[i];
  }
  int *dx;
  long long *dsum;
  CHECK(cudaMalloc(&dx, n * sizeof(int)));
  CHECK(cudaMalloc(&dsum, sizeof(long long)));
  CHECK(cudaMemcpy(dx, h.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  for (int nn : {n, threads * blocks * 3, 5}) {
    long long want = 0;
    for (int i = 0; i < nn; ++i)
      want += h[i];
    CHECK(cudaMemset(dsum, 0, sizeof(long long)));
    gridStride<<<blocks, threads>>>(dx, nn, dsum);
    CHECK_LAUNCH();
    long long got = 0;
    CHECK(cudaMemcpy(&got, dsum, sizeof got, cudaMemcpyDeviceToHost));
    EXPECT(got == want, "gridStride n=%d: %lld, expected %lld", nn, got, want);
  }
  (void)ref;

  // ragged
  const int rt = 3 * 96;
  int *dr;
  CHECK(cudaMalloc(&dr, rt * sizeof(int)));
  // 96 threads a block run the loops in rounds; 32 (too few) run them whole.
  for (int bs : {96, 32}) {
    CHECK(cudaMemset(dr, 0, rt * sizeof(int)));
    ragged<<<rt / bs, bs>>>(dr);
    CHECK_LAUNCH();
    std::vector<int> r(rt);
    CHECK(cudaMemcpy(r.data(), dr, rt * sizeof(int), cudaMemcpyDeviceToHost));
    for (int t = 0; t < rt; ++t) {
      int acc = 0, k = 0;
      for (int i = 0; i < t % 7; ++i) {
        for (int j = 0; j <= (t + i) % 5; ++j)
          acc += i * 10 + j;
        k = i;
      }
      EXPECT(r[t] == acc * 100 + k, "ragged<%d>[%d] = %d, expected %d", bs, t, r[t], acc * 100 + k);
    }
  }

  // shuffles: 80 threads (warps of 32, 32, 16), all lanes, then lanes < 20
  const int st = 80;
  int *ds;
  CHECK(cudaMalloc(&ds, st * 8 * sizeof(int)));
  for (int exitFrom : {32, 20}) {
    shuffles<<<1, st>>>(ds, exitFrom);
    CHECK_LAUNCH();
    std::vector<int> s(st * 8);
    CHECK(cudaMemcpy(s.data(), ds, s.size() * sizeof(int), cudaMemcpyDeviceToHost));
    std::vector<int> v(st);
    for (int t = 0; t < st; ++t)
      v[t] = t * 3 + 1;
    for (int t = 0; t < st; ++t) {
      int lane = t % 32, base = t - lane, lanes = st - base < 32 ? st - base : 32;
      unsigned all = lanes == 32 ? 0xffffffffu : (1u << lanes) - 1;
      int want[8] = {shflRef(0, v, base, lane, all, 5, 16),
                     shflRef(1, v, base, lane, all, 3, 8),
                     shflRef(2, v, base, lane, all, 2, 32),
                     shflRef(3, v, base, lane, all, 5, 32),
                     -1,
                     -1,
                     -1,
                     -1};
      if (lane < exitFrom) {
        unsigned live = all & (exitFrom >= 32 ? 0xffffffffu : (1u << exitFrom) - 1);
        want[4] = shflRef(0, v, base, lane, live, 1, 32);
        want[5] = shflRef(1, v, base, lane, live, 1, 32);
        want[6] = shflRef(2, v, base, lane, live, 4, 32);
        want[7] = shflRef(3, v, base, lane, live, 3, 32);
      }
      for (int k = 0; k < 8; ++k)
        EXPECT(s[t * 8 + k] == want[k], "shuffles(exit %d) thread %d op %d: %d, expected %d", exitFrom, t, k,
               s[t * 8 + k], want[k]);
    }
  }
  CHECK(cudaFree(dx));
  CHECK(cudaFree(dsum));
  CHECK(cudaFree(dr));
  CHECK(cudaFree(ds));
  PASSED("warp_rounds");
}
