// Thrust's radix sorts on the device (arithmetic keys): sort, descending
// order, sort_by_key with 64-bit keys (stable), at sizes that cross tile
// boundaries; compared with std::sort/std::stable_sort on the host. The
// comparator sorts (merge sort) are in thrust_merge_sort.cu.
#include "check.h"
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <thrust/device_vector.h>
#include <thrust/functional.h>
#include <thrust/host_vector.h>
#include <thrust/sort.h>
#include <vector>

static const int kSizes[] = {0, 1, 1000, (1 << 20) + 3};

static uint32_t rng_state = 2024;
static uint32_t next_rand() {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state ^ (rng_state >> 15);
}

template <class T>
static size_t first_mismatch(const thrust::host_vector<T> &got, const std::vector<T> &want) {
  if (got.size() != want.size())
    return 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (!(got[i] == want[i]))
      return i;
  return want.size();
}

static void sorts(int n) {
  // int keys, ascending.
  std::vector<int> ki(n);
  for (auto &k : ki)
    k = (int)next_rand() - (1 << 30);
  thrust::device_vector<int> di(ki.begin(), ki.end());
  thrust::sort(di.begin(), di.end());
  std::vector<int> ri = ki;
  std::sort(ri.begin(), ri.end());
  thrust::host_vector<int> hi = di;
  size_t m = first_mismatch(hi, ri);
  EXPECT(m == ri.size(), "sort<int> n=%d: [%zu] = %d, want %d", n, m, m < hi.size() ? hi[m] : 0,
         m < ri.size() ? ri[m] : 0);

  // float keys, descending (thrust::greater takes the radix path too).
  std::vector<float> kf(n);
  for (auto &k : kf)
    k = ((int)(next_rand() % 100001) - 50000) / 7.0f;
  thrust::device_vector<float> df(kf.begin(), kf.end());
  thrust::sort(df.begin(), df.end(), thrust::greater<float>());
  std::vector<float> rf = kf;
  std::sort(rf.begin(), rf.end(), std::greater<float>());
  thrust::host_vector<float> hf = df;
  m = first_mismatch(hf, rf);
  EXPECT(m == rf.size(), "sort<float, greater> n=%d: [%zu] = %g, want %g", n, m, m < hf.size() ? hf[m] : 0.f,
         m < rf.size() ? rf[m] : 0.f);

  // 64-bit keys with values: sort_by_key must be stable.
  std::vector<uint64_t> k64(n);
  std::vector<int> v(n);
  for (int i = 0; i < n; ++i) {
    k64[i] = (uint64_t)(next_rand() % 1000) << 40 | (next_rand() % 3);
    v[i] = i;
  }
  thrust::device_vector<uint64_t> dk(k64.begin(), k64.end());
  thrust::device_vector<int> dv(v.begin(), v.end());
  thrust::sort_by_key(dk.begin(), dk.end(), dv.begin());
  std::vector<int> order = v;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return k64[a] < k64[b]; });
  thrust::host_vector<int> hv = dv;
  m = first_mismatch(hv, order);
  EXPECT(m == order.size(), "sort_by_key<u64> n=%d: value[%zu] = %d, want %d", n, m,
         m < hv.size() ? hv[m] : 0, m < order.size() ? order[m] : 0);
  thrust::host_vector<uint64_t> hk = dk;
  EXPECT(std::is_sorted(hk.begin(), hk.end()), "sort_by_key<u64> n=%d: keys not sorted", n);
}

// --max-n N: only the sizes up to N (1000 keeps to CUB's single-tile
// sort; larger sizes take the onesweep kernel, which the CPU JIT cannot yet
// compile in reasonable time).
int main(int argc, char **argv) {
  long max_n = argc == 3 && !strcmp(argv[1], "--max-n") ? atol(argv[2]) : -1;
  for (int n : kSizes)
    if (max_n < 0 || n <= max_n)
      sorts(n);
  PASSED("thrust_sort");
  return 0;
}
