// CUB's device-wide algorithms (reduce, scan, segmented reduce, histogram,
// select; radix sort is in cub_radix_sort.cu), each checked against a host computation at sizes that
// cross tile boundaries. Their kernels use decoupled look-back (blocks wait
// on earlier blocks through global memory), ballot/match/popc, dynamic
// shared memory and occupancy queries.
#include "cub_util.h"
#include <algorithm>
#include <cstdint>
#include <cub/cub.cuh>
#include <numeric>
#include <vector>

static void reduce_scan(int n) {
  std::vector<int> h(n);
  for (int i = 0; i < n; ++i)
    h[i] = (int)(next_rand() % 2001) - 1000;
  int *din = to_device(h), *dout = nullptr;
  CHECK(cudaMalloc(&dout, std::max(1, n) * sizeof(int)));

  run_cub([&](void *t, size_t &b) { return cub::DeviceReduce::Sum(t, b, din, dout, n); });
  int sum = to_host(dout, 1)[0];
  long long ref = 0;
  for (int v : h)
    ref += v;
  EXPECT(sum == (int)ref, "DeviceReduce::Sum n=%d: %d, want %lld", n, sum, ref);

  // ArgMax: the maximum and the first index holding it (CUB's tie rule).
  int *dmax = nullptr, *didx = nullptr;
  CHECK(cudaMalloc(&dmax, sizeof(int)));
  CHECK(cudaMalloc(&didx, sizeof(int)));
  run_cub([&](void *t, size_t &b) { return cub::DeviceReduce::ArgMax(t, b, din, dmax, didx, n); });
  if (n > 0) {
    int best = (int)(std::max_element(h.begin(), h.end()) - h.begin());
    int gmax = to_host(dmax, 1)[0], gidx = to_host(didx, 1)[0];
    EXPECT(gidx == best && gmax == h[best], "ArgMax n=%d: (%d at %d), want (%d at %d)", n, gmax, gidx,
           h[best], best);
  }
  CHECK(cudaFree(dmax));
  CHECK(cudaFree(didx));

  run_cub([&](void *t, size_t &b) { return cub::DeviceScan::ExclusiveSum(t, b, din, dout, n); });
  std::vector<int> rs(n);
  int acc = 0;
  for (int i = 0; i < n; ++i) {
    rs[i] = acc;
    acc += h[i];
  }
  auto gs = to_host(dout, n);
  size_t m = first_mismatch(gs, rs);
  EXPECT(m == (size_t)n, "ExclusiveSum n=%d: [%zu] = %d, want %d", n, m, gs[m], rs[m]);

  // 64-bit scan (wider look-back state: 128-bit tile descriptors).
  std::vector<long long> h64(n);
  for (int i = 0; i < n; ++i)
    h64[i] = (long long)h[i] * 3000000007ll;
  long long *d64 = to_device(h64), *d64_out = to_device(h64);
  run_cub([&](void *t, size_t &b) { return cub::DeviceScan::InclusiveSum(t, b, d64, d64_out, n); });
  std::vector<long long> r64(n);
  long long acc64 = 0;
  for (int i = 0; i < n; ++i)
    r64[i] = acc64 += h64[i];
  auto g64 = to_host(d64_out, n);
  m = first_mismatch(g64, r64);
  EXPECT(m == (size_t)n, "InclusiveSum<i64> n=%d: [%zu] = %lld, want %lld", n, m, g64[m], r64[m]);
  CHECK(cudaFree(d64));
  CHECK(cudaFree(d64_out));

  // Select::If: keep the even values, in order; the count goes to device memory.
  int *dnum = nullptr;
  CHECK(cudaMalloc(&dnum, sizeof(int)));
  auto even = [] __host__ __device__(int v) { return (v & 1) == 0; };
  run_cub([&](void *t, size_t &b) { return cub::DeviceSelect::If(t, b, din, dout, dnum, n, even); });
  std::vector<int> rsel;
  for (int v : h)
    if (even(v))
      rsel.push_back(v);
  int num = to_host(dnum, 1)[0];
  EXPECT(num == (int)rsel.size(), "Select::If n=%d: %d selected, want %zu", n, num, rsel.size());
  if (num == (int)rsel.size()) {
    auto gsel = to_host(dout, num);
    m = first_mismatch(gsel, rsel);
    EXPECT(m == rsel.size(), "Select::If n=%d: [%zu] = %d, want %d", n, m, gsel[m], rsel[m]);
  }
  CHECK(cudaFree(dnum));
  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
}

static void segmented_and_histogram(int n) {
  // Segments of varying length (some empty) over n values.
  std::vector<int> h(n), offsets{0};
  for (int i = 0; i < n; ++i)
    h[i] = (int)(next_rand() % 100);
  while (offsets.back() < n) {
    int len = (int)(next_rand() % 3000) * (next_rand() % 4 != 0); // every 4th empty
    offsets.push_back(std::min(n, offsets.back() + len));
  }
  int segs = (int)offsets.size() - 1;
  int *din = to_device(h), *doff = to_device(offsets), *dout = nullptr;
  CHECK(cudaMalloc(&dout, std::max(1, segs) * sizeof(int)));
  run_cub([&](void *t, size_t &b) {
    return cub::DeviceSegmentedReduce::Sum(t, b, din, dout, segs, doff, doff + 1);
  });
  auto g = to_host(dout, segs);
  int bad = -1;
  for (int s = 0; s < segs && bad < 0; ++s) {
    int ref = std::accumulate(h.begin() + offsets[s], h.begin() + offsets[s + 1], 0);
    if (g[s] != ref)
      bad = s;
  }
  EXPECT(bad < 0, "SegmentedReduce::Sum n=%d: segment %d of %d wrong", n, bad, segs);

  run_cub([&](void *t, size_t &b) {
    return cub::DeviceSegmentedReduce::Max(t, b, din, dout, segs, doff, doff + 1);
  });
  g = to_host(dout, segs);
  bad = -1;
  for (int s = 0; s < segs && bad < 0; ++s) {
    int ref = offsets[s] == offsets[s + 1]
                  ? std::numeric_limits<int>::lowest() // CUB's identity for an empty segment
                  : *std::max_element(h.begin() + offsets[s], h.begin() + offsets[s + 1]);
    if (g[s] != ref)
      bad = s;
  }
  EXPECT(bad < 0, "SegmentedReduce::Max n=%d: segment %d of %d wrong", n, bad, segs);

  // Histogram: 100 values in [0, 100) into 10 even bins, and 7 custom ranges.
  const int bins = 10;
  int *dhist = nullptr;
  CHECK(cudaMalloc(&dhist, 16 * sizeof(int)));
  run_cub([&](void *t, size_t &b) {
    return cub::DeviceHistogram::HistogramEven(t, b, din, dhist, bins + 1, 0, 100, n);
  });
  std::vector<int> rh(bins);
  for (int v : h)
    rh[v / 10]++;
  auto gh = to_host(dhist, bins);
  size_t m = first_mismatch(gh, rh);
  EXPECT(m == (size_t)bins, "HistogramEven n=%d: bin %zu = %d, want %d", n, m, gh[m], rh[m]);

  std::vector<int> levels{0, 1, 5, 17, 40, 41, 80, 99};
  int *dlev = to_device(levels);
  run_cub([&](void *t, size_t &b) {
    return cub::DeviceHistogram::HistogramRange(t, b, din, dhist, (int)levels.size(), dlev, n);
  });
  std::vector<int> rr(levels.size() - 1);
  for (int v : h)
    for (size_t k = 0; k + 1 < levels.size(); ++k)
      if (v >= levels[k] && v < levels[k + 1])
        rr[k]++;
  gh = to_host(dhist, rr.size());
  m = first_mismatch(gh, rr);
  EXPECT(m == rr.size(), "HistogramRange n=%d: bin %zu = %d, want %d", n, m, gh[m], rr[m]);
  CHECK(cudaFree(dlev));
  CHECK(cudaFree(dhist));
  CHECK(cudaFree(din));
  CHECK(cudaFree(doff));
  CHECK(cudaFree(dout));
}

int main() {
  for (int n : kSizes) {
    reduce_scan(n);
    segmented_and_histogram(n);
  }
  PASSED("cub_device");
  return 0;
}
