// Thread block clusters (sm_90): a kernel's __cluster_dims__ and
// cudaLaunchKernelEx's cluster attribute; cluster ranks and ids in 1-D and
// 2-D clusters; distributed shared memory (map_shared_rank) read and
// atomically updated across the cluster between cluster.sync()s; invalid
// cluster shapes refused.
#include "../common/check.h"
#include <cooperative_groups.h>
#include <vector>

namespace cg = cooperative_groups;

// Each block fills its shared array, then reads its neighbour's (rank ^ 1)
// after a cluster barrier, in several rounds.
__global__ void __cluster_dims__(2, 1, 1) exchange(int *out, int rounds) {
  __shared__ int tile[64];
  cg::cluster_group cluster = cg::this_cluster();
  unsigned rank = cluster.block_rank();
  int acc = 0;
  for (int r = 0; r < rounds; ++r) {
    tile[threadIdx.x] = int(blockIdx.x) * 1000 + int(threadIdx.x) + r;
    cluster.sync();
    int *other = cluster.map_shared_rank(tile, rank ^ 1);
    acc += other[(threadIdx.x + 1) % blockDim.x];
    cluster.sync(); // nobody overwrites a tile another block still reads
  }
  out[blockIdx.x * blockDim.x + threadIdx.x] = acc;
}

// A histogram whose bins are spread over the cluster's blocks: bin b lives
// in block b % size, slot b / size.
__global__ void clusterHistogram(const int *values, int n, int bins, int *hist) {
  extern __shared__ int part[];
  cg::cluster_group cluster = cg::this_cluster();
  const unsigned size = cluster.num_blocks(), rank = cluster.block_rank();
  const int slots = (bins + int(size) - 1) / int(size);
  for (int s = threadIdx.x; s < slots; s += blockDim.x)
    part[s] = 0;
  cluster.sync();
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    int b = values[i];
    int *owner = cluster.map_shared_rank(part, unsigned(b) % size);
    atomicAdd(owner + b / int(size), 1);
  }
  cluster.sync();
  for (int s = threadIdx.x; s < slots; s += blockDim.x)
    if (s * int(size) + int(rank) < bins)
      atomicAdd(&hist[s * int(size) + int(rank)], part[s]);
}

struct Ids {
  unsigned rank, size, cx, cy, idx, idy, dimx, dimy;
};
__global__ void clusterIds(Ids *out) {
  cg::cluster_group cluster = cg::this_cluster();
  if (threadIdx.x != 0)
    return;
  dim3 ci = cluster.block_index(), cd = cluster.dim_blocks();
  unsigned b = blockIdx.y * gridDim.x + blockIdx.x;
  unsigned idx, idy;
  asm("mov.u32 %0, %%clusterid.x;" : "=r"(idx));
  asm("mov.u32 %0, %%clusterid.y;" : "=r"(idy));
  out[b] = {cluster.block_rank(), cluster.num_blocks(), ci.x, ci.y, idx, idy, cd.x, cd.y};
}

static cudaError_t launchIds(Ids *out, dim3 grid, dim3 cluster) {
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(32);
  cudaLaunchAttribute attr;
  attr.id = cudaLaunchAttributeClusterDimension;
  attr.val.clusterDim.x = cluster.x;
  attr.val.clusterDim.y = cluster.y;
  attr.val.clusterDim.z = cluster.z;
  config.attrs = &attr;
  config.numAttrs = 1;
  return cudaLaunchKernelEx(&config, clusterIds, out);
}

int main() {
  int supported = 0;
  CHECK(cudaDeviceGetAttribute(&supported, cudaDevAttrClusterLaunch, 0));
  EXPECT(supported == 1, "cudaDevAttrClusterLaunch = %d", supported);

  const int blocks = 6, threads = 64, rounds = 5;
  int *out;
  CHECK(cudaMalloc(&out, blocks * threads * sizeof(int)));
  exchange<<<blocks, threads>>>(out, rounds);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  std::vector<int> h(blocks * threads);
  CHECK(cudaMemcpy(h.data(), out, h.size() * sizeof(int), cudaMemcpyDeviceToHost));
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < threads; ++t) {
      int want = 0;
      for (int r = 0; r < rounds; ++r)
        want += (b ^ 1) * 1000 + (t + 1) % threads + r;
      EXPECT(h[b * threads + t] == want, "exchange block %d thread %d: %d, want %d", b, t, h[b * threads + t],
             want);
    }

  const int n = 10000, bins = 37;
  std::vector<int> values(n), want(bins, 0);
  for (int i = 0; i < n; ++i)
    ++want[values[i] = (i * 7 + i / 13) % bins];
  int *dValues, *dHist;
  CHECK(cudaMalloc(&dValues, n * sizeof(int)));
  CHECK(cudaMalloc(&dHist, bins * sizeof(int)));
  CHECK(cudaMemcpy(dValues, values.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  for (unsigned size : {1u, 2u, 4u, 8u}) {
    CHECK(cudaMemset(dHist, 0, bins * sizeof(int)));
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(8);
    config.blockDim = dim3(128);
    config.dynamicSmemBytes = (bins + size - 1) / size * sizeof(int);
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = size;
    attr.val.clusterDim.y = 1;
    attr.val.clusterDim.z = 1;
    config.attrs = &attr;
    config.numAttrs = 1;
    CHECK(cudaLaunchKernelEx(&config, clusterHistogram, (const int *)dValues, n, bins, dHist));
    CHECK(cudaDeviceSynchronize());
    std::vector<int> got(bins);
    CHECK(cudaMemcpy(got.data(), dHist, bins * sizeof(int), cudaMemcpyDeviceToHost));
    for (int b = 0; b < bins; ++b)
      EXPECT(got[b] == want[b], "histogram with clusters of %u: bin %d = %d, want %d", size, b, got[b],
             want[b]);
  }

  // 2-D clusters of 2x2 over a 4x6 grid.
  const dim3 grid(4, 6), cluster(2, 2);
  Ids *dIds;
  CHECK(cudaMalloc(&dIds, 24 * sizeof(Ids)));
  CHECK(launchIds(dIds, grid, cluster));
  CHECK(cudaDeviceSynchronize());
  std::vector<Ids> ids(24);
  CHECK(cudaMemcpy(ids.data(), dIds, ids.size() * sizeof(Ids), cudaMemcpyDeviceToHost));
  for (unsigned y = 0; y < grid.y; ++y)
    for (unsigned x = 0; x < grid.x; ++x) {
      const Ids &i = ids[y * grid.x + x];
      unsigned cx = x % 2, cy = y % 2;
      EXPECT(i.rank == cx + 2 * cy && i.size == 4 && i.cx == cx && i.cy == cy && i.idx == x / 2 &&
                 i.idy == y / 2 && i.dimx == 2 && i.dimy == 2,
             "block (%u,%u): rank %u size %u index (%u,%u) id (%u,%u) dim (%u,%u)", x, y, i.rank, i.size,
             i.cx, i.cy, i.idx, i.idy, i.dimx, i.dimy);
    }

  // A cluster shape that does not divide the grid, and one too large.
  EXPECT(launchIds(dIds, dim3(5), dim3(2)) == cudaErrorInvalidClusterSize,
         "grid 5 with clusters of 2 accepted");
  cudaGetLastError();
  EXPECT(launchIds(dIds, dim3(32), dim3(16)) == cudaErrorInvalidClusterSize, "clusters of 16 accepted");
  cudaGetLastError();
  PASSED("clusters");
}
