// Warp collectives after divergence: a collective whose mask names lanes
// still on the other side of a branch waits for them (they arrive after their
// own collectives), so __match_any_sync(0xffffffff, ...) after a divergent
// __activemask()/coalesced_threads() sees the whole warp, and
// cooperative_groups' labeled_partition/binary_partition (match.any over a
// full tile) form warp-wide groups.
#include "../common/check.h"
#include <cooperative_groups.h>
#include <cooperative_groups/reduce.h>
#include <vector>

namespace cg = cooperative_groups;

// mode 0: no divergence; 1: odd lanes reduce over coalesced_threads() first;
// 2: odd lanes read __activemask() first; 3: odd lanes shuffle among
// themselves first (a partial-mask collective of their own).
__global__ void matchAfterBranch(const int *label, int *groupSize, int *branchOut, int mode) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  int v = label[t];
  if (threadIdx.x & 1) {
    if (mode == 1) {
      auto ct = cg::coalesced_threads();
      branchOut[t] = cg::reduce(ct, 1, cg::plus<int>());
    } else if (mode == 2) {
      branchOut[t] = __popc(__activemask());
    } else if (mode == 3) {
      branchOut[t] = __shfl_xor_sync(0xaaaaaaaau, v, 2);
    }
  }
  groupSize[t] = __popc(__match_any_sync(0xffffffffu, v));
}

__global__ void partitions(const int *label, int *labeled, int *binary) {
  int t = blockIdx.x * blockDim.x + threadIdx.x;
  int v = label[t];
  auto tile = cg::tiled_partition<32>(cg::this_thread_block());
  if (v & 1) // diverge first, as real code does before partitioning
    labeled[t] = -1;
  auto lp = cg::labeled_partition(tile, v % 3);
  labeled[t] = int(lp.size()) * 100 + int(lp.thread_rank());
  auto bp = cg::binary_partition(tile, v > 50);
  binary[t] = int(bp.num_threads());
}

int main() {
  const int blocks = 3, threads = 128, n = blocks * threads;
  std::vector<int> label(n);
  for (int i = 0; i < n; ++i)
    label[i] = (i * 37 + i / 7) % 100;
  int *dLabel, *dSize, *dBranch, *dLab, *dBin;
  CHECK(cudaMalloc(&dLabel, n * sizeof(int)));
  CHECK(cudaMalloc(&dSize, n * sizeof(int)));
  CHECK(cudaMalloc(&dBranch, n * sizeof(int)));
  CHECK(cudaMalloc(&dLab, n * sizeof(int)));
  CHECK(cudaMalloc(&dBin, n * sizeof(int)));
  CHECK(cudaMemcpy(dLabel, label.data(), n * sizeof(int), cudaMemcpyHostToDevice));

  // Host reference: per lane, how many lanes of its warp share its value.
  auto sameInWarp = [&](int t, auto key) {
    int w = t / 32 * 32, c = 0;
    for (int m = 0; m < 32; ++m)
      c += key(label[w + m]) == key(label[t]);
    return c;
  };
  for (int mode = 0; mode < 4; ++mode) {
    matchAfterBranch<<<blocks, threads>>>(dLabel, dSize, dBranch, mode);
    CHECK(cudaGetLastError());
    std::vector<int> size(n), branch(n);
    CHECK(cudaMemcpy(size.data(), dSize, n * sizeof(int), cudaMemcpyDeviceToHost));
    CHECK(cudaMemcpy(branch.data(), dBranch, n * sizeof(int), cudaMemcpyDeviceToHost));
    for (int t = 0; t < n; ++t) {
      int want = sameInWarp(t, [](int x) { return x; });
      EXPECT(size[t] == want, "mode %d thread %d: match_any group of %d lanes, want %d", mode, t, size[t],
             want);
      if (!(t & 1) || mode == 0)
        continue;
      int wantBranch = mode == 3 ? label[t ^ 2] : 16;
      EXPECT(branch[t] == wantBranch, "mode %d thread %d: in-branch collective gave %d, want %d", mode, t,
             branch[t], wantBranch);
    }
  }

  partitions<<<blocks, threads>>>(dLabel, dLab, dBin);
  CHECK(cudaGetLastError());
  std::vector<int> lab(n), bin(n);
  CHECK(cudaMemcpy(lab.data(), dLab, n * sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(bin.data(), dBin, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int t = 0; t < n; ++t) {
    int w = t / 32 * 32, rank = 0;
    for (int m = w; m < t; ++m)
      rank += label[m] % 3 == label[t] % 3;
    int want = sameInWarp(t, [](int x) { return x % 3; }) * 100 + rank;
    EXPECT(lab[t] == want, "thread %d: labeled_partition size*100+rank %d, want %d", t, lab[t], want);
    int wantBin = sameInWarp(t, [](int x) { return x > 50; });
    EXPECT(bin[t] == wantBin, "thread %d: binary_partition of %d, want %d", t, bin[t], wantBin);
  }
  CHECK(cudaFree(dLabel));
  CHECK(cudaFree(dSize));
  CHECK(cudaFree(dBranch));
  CHECK(cudaFree(dLab));
  CHECK(cudaFree(dBin));
  PASSED("warp_reconverge");
}
