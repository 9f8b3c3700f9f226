// Thrust's other algorithms on the device, each against a host computation:
// reduce, transform_reduce, inclusive/exclusive scans (and by key),
// copy_if/remove_if/unique/partition, count/min_element/max_element,
// sequence/fill/transform with functors and lambdas, set operations,
// gather/scatter, device_vector lifetime and copies, and the asynchronous
// thrust::cuda::par_nosync policy on a stream (cudaMallocAsync scratch).
#include "check.h"
#include <algorithm>
#include <cstdint>
#include <numeric>
#include <thrust/binary_search.h>
#include <thrust/copy.h>
#include <thrust/count.h>
#include <thrust/device_vector.h>
#include <thrust/execution_policy.h>
#include <thrust/extrema.h>
#include <thrust/fill.h>
#include <thrust/functional.h>
#include <thrust/gather.h>
#include <thrust/host_vector.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/partition.h>
#include <thrust/reduce.h>
#include <thrust/remove.h>
#include <thrust/scan.h>
#include <thrust/scatter.h>
#include <thrust/sequence.h>
#include <thrust/set_operations.h>
#include <thrust/sort.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>
#include <thrust/unique.h>
#include <vector>

static const int kSizes[] = {0, 1, 1000, (1 << 20) + 3};

static uint32_t rng_state = 99;
static uint32_t next_rand() {
  rng_state = rng_state * 1664525u + 1013904223u;
  return rng_state ^ (rng_state >> 15);
}

struct Square {
  __host__ __device__ long long operator()(int x) const { return (long long)x * x; }
};
struct IsOdd {
  __host__ __device__ bool operator()(int x) const { return x & 1; }
};
struct Saxpy {
  float a;
  __host__ __device__ float operator()(float x, float y) const { return a * x + y; }
};

template <class T>
static bool same(const thrust::host_vector<T> &got, const std::vector<T> &want, size_t *at) {
  *at = 0;
  if (got.size() != want.size())
    return false;
  for (; *at < want.size(); ++*at)
    if (!(got[*at] == want[*at]))
      return false;
  return true;
}
#define EXPECT_SAME(dev, host, what)                                                                         \
  do {                                                                                                       \
    thrust::host_vector<typename decltype(host)::value_type> got_ = (dev);                                   \
    size_t at_;                                                                                              \
    EXPECT(same(got_, host, &at_), "%s n=%d: size %zu (want %zu), first mismatch at %zu", what, n,           \
           got_.size(), (host).size(), at_);                                                                 \
  } while (0)

static void reductions_and_scans(int n) {
  std::vector<int> h(n);
  for (auto &x : h)
    x = (int)(next_rand() % 2001) - 1000;
  thrust::device_vector<int> d(h.begin(), h.end());

  long long sum = thrust::reduce(d.begin(), d.end(), 0ll);
  EXPECT(sum == std::accumulate(h.begin(), h.end(), 0ll), "reduce n=%d: %lld", n, sum);
  int mx = thrust::reduce(d.begin(), d.end(), INT32_MIN, thrust::maximum<int>());
  EXPECT(mx == (n ? *std::max_element(h.begin(), h.end()) : INT32_MIN), "reduce(max) n=%d: %d", n, mx);
  long long sq = thrust::transform_reduce(d.begin(), d.end(), Square(), 0ll, thrust::plus<long long>());
  long long rsq = 0;
  for (int x : h)
    rsq += (long long)x * x;
  EXPECT(sq == rsq, "transform_reduce n=%d: %lld, want %lld", n, sq, rsq);

  long long c = thrust::count_if(d.begin(), d.end(), IsOdd());
  EXPECT(c == std::count_if(h.begin(), h.end(), IsOdd()), "count_if n=%d: %lld", n, c);
  c = thrust::count(d.begin(), d.end(), 7);
  EXPECT(c == std::count(h.begin(), h.end(), 7), "count n=%d: %lld", n, c);
  if (n) {
    long mi = thrust::min_element(d.begin(), d.end()) - d.begin();
    long ma = thrust::max_element(d.begin(), d.end()) - d.begin();
    EXPECT(mi == std::min_element(h.begin(), h.end()) - h.begin(), "min_element n=%d: %ld", n, mi);
    EXPECT(ma == std::max_element(h.begin(), h.end()) - h.begin(), "max_element n=%d: %ld", n, ma);
    auto mm = thrust::minmax_element(d.begin(), d.end());
    EXPECT(mm.first - d.begin() == mi && mm.second - d.begin() == ma, "minmax_element n=%d", n);
  }

  thrust::device_vector<int> out(n);
  std::vector<int> r(n);
  thrust::inclusive_scan(d.begin(), d.end(), out.begin());
  std::partial_sum(h.begin(), h.end(), r.begin());
  EXPECT_SAME(out, r, "inclusive_scan");
  thrust::exclusive_scan(d.begin(), d.end(), out.begin(), 5);
  for (int i = 0, acc = 5; i < n; acc += h[i], ++i)
    r[i] = acc;
  EXPECT_SAME(out, r, "exclusive_scan(init 5)");
  thrust::inclusive_scan(d.begin(), d.end(), out.begin(), thrust::maximum<int>());
  for (int i = 0; i < n; ++i)
    r[i] = i ? std::max(r[i - 1], h[i]) : h[0];
  EXPECT_SAME(out, r, "inclusive_scan(max)");
  // In place.
  thrust::device_vector<int> inplace = d;
  thrust::inclusive_scan(inplace.begin(), inplace.end(), inplace.begin());
  std::partial_sum(h.begin(), h.end(), r.begin());
  EXPECT_SAME(inplace, r, "inclusive_scan in place");

  // By key: runs of equal keys (lengths 1..40).
  std::vector<int> keys(n);
  for (int i = 0, k = 0; i < n; ++k)
    for (int len = 1 + next_rand() % 40; len-- && i < n; ++i)
      keys[i] = k;
  thrust::device_vector<int> dk(keys.begin(), keys.end());
  thrust::inclusive_scan_by_key(dk.begin(), dk.end(), d.begin(), out.begin());
  for (int i = 0; i < n; ++i)
    r[i] = (i && keys[i] == keys[i - 1]) ? r[i - 1] + h[i] : h[i];
  EXPECT_SAME(out, r, "inclusive_scan_by_key");
  thrust::exclusive_scan_by_key(dk.begin(), dk.end(), d.begin(), out.begin(), 0);
  for (int i = 0; i < n; ++i)
    r[i] = (i && keys[i] == keys[i - 1]) ? r[i - 1] + h[i - 1] : 0;
  EXPECT_SAME(out, r, "exclusive_scan_by_key");

  thrust::device_vector<int> rk(n), rv(n);
  auto ends = thrust::reduce_by_key(dk.begin(), dk.end(), d.begin(), rk.begin(), rv.begin());
  std::vector<int> wk, wv;
  for (int i = 0; i < n; ++i) {
    if (!i || keys[i] != keys[i - 1]) {
      wk.push_back(keys[i]);
      wv.push_back(0);
    }
    wv.back() += h[i];
  }
  rk.resize(ends.first - rk.begin());
  rv.resize(ends.second - rv.begin());
  EXPECT_SAME(rk, wk, "reduce_by_key keys");
  EXPECT_SAME(rv, wv, "reduce_by_key values");
}

static void selections(int n) {
  std::vector<int> h(n);
  for (auto &x : h)
    x = (int)(next_rand() % 50);
  thrust::device_vector<int> d(h.begin(), h.end()), out(n);
  std::vector<int> r;

  auto big = [] __device__(int x) { return x >= 20; };
  auto e = thrust::copy_if(d.begin(), d.end(), out.begin(), big);
  out.resize(e - out.begin());
  for (int x : h)
    if (x >= 20)
      r.push_back(x);
  EXPECT_SAME(out, r, "copy_if(lambda)");

  thrust::device_vector<int> rem = d;
  rem.erase(thrust::remove_if(rem.begin(), rem.end(), IsOdd()), rem.end());
  r.clear();
  for (int x : h)
    if (!(x & 1))
      r.push_back(x);
  EXPECT_SAME(rem, r, "remove_if");

  thrust::device_vector<int> u = d;
  u.erase(thrust::unique(u.begin(), u.end()), u.end());
  r.assign(h.begin(), h.end());
  r.erase(std::unique(r.begin(), r.end()), r.end());
  EXPECT_SAME(u, r, "unique");

  // stable_partition: odds first, order kept within each part.
  thrust::device_vector<int> p = d;
  auto mid = thrust::stable_partition(p.begin(), p.end(), IsOdd());
  r.assign(h.begin(), h.end());
  auto rmid = std::stable_partition(r.begin(), r.end(), IsOdd());
  EXPECT(mid - p.begin() == rmid - r.begin(), "stable_partition n=%d: split %ld, want %ld", n,
         (long)(mid - p.begin()), (long)(rmid - r.begin()));
  EXPECT_SAME(p, r, "stable_partition");
  // partition (unstable): the split and the multiset of each side.
  thrust::device_vector<int> q = d;
  auto qmid = thrust::partition(q.begin(), q.end(), IsOdd());
  EXPECT(qmid - q.begin() == rmid - r.begin(), "partition n=%d: split", n);
  EXPECT(thrust::is_partitioned(q.begin(), q.end(), IsOdd()), "partition n=%d: not partitioned", n);
}

static void transforms_and_sets(int n) {
  // sequence / fill / transform (functor and lambda).
  thrust::device_vector<float> x(n), y(n);
  thrust::sequence(x.begin(), x.end(), 1.0f, 0.5f);
  thrust::fill(y.begin(), y.end(), 2.0f);
  thrust::transform(x.begin(), x.end(), y.begin(), y.begin(), Saxpy{3.0f});
  std::vector<float> r(n);
  for (int i = 0; i < n; ++i)
    r[i] = 3.0f * (1.0f + 0.5f * i) + 2.0f;
  EXPECT_SAME(y, r, "sequence+fill+transform(saxpy)");
  float k = 0.25f;
  thrust::transform(y.begin(), y.end(), y.begin(), [k] __device__(float v) { return v * k - 1.0f; });
  for (auto &v : r)
    v = v * k - 1.0f;
  EXPECT_SAME(y, r, "transform(lambda)");

  // gather / scatter through a permutation.
  std::vector<int> perm(n), src(n);
  std::iota(perm.begin(), perm.end(), 0);
  for (int i = n - 1; i > 0; --i)
    std::swap(perm[i], perm[next_rand() % (i + 1)]);
  for (auto &s : src)
    s = (int)next_rand();
  thrust::device_vector<int> dperm(perm.begin(), perm.end()), dsrc(src.begin(), src.end()), dout(n);
  thrust::gather(dperm.begin(), dperm.end(), dsrc.begin(), dout.begin());
  std::vector<int> ri(n);
  for (int i = 0; i < n; ++i)
    ri[i] = src[perm[i]];
  EXPECT_SAME(dout, ri, "gather");
  thrust::scatter(dsrc.begin(), dsrc.end(), dperm.begin(), dout.begin());
  for (int i = 0; i < n; ++i)
    ri[perm[i]] = src[i];
  EXPECT_SAME(dout, ri, "scatter");

  // Set operations on sorted inputs with duplicates.
  std::vector<int> a(n), b(n / 2 + 1);
  for (auto &v : a)
    v = next_rand() % (n + 10);
  for (auto &v : b)
    v = next_rand() % (n + 10);
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  thrust::device_vector<int> da(a.begin(), a.end()), db(b.begin(), b.end()), ds(a.size() + b.size());
  std::vector<int> rs(a.size() + b.size());
  auto check_set = [&](const char *what, auto dev_op, auto host_op) {
    thrust::device_vector<int> res = ds;
    auto e = dev_op(da.begin(), da.end(), db.begin(), db.end(), res.begin());
    res.resize(e - res.begin());
    std::vector<int> want(rs.size());
    want.resize(host_op(a.begin(), a.end(), b.begin(), b.end(), want.begin()) - want.begin());
    EXPECT_SAME(res, want, what);
  };
  using DI = thrust::device_vector<int>::iterator;
  using HI = std::vector<int>::iterator;
  check_set(
      "set_union", [](DI a0, DI a1, DI b0, DI b1, DI o) { return thrust::set_union(a0, a1, b0, b1, o); },
      [](HI a0, HI a1, HI b0, HI b1, HI o) { return std::set_union(a0, a1, b0, b1, o); });
  check_set(
      "set_intersection",
      [](DI a0, DI a1, DI b0, DI b1, DI o) { return thrust::set_intersection(a0, a1, b0, b1, o); },
      [](HI a0, HI a1, HI b0, HI b1, HI o) { return std::set_intersection(a0, a1, b0, b1, o); });
  check_set(
      "set_difference",
      [](DI a0, DI a1, DI b0, DI b1, DI o) { return thrust::set_difference(a0, a1, b0, b1, o); },
      [](HI a0, HI a1, HI b0, HI b1, HI o) { return std::set_difference(a0, a1, b0, b1, o); });
  check_set(
      "set_symmetric_difference",
      [](DI a0, DI a1, DI b0, DI b1, DI o) { return thrust::set_symmetric_difference(a0, a1, b0, b1, o); },
      [](HI a0, HI a1, HI b0, HI b1, HI o) { return std::set_symmetric_difference(a0, a1, b0, b1, o); });
  // merge and lower_bound (vectorised binary search).
  check_set(
      "merge", [](DI a0, DI a1, DI b0, DI b1, DI o) { return thrust::merge(a0, a1, b0, b1, o); },
      [](HI a0, HI a1, HI b0, HI b1, HI o) { return std::merge(a0, a1, b0, b1, o); });
  thrust::device_vector<int> lb(b.size());
  thrust::lower_bound(da.begin(), da.end(), db.begin(), db.end(), lb.begin());
  std::vector<int> rlb(b.size());
  for (size_t i = 0; i < b.size(); ++i)
    rlb[i] = (int)(std::lower_bound(a.begin(), a.end(), b[i]) - a.begin());
  EXPECT_SAME(lb, rlb, "lower_bound");
}

// device_vector lifetime, host<->device copies, and par_nosync on a stream.
static void vectors_and_streams(int n) {
  std::vector<int> h(n);
  std::iota(h.begin(), h.end(), -3);
  {
    thrust::device_vector<int> a(h.begin(), h.end());
    thrust::device_vector<int> b = a; // device-to-device copy
    a.clear();
    a.shrink_to_fit();
    b.resize(n + 5, 42);
    thrust::host_vector<int> hb = b;
    bool ok = hb.size() == (size_t)n + 5;
    for (int i = 0; ok && i < n + 5; ++i)
      ok = hb[i] == (i < n ? h[i] : 42);
    EXPECT(ok, "device_vector copy/resize n=%d", n);
    if (n) {
      b[0] = 1234; // element access through device_reference
      int v0 = b[0];
      EXPECT(v0 == 1234, "device_reference n=%d: %d", n, v0);
    }
    std::vector<int> back(n);
    thrust::copy(b.begin(), b.begin() + n, back.begin());
    if (n)
      back[0] = h[0];
    EXPECT(back == h, "thrust::copy to host n=%d", n);
  }

  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  int *raw;
  CHECK(cudaMallocAsync(&raw, std::max(1, n) * sizeof(int), s));
  CHECK(cudaMemcpyAsync(raw, h.data(), n * sizeof(int), cudaMemcpyHostToDevice, s));
  auto pol = thrust::cuda::par_nosync.on(s);
  thrust::transform(pol, raw, raw + n, raw, [] __device__(int v) { return v * 2 + 1; });
  thrust::inclusive_scan(pol, raw, raw + n, raw);
  long long total = thrust::reduce(thrust::cuda::par.on(s), raw, raw + n, 0ll); // synchronises
  std::vector<int> got(n);
  CHECK(cudaMemcpyAsync(got.data(), raw, n * sizeof(int), cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  std::vector<int> want(n);
  long long wtotal = 0;
  for (int i = 0, acc = 0; i < n; ++i) {
    acc += h[i] * 2 + 1;
    want[i] = acc;
    wtotal += acc;
  }
  EXPECT(got == want, "par_nosync transform+scan on a stream n=%d", n);
  EXPECT(total == wtotal, "reduce on a stream n=%d: %lld, want %lld", n, total, wtotal);
  CHECK(cudaFreeAsync(raw, s));
  CHECK(cudaStreamSynchronize(s));
  CHECK(cudaStreamDestroy(s));
}

int main() {
  for (int n : kSizes) {
    reductions_and_scans(n);
    selections(n);
    transforms_and_sets(n);
    vectors_and_streams(n);
  }
  PASSED("thrust_algorithms");
  return 0;
}
