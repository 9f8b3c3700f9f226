// Thrust's comparator sorts (CUB's merge sort): stable_sort of a struct
// with a custom comparator and stable_sort_by_key with a device lambda, at
// sizes that cross tile boundaries; compared with std::stable_sort.
#include "check.h"
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <thrust/device_vector.h>
#include <thrust/functional.h>
#include <thrust/host_vector.h>
#include <thrust/sort.h>
#include <vector>

static const int kSizes[] = {0, 1, 1000, (1 << 20) + 3};

static uint32_t rng_state = 77;
static uint32_t next_rand() {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state ^ (rng_state >> 15);
}

struct Particle {
  int cell;
  float energy;
  int id;
};
// Orders by cell, then by descending energy; `id` rides along (stability).
struct ByCellThenEnergy {
  __host__ __device__ bool operator()(const Particle &a, const Particle &b) const {
    if (a.cell != b.cell)
      return a.cell < b.cell;
    return a.energy > b.energy;
  }
};

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
  std::vector<int> v(n), order(n);
  std::iota(v.begin(), v.end(), 0);
  size_t m;
  thrust::host_vector<int> hv;
  // stable_sort with a user comparator on a struct (merge sort path).
  std::vector<Particle> ps(n);
  for (int i = 0; i < n; ++i)
    ps[i] = Particle{(int)(next_rand() % 50), (float)(next_rand() % 8), i};
  thrust::device_vector<Particle> dp(ps.begin(), ps.end());
  thrust::stable_sort(dp.begin(), dp.end(), ByCellThenEnergy());
  std::vector<Particle> rp = ps;
  std::stable_sort(rp.begin(), rp.end(), ByCellThenEnergy());
  thrust::host_vector<Particle> hp = dp;
  int bad = -1;
  for (int i = 0; i < n && bad < 0; ++i)
    if (hp[i].id != rp[i].id)
      bad = i;
  EXPECT(bad < 0, "stable_sort<Particle> n=%d: [%d].id = %d, want %d", n, bad, bad >= 0 ? hp[bad].id : 0,
         bad >= 0 ? rp[bad].id : 0);

  // stable_sort_by_key with a comparator (not a radix-sortable order).
  std::vector<int> ks(n);
  for (auto &k : ks)
    k = (int)(next_rand() % 4000) - 2000;
  auto absless = [] __host__ __device__(int a, int b) { return (a < 0 ? -a : a) < (b < 0 ? -b : b); };
  thrust::device_vector<int> dks(ks.begin(), ks.end());
  thrust::device_vector<int> dvs(v.begin(), v.end());
  thrust::stable_sort_by_key(dks.begin(), dks.end(), dvs.begin(), absless);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return absless(ks[a], ks[b]); });
  hv = dvs;
  m = first_mismatch(hv, order);
  EXPECT(m == order.size(), "stable_sort_by_key<int, |a|<|b|> n=%d: value[%zu] = %d, want %d", n, m,
         m < hv.size() ? hv[m] : 0, m < order.size() ? order[m] : 0);
}

int main() {
  for (int n : kSizes)
    sorts(n);
  PASSED("thrust_merge_sort");
  return 0;
}
