// Device functions that stay out of line on the CPU JIT (recursive ones and
// ones called through a function pointer) reading the thread's coordinates:
// threadIdx/blockIdx/blockDim/gridDim, %laneid, %warpid, lane masks, a
// thread_block_tile's rank, clock64, dynamic and static shared memory.
// Also built with -G (outofline_calls-debug), where nothing is inlined.
#include "check.h"
#include <cooperative_groups.h>
#include <stdint.h>

namespace cg = cooperative_groups;

enum {
  kTidX,
  kTidY,
  kBidX,
  kBidY,
  kBdimX,
  kGdimX,
  kLane,
  kLmLt,
  kTileRank,
  kWarp,
  kClockOk,
  kDyn,
  kSum,
  kFields
};

__device__ __forceinline__ unsigned laneid() {
  unsigned r;
  asm volatile("mov.u32 %0, %%laneid;" : "=r"(r));
  return r;
}
__device__ __forceinline__ unsigned warpid() {
  unsigned r;
  asm volatile("mov.u32 %0, %%warpid;" : "=r"(r));
  return r;
}
__device__ __forceinline__ unsigned lanemask_lt() {
  unsigned r;
  asm volatile("mov.u32 %0, %%lanemask_lt;" : "=r"(r));
  return r;
}

extern __shared__ int dyn[];

// Recurses `depth` times; the coordinates are read at the bottom (so each
// level must pass them on), the sum adds threadIdx.x at every level.
__device__ __noinline__ int walk(int depth, int *rec, long long start) {
  if (depth > 0)
    return walk(depth - 1, rec, start) + int(threadIdx.x) + int(blockIdx.x);
  cg::thread_block_tile<32> tile = cg::tiled_partition<32>(cg::this_thread_block());
  rec[kTidX] = threadIdx.x;
  rec[kTidY] = threadIdx.y;
  rec[kBidX] = blockIdx.x;
  rec[kBidY] = blockIdx.y;
  rec[kBdimX] = blockDim.x;
  rec[kGdimX] = gridDim.x;
  rec[kLane] = laneid();
  rec[kLmLt] = lanemask_lt();
  rec[kTileRank] = tile.thread_rank();
  rec[kWarp] = warpid();
  rec[kClockOk] = clock64() >= start;
  unsigned t = threadIdx.x + blockDim.x * threadIdx.y;
  dyn[t] = 7 * t + 1; // read back by the kernel after a barrier
  return 0;
}

__global__ void recursive_ids(const int *depths, int *out, int *sums) {
  __shared__ int stat[64]; // static shared memory before the dynamic block
  unsigned t = threadIdx.x + blockDim.x * threadIdx.y;
  unsigned b = blockIdx.x + gridDim.x * blockIdx.y;
  unsigned g = b * blockDim.x * blockDim.y + t;
  if (t < 64)
    stat[t] = -1;
  __syncthreads();
  int *rec = out + g * kFields;
  sums[g] = walk(depths[g], rec, clock64());
  __syncthreads();
  rec[kDyn] = dyn[t];
  if (t < 64 && stat[t] != -1)
    rec[kDyn] = -2; // the callee's dynamic shared writes overlapped static shared memory
}

// A recursive call inside a per-thread loop with a per-thread trip count
// (the JIT runs such loops in rounds over the block's threads).
__device__ __noinline__ int climb(int d) {
  return d == 0 ? int(threadIdx.x) + 100 * int(laneid()) : climb(d - 1) + 1;
}

__global__ void strided(const int *depths, int *out, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    out[i] = climb(depths[i % 37]);
}

// Called through a table that one kernel writes to device memory and
// another reads (a function pointer the compiler cannot see through): out
// of line, per thread.
typedef int (*op_t)(int);
__device__ int add_tid(int v) { return v + int(threadIdx.x) * 3; }
__device__ int mul_bid(int v) { return v * int(blockIdx.x + 1) + int(laneid()) * 1000; }

__global__ void fill_table(op_t *table) {
  table[0] = add_tid;
  table[1] = mul_bid;
}

__global__ void indirect(op_t const *table, const int *sel, int *out) {
  unsigned g = blockIdx.x * blockDim.x + threadIdx.x;
  out[g] = table[sel[g] & 1](int(g));
}

int main() {
  // recursive_ids: 3x2 blocks of 40x2 threads (warps of 32, the last one partial).
  const dim3 grid(3, 2), block(40, 2);
  const int perBlock = 80, n = 6 * perBlock;
  int *depths = new int[n], *out = new int[n * kFields], *sums = new int[n];
  for (int i = 0; i < n; ++i)
    depths[i] = (i * 7) % 6;
  int *dDepths, *dOut, *dSums;
  CHECK(cudaMalloc(&dDepths, n * sizeof(int)));
  CHECK(cudaMalloc(&dOut, n * kFields * sizeof(int)));
  CHECK(cudaMalloc(&dSums, n * sizeof(int)));
  CHECK(cudaMemcpy(dDepths, depths, n * sizeof(int), cudaMemcpyHostToDevice));
  CHECK(cudaMemset(dOut, 0xff, n * kFields * sizeof(int)));
  CHECK(cudaDeviceSetLimit(cudaLimitStackSize, 16 * 1024));
  recursive_ids<<<grid, block, perBlock * sizeof(int)>>>(dDepths, dOut, dSums);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out, dOut, n * kFields * sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(sums, dSums, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int by = 0; by < 2; ++by)
    for (int bx = 0; bx < 3; ++bx)
      for (int ty = 0; ty < 2; ++ty)
        for (int tx = 0; tx < 40; ++tx) {
          int t = tx + 40 * ty, g = (bx + 3 * by) * perBlock + t;
          const int *r = out + g * kFields;
          unsigned lane = unsigned(t) % 32;
          EXPECT(r[kTidX] == tx && r[kTidY] == ty, "thread %d: tid (%d,%d), want (%d,%d)", g, r[kTidX],
                 r[kTidY], tx, ty);
          EXPECT(r[kBidX] == bx && r[kBidY] == by, "thread %d: ctaid (%d,%d), want (%d,%d)", g, r[kBidX],
                 r[kBidY], bx, by);
          EXPECT(r[kBdimX] == 40 && r[kGdimX] == 3, "thread %d: ntid.x %d nctaid.x %d", g, r[kBdimX],
                 r[kGdimX]);
          EXPECT(unsigned(r[kLane]) == lane, "thread %d: laneid %d, want %u", g, r[kLane], lane);
          EXPECT(unsigned(r[kLmLt]) == (1u << lane) - 1, "thread %d: lanemask_lt %#x", g, unsigned(r[kLmLt]));
          EXPECT(unsigned(r[kTileRank]) == lane, "thread %d: tile rank %d, want %u", g, r[kTileRank], lane);
          EXPECT(r[kWarp] >= 0 && r[kWarp] < 64, "thread %d: warpid %d", g, r[kWarp]);
          EXPECT(r[kClockOk] == 1, "thread %d: clock64 went backwards", g);
          EXPECT(r[kDyn] == 7 * t + 1, "thread %d: dynamic shared word %d, want %d", g, r[kDyn], 7 * t + 1);
          int want = depths[g] * (tx + bx);
          EXPECT(sums[g] == want, "thread %d: sum %d, want %d", g, sums[g], want);
        }

  // strided: 2 blocks of 96 threads over 1000 items.
  const int items = 1000;
  int *dItems;
  int *items_out = new int[items];
  CHECK(cudaMalloc(&dItems, items * sizeof(int)));
  strided<<<2, 96>>>(dDepths, dItems, items);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(items_out, dItems, items * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < items; ++i) {
    int tx = (i % 192) % 96, want = depths[i % 37] + tx + 100 * (tx % 32);
    EXPECT(items_out[i] == want, "strided item %d: %d, want %d", i, items_out[i], want);
  }
  CHECK(cudaFree(dItems));
  delete[] items_out;

  // indirect: 2 blocks of 48 threads, the target chosen per thread from data.
  const int m = 96;
  int sel[m], res[m];
  for (int i = 0; i < m; ++i)
    sel[i] = (i * 5 + i / 7) % 3;
  int *dSel, *dRes;
  op_t *dTable;
  CHECK(cudaMalloc(&dTable, 2 * sizeof(op_t)));
  fill_table<<<1, 1>>>(dTable);
  CHECK_LAUNCH();
  CHECK(cudaMalloc(&dSel, sizeof sel));
  CHECK(cudaMalloc(&dRes, sizeof res));
  CHECK(cudaMemcpy(dSel, sel, sizeof sel, cudaMemcpyHostToDevice));
  indirect<<<2, 48>>>(dTable, dSel, dRes);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(res, dRes, sizeof res, cudaMemcpyDeviceToHost));
  for (int i = 0; i < m; ++i) {
    int tx = i % 48, bx = i / 48;
    int want = (sel[i] & 1) ? i * (bx + 1) + (tx % 32) * 1000 : i + tx * 3;
    EXPECT(res[i] == want, "indirect thread %d (sel %d): %d, want %d", i, sel[i], res[i], want);
  }
  CHECK(cudaFree(dDepths));
  CHECK(cudaFree(dOut));
  CHECK(cudaFree(dSums));
  CHECK(cudaFree(dSel));
  CHECK(cudaFree(dRes));
  CHECK(cudaFree(dTable));
  delete[] depths;
  delete[] out;
  delete[] sums;
  PASSED("outofline_calls");
  return 0;
}
