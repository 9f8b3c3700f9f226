// CUB's block- and warp-level collectives inside user kernels: BlockReduce,
// BlockScan, WarpReduce, WarpScan, BlockLoad/BlockStore and BlockRadixSort,
// each block checked against a host computation. Partial tiles (valid
// items < block size) and logical warps narrower than 32 are included.
#include "check.h"
#include <algorithm>
#include <cub/cub.cuh>
#include <vector>

constexpr int kThreads = 128;
constexpr int kItems = 4; // per thread
constexpr int kTile = kThreads * kItems;

// Per block: sum and max (full tile) and the sum of the first `valid` items.
__global__ void block_reduce(const int *in, int *out, int valid) {
  using Reduce = cub::BlockReduce<int, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  int v = in[blockIdx.x * kThreads + threadIdx.x];
  int sum = Reduce(tmp).Sum(v);
  __syncthreads();
  int mx = Reduce(tmp).Reduce(v, cuda::maximum<>{});
  __syncthreads();
  int part = Reduce(tmp).Sum(v, valid);
  if (threadIdx.x == 0) {
    out[3 * blockIdx.x] = sum;
    out[3 * blockIdx.x + 1] = mx;
    out[3 * blockIdx.x + 2] = part;
  }
}

// Blocked arrangement: load, exclusive and inclusive sums, block aggregate.
__global__ void block_scan(const int *in, int *excl, int *incl, int *agg) {
  using Load = cub::BlockLoad<int, kThreads, kItems, cub::BLOCK_LOAD_WARP_TRANSPOSE>;
  using Store = cub::BlockStore<int, kThreads, kItems, cub::BLOCK_STORE_WARP_TRANSPOSE>;
  using Scan = cub::BlockScan<int, kThreads>;
  __shared__ union {
    typename Load::TempStorage load;
    typename Store::TempStorage store;
    typename Scan::TempStorage scan;
  } tmp;
  int items[kItems], out[kItems];
  size_t base = (size_t)blockIdx.x * kTile;
  Load(tmp.load).Load(in + base, items);
  __syncthreads();
  int total;
  Scan(tmp.scan).ExclusiveSum(items, out, total);
  __syncthreads();
  Store(tmp.store).Store(excl + base, out);
  __syncthreads();
  Scan(tmp.scan).InclusiveScan(items, out, cuda::maximum<>{});
  __syncthreads();
  Store(tmp.store).Store(incl + base, out);
  if (threadIdx.x == 0)
    agg[blockIdx.x] = total;
}

// Logical warps of 32 and of 8 lanes: sums, and an inclusive scan.
__global__ void warp_ops(const int *in, int *sums32, int *sums8, int *scan32) {
  using Warp32 = cub::WarpReduce<int>;
  using Warp8 = cub::WarpReduce<int, 8>;
  using Scan32 = cub::WarpScan<int>;
  __shared__ typename Warp32::TempStorage t32[kThreads / 32];
  __shared__ typename Warp8::TempStorage t8[kThreads / 8];
  __shared__ typename Scan32::TempStorage ts[kThreads / 32];
  int tid = blockIdx.x * kThreads + threadIdx.x;
  int v = in[tid];
  int w = threadIdx.x / 32, w8 = threadIdx.x / 8;
  int s32 = Warp32(t32[w]).Sum(v);
  int s8 = Warp8(t8[w8]).Sum(v);
  int sc;
  Scan32(ts[w]).InclusiveSum(v, sc);
  scan32[tid] = sc;
  if (threadIdx.x % 32 == 0)
    sums32[tid / 32] = s32;
  if (threadIdx.x % 8 == 0)
    sums8[tid / 8] = s8;
}

// Each block sorts its tile of keys (ascending) with values.
__global__ void block_sort(unsigned *keys, int *vals) {
  using Sort = cub::BlockRadixSort<unsigned, kThreads, kItems, int>;
  __shared__ typename Sort::TempStorage tmp;
  unsigned k[kItems];
  int v[kItems];
  size_t base = (size_t)blockIdx.x * kTile;
  for (int i = 0; i < kItems; ++i) { // blocked arrangement
    k[i] = keys[base + threadIdx.x * kItems + i];
    v[i] = vals[base + threadIdx.x * kItems + i];
  }
  Sort(tmp).Sort(k, v);
  for (int i = 0; i < kItems; ++i) {
    keys[base + threadIdx.x * kItems + i] = k[i];
    vals[base + threadIdx.x * kItems + i] = v[i];
  }
}

int main() {
  const int blocks = 37;
  unsigned seed = 7;
  auto rnd = [&] {
    seed = seed * 1103515245u + 12345u;
    return (seed >> 8) & 0xffff;
  };
  std::vector<int> h(blocks * kTile);
  for (auto &x : h)
    x = (int)(rnd() % 2001) - 1000;
  int *din, *dout, *d2, *d3;
  CHECK(cudaMalloc(&din, h.size() * sizeof(int)));
  CHECK(cudaMalloc(&dout, h.size() * sizeof(int)));
  CHECK(cudaMalloc(&d2, h.size() * sizeof(int)));
  CHECK(cudaMalloc(&d3, h.size() * sizeof(int)));
  CHECK(cudaMemcpy(din, h.data(), h.size() * sizeof(int), cudaMemcpyHostToDevice));

  // BlockReduce.
  const int valid = 77;
  block_reduce<<<blocks, kThreads>>>(din, dout, valid);
  CHECK_LAUNCH();
  std::vector<int> g(3 * blocks);
  CHECK(cudaMemcpy(g.data(), dout, g.size() * sizeof(int), cudaMemcpyDeviceToHost));
  for (int b = 0; b < blocks; ++b) {
    int sum = 0, mx = h[b * kThreads], part = 0;
    for (int t = 0; t < kThreads; ++t) {
      int v = h[b * kThreads + t];
      sum += v;
      mx = std::max(mx, v);
      if (t < valid)
        part += v;
    }
    EXPECT(g[3 * b] == sum, "BlockReduce::Sum block %d: %d, want %d", b, g[3 * b], sum);
    EXPECT(g[3 * b + 1] == mx, "BlockReduce max block %d: %d, want %d", b, g[3 * b + 1], mx);
    EXPECT(g[3 * b + 2] == part, "BlockReduce::Sum(valid=%d) block %d: %d, want %d", valid, b, g[3 * b + 2],
           part);
  }

  // BlockScan with BlockLoad/BlockStore.
  block_scan<<<blocks, kThreads>>>(din, dout, d2, d3);
  CHECK_LAUNCH();
  std::vector<int> ge(h.size()), gi(h.size()), ga(blocks);
  CHECK(cudaMemcpy(ge.data(), dout, h.size() * sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(gi.data(), d2, h.size() * sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(ga.data(), d3, blocks * sizeof(int), cudaMemcpyDeviceToHost));
  int bad = -1;
  for (int b = 0; b < blocks && bad < 0; ++b) {
    int acc = 0, mx = h[b * kTile];
    for (int i = 0; i < kTile; ++i) {
      int idx = b * kTile + i;
      mx = std::max(mx, h[idx]);
      if (ge[idx] != acc || gi[idx] != mx) {
        bad = idx;
        break;
      }
      acc += h[idx];
    }
    EXPECT(bad >= 0 || ga[b] == acc, "BlockScan aggregate block %d: %d, want %d", b, ga[b], acc);
  }
  EXPECT(bad < 0, "BlockScan: item %d: exclusive %d, inclusive max %d", bad, ge[bad], gi[bad]);

  // WarpReduce / WarpScan.
  warp_ops<<<blocks, kThreads>>>(din, dout, d2, d3);
  CHECK_LAUNCH();
  int n = blocks * kThreads;
  std::vector<int> s32(n / 32), s8(n / 8), sc(n);
  CHECK(cudaMemcpy(s32.data(), dout, s32.size() * sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(s8.data(), d2, s8.size() * sizeof(int), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(sc.data(), d3, n * sizeof(int), cudaMemcpyDeviceToHost));
  bad = -1;
  for (int i = 0; i < n && bad < 0; ++i) {
    int lane = i % 32, acc = 0;
    for (int j = i - lane; j <= i; ++j)
      acc += h[j];
    if (sc[i] != acc)
      bad = i;
  }
  EXPECT(bad < 0, "WarpScan::InclusiveSum: item %d = %d", bad, sc[bad]);
  for (int w = 0; w < n / 32; ++w) {
    int acc = 0;
    for (int j = 0; j < 32; ++j)
      acc += h[w * 32 + j];
    EXPECT(s32[w] == acc, "WarpReduce<32>::Sum warp %d: %d, want %d", w, s32[w], acc);
  }
  for (int w = 0; w < n / 8; ++w) {
    int acc = 0;
    for (int j = 0; j < 8; ++j)
      acc += h[w * 8 + j];
    EXPECT(s8[w] == acc, "WarpReduce<8>::Sum warp %d: %d, want %d", w, s8[w], acc);
  }

  // BlockRadixSort: keys with duplicates, values = original position (stable).
  std::vector<unsigned> keys(h.size());
  std::vector<int> vals(h.size());
  for (size_t i = 0; i < h.size(); ++i) {
    keys[i] = rnd() % 300;
    vals[i] = (int)i;
  }
  unsigned *dkeys = (unsigned *)d3;
  CHECK(cudaMemcpy(dkeys, keys.data(), keys.size() * sizeof(unsigned), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(d2, vals.data(), vals.size() * sizeof(int), cudaMemcpyHostToDevice));
  block_sort<<<blocks, kThreads>>>(dkeys, d2);
  CHECK_LAUNCH();
  std::vector<unsigned> gk(keys.size());
  std::vector<int> gv(vals.size());
  CHECK(cudaMemcpy(gk.data(), dkeys, gk.size() * sizeof(unsigned), cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(gv.data(), d2, gv.size() * sizeof(int), cudaMemcpyDeviceToHost));
  bad = -1;
  for (int b = 0; b < blocks && bad < 0; ++b) {
    std::vector<int> order(vals.begin() + b * kTile, vals.begin() + (b + 1) * kTile);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return keys[x] < keys[y]; });
    for (int i = 0; i < kTile; ++i)
      if (gv[b * kTile + i] != order[i] || gk[b * kTile + i] != keys[order[i]]) {
        bad = b * kTile + i;
        break;
      }
  }
  EXPECT(bad < 0, "BlockRadixSort: item %d: key %u value %d", bad, gk[bad], gv[bad]);

  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
  CHECK(cudaFree(d2));
  CHECK(cudaFree(d3));
  PASSED("cub_block");
  return 0;
}
