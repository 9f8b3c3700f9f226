// cub::DeviceRadixSort: SortPairs / SortKeys, ascending and descending,
// 32/64-bit and float keys, a begin/end bit range; checked against
// std::stable_sort at sizes that cross tile boundaries. The onesweep kernel
// waits on earlier blocks' digit counts (decoupled look-back) and ranks
// keys with warp ballots.
#include "cub_util.h"
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <cub/cub.cuh>
#include <numeric>
#include <vector>

static void radix_sort(int n) {
  // Pairs: 32-bit keys, ascending, stable for equal keys (values = index).
  std::vector<uint32_t> keys(n);
  std::vector<int> vals(n);
  for (int i = 0; i < n; ++i) {
    keys[i] = next_rand() % 5000u; // many duplicates: stability shows
    vals[i] = i;
  }
  uint32_t *dk = to_device(keys), *dk_out = to_device(keys);
  int *dv = to_device(vals), *dv_out = to_device(vals);
  run_cub(
      [&](void *t, size_t &b) { return cub::DeviceRadixSort::SortPairs(t, b, dk, dk_out, dv, dv_out, n); });
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return keys[a] < keys[b]; });
  std::vector<uint32_t> rk(n);
  for (int i = 0; i < n; ++i)
    rk[i] = keys[order[i]];
  auto gk = to_host(dk_out, n);
  auto gv = to_host(dv_out, n);
  size_t m = first_mismatch(gk, rk);
  EXPECT(m == (size_t)n, "SortPairs n=%d: key[%zu] = %u, want %u", n, m, gk[m], rk[m]);
  m = first_mismatch(gv, order);
  EXPECT(m == (size_t)n, "SortPairs n=%d: value[%zu] = %d, want %d", n, m, gv[m], order[m]);

  // Pairs, descending.
  run_cub([&](void *t, size_t &b) {
    return cub::DeviceRadixSort::SortPairsDescending(t, b, dk, dk_out, dv, dv_out, n);
  });
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return keys[a] > keys[b]; });
  gv = to_host(dv_out, n);
  m = first_mismatch(gv, order);
  EXPECT(m == (size_t)n, "SortPairsDescending n=%d: value[%zu] = %d, want %d", n, m, gv[m], order[m]);
  CHECK(cudaFree(dk));
  CHECK(cudaFree(dk_out));
  CHECK(cudaFree(dv));
  CHECK(cudaFree(dv_out));

  // Keys: 64-bit, only bits [8, 40) take part; the sort is stable, so keys
  // equal in those bits keep their input order.
  std::vector<uint64_t> k64(n);
  for (int i = 0; i < n; ++i)
    k64[i] = ((uint64_t)next_rand() << 32) | next_rand();
  uint64_t *d64 = to_device(k64), *d64_out = to_device(k64);
  run_cub([&](void *t, size_t &b) { return cub::DeviceRadixSort::SortKeys(t, b, d64, d64_out, n, 8, 40); });
  auto bits = [](uint64_t k) { return (k >> 8) & 0xffffffffull; };
  std::vector<uint64_t> r64 = k64;
  std::stable_sort(r64.begin(), r64.end(), [&](uint64_t a, uint64_t b) { return bits(a) < bits(b); });
  auto g64 = to_host(d64_out, n);
  m = first_mismatch(g64, r64);
  EXPECT(m == (size_t)n, "SortKeys<u64>[8,40) n=%d: key[%zu] = %llx, want %llx", n, m,
         (unsigned long long)g64[m], (unsigned long long)r64[m]);

  // Keys: float, descending (negative numbers, -0.0 and +0.0 ordering).
  std::vector<float> kf(n);
  for (int i = 0; i < n; ++i)
    kf[i] = ((int)(next_rand() % 20001) - 10000) * 0.25f;
  float *df = to_device(kf), *df_out = to_device(kf);
  run_cub([&](void *t, size_t &b) { return cub::DeviceRadixSort::SortKeysDescending(t, b, df, df_out, n); });
  std::vector<float> rf = kf;
  std::sort(rf.begin(), rf.end(), [](float a, float b) { return a > b; });
  auto gf = to_host(df_out, n);
  m = first_mismatch(gf, rf);
  EXPECT(m == (size_t)n, "SortKeysDescending<float> n=%d: key[%zu] = %g, want %g", n, m, gf[m], rf[m]);
  CHECK(cudaFree(d64));
  CHECK(cudaFree(d64_out));
  CHECK(cudaFree(df));
  CHECK(cudaFree(df_out));
}

// --max-n N: only the sizes up to N (1000 keeps to CUB's single-tile
// sort; larger sizes take the onesweep kernel, which the CPU JIT cannot yet
// compile in reasonable time).
int main(int argc, char **argv) {
  long max_n = argc == 3 && !strcmp(argv[1], "--max-n") ? atol(argv[2]) : -1;
  for (int n : kSizes)
    if (max_n < 0 || n <= max_n)
      radix_sort(n);
  PASSED("cub_radix_sort");
  return 0;
}
