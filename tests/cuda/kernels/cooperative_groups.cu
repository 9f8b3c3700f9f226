// Cooperative groups: thread_block sync, tiled_partition<32> with cg::reduce,
// tile shuffles and ballots, and a runtime-sized tiled_partition.
#include "check.h"
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
#include <vector>

namespace cg = cooperative_groups;

__global__ void block_sums(const int *in, int *out, int *tile_info, int n) {
  cg::thread_block block = cg::this_thread_block();
  cg::thread_block_tile<32> tile = cg::tiled_partition<32>(block);
  __shared__ int warp_sums[32];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = i < n ? in[i] : 0;
  int tsum = cg::reduce(tile, v, cg::plus<int>());
  int tmax = cg::reduce(tile, v, cg::greater<int>());
  if (tile.thread_rank() == 0)
    warp_sums[tile.meta_group_rank()] = tsum;
  block.sync();
  if (tile.meta_group_rank() == 0) {
    int w = tile.thread_rank() < tile.meta_group_size() ? warp_sums[tile.thread_rank()] : 0;
    int total = cg::reduce(tile, w, cg::plus<int>());
    if (tile.thread_rank() == 0)
      out[blockIdx.x] = total;
  }
  // collectives: every lane of the tile takes part
  int lane31 = tile.shfl(v, 31);
  int evens = __popc(tile.ballot(v % 2 == 0));
  if (blockIdx.x == 0 && tile.thread_rank() == 0) {
    int g = tile.meta_group_rank();
    tile_info[g * 4 + 0] = tile.size();
    tile_info[g * 4 + 1] = tmax;
    tile_info[g * 4 + 2] = lane31;
    tile_info[g * 4 + 3] = evens;
  }
}

__global__ void small_tiles(int *out) {
  cg::thread_block block = cg::this_thread_block();
  cg::thread_group t4 = cg::tiled_partition(block, 4);
  int r = t4.thread_rank();
  // sum of thread ranks within each group of 4 through shared memory
  __shared__ int s[128];
  s[threadIdx.x] = threadIdx.x;
  t4.sync();
  int base = threadIdx.x - r, sum = 0;
  for (int k = 0; k < (int)t4.size(); ++k)
    sum += s[base + k];
  out[threadIdx.x] = sum * 10 + (int)t4.size();
}

int main() {
  const int n = 256 * 40 - 17, B = 256, blocks = (n + B - 1) / B;
  std::vector<int> in(n);
  for (int i = 0; i < n; ++i)
    in[i] = (i * 13) % 101 - 40;
  int *din, *dout, *dinfo;
  CHECK(cudaMalloc(&din, n * sizeof(int)));
  CHECK(cudaMalloc(&dout, blocks * sizeof(int)));
  CHECK(cudaMalloc(&dinfo, 8 * 4 * sizeof(int)));
  CHECK(cudaMemcpy(din, in.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  block_sums<<<blocks, B>>>(din, dout, dinfo, n);
  CHECK_LAUNCH();
  std::vector<int> out(blocks), info(32);
  CHECK(cudaMemcpy(out.data(), dout, blocks * sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(info.data(), dinfo, 32 * sizeof(int), cudaMemcpyDeviceToHost));
  for (int b = 0; b < blocks; ++b) {
    int want = 0;
    for (int i = b * B; i < (b + 1) * B && i < n; ++i)
      want += in[i];
    EXPECT(out[b] == want, "block %d sum %d, want %d", b, out[b], want);
  }
  for (int g = 0; g < 8; ++g) {
    int mx = -1000000, even = 0;
    for (int l = 0; l < 32; ++l) {
      int v = in[g * 32 + l];
      mx = v > mx ? v : mx;
      even += v % 2 == 0;
    }
    EXPECT(info[g * 4] == 32, "tile %d size %d", g, info[g * 4]);
    EXPECT(info[g * 4 + 1] == mx, "tile %d max %d, want %d", g, info[g * 4 + 1], mx);
    EXPECT(info[g * 4 + 2] == in[g * 32 + 31], "tile %d shfl(31) %d, want %d", g, info[g * 4 + 2],
           in[g * 32 + 31]);
    EXPECT(info[g * 4 + 3] == even, "tile %d ballot popc %d, want %d", g, info[g * 4 + 3], even);
  }

  int *dsmall;
  CHECK(cudaMalloc(&dsmall, 128 * sizeof(int)));
  small_tiles<<<1, 128>>>(dsmall);
  CHECK_LAUNCH();
  int small[128];
  CHECK(cudaMemcpy(small, dsmall, sizeof small, cudaMemcpyDeviceToHost));
  for (int t = 0; t < 128; ++t) {
    int base = t - t % 4;
    int want = (4 * base + 6) * 10 + 4;
    EXPECT(small[t] == want, "small tile thread %d: %d, want %d", t, small[t], want);
  }
  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
  CHECK(cudaFree(dinfo));
  CHECK(cudaFree(dsmall));
  PASSED("cooperative_groups");
  return 0;
}
