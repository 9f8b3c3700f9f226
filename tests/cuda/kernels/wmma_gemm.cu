// Tensor-core GEMM through nvcuda::wmma (mma.h), checked on the host.
// Each warp computes one output tile: D = scale * (A * B + C) over several K
// steps, with A and B row- or column-major, leading dimensions wider than the
// tile, C loaded as mem_row_major / mem_col_major or set by fill_fragment,
// and per-element fragment access (every a.x[i] and acc.x[i] scaled, which
// must treat every copy of a replicated element alike).
// Built -arch=sm_75 (f16, s8, u8) and, with WMMA_SM80, -arch=sm_80 (bf16,
// tf32, f64). Small-integer inputs make every result exact; one random f16
// case is compared with a tolerance.
#include "check.h"
#include <cmath>
#include <cstdint>
#include <cuda_fp16.h>
#include <mma.h>
#include <type_traits>
#include <vector>
#ifdef WMMA_SM80
#include <cuda_bf16.h>
#endif

using namespace nvcuda;

template <class T> __host__ __device__ T from(double v) { return T(v); }
template <> __host__ __device__ __half from<__half>(double v) { return __float2half(float(v)); }
#ifdef WMMA_SM80
template <> __host__ __device__ __nv_bfloat16 from<__nv_bfloat16>(double v) {
  return __float2bfloat16(float(v));
}
#endif
template <class T> double toDouble(T v) { return double(v); }
template <> double toDouble<__half>(__half v) { return double(__half2float(v)); }
#ifdef WMMA_SM80
template <> double toDouble<__nv_bfloat16>(__nv_bfloat16 v) { return double(__bfloat162float(v)); }
#endif

struct Params {
  const void *a, *b, *c;
  void *d;
  int tilesM, tilesN, kTiles;
  int lda, ldb, ldc, ldd;
  int cRow, dRow, fill;
  double fillV, scale, ascale;
};

template <class TFrag, class TMem, class TAcc, int M, int N, int K, class LA, class LB>
__global__ void gemm(Params p) {
  int warp = int((blockIdx.x * blockDim.x + threadIdx.x) / 32);
  if (warp >= p.tilesM * p.tilesN)
    return;
  int tm = warp / p.tilesN, tn = warp % p.tilesN;
  const TMem *a = static_cast<const TMem *>(p.a), *b = static_cast<const TMem *>(p.b);
  const TAcc *c = static_cast<const TAcc *>(p.c);
  TAcc *d = static_cast<TAcc *>(p.d);
  wmma::fragment<wmma::accumulator, M, N, K, TAcc> acc;
  if (p.fill)
    wmma::fill_fragment(acc, from<TAcc>(p.fillV));
  else if (p.cRow)
    wmma::load_matrix_sync(acc, c + tm * M * p.ldc + tn * N, p.ldc, wmma::mem_row_major);
  else
    wmma::load_matrix_sync(acc, c + tn * N * p.ldc + tm * M, p.ldc, wmma::mem_col_major);
  for (int kt = 0; kt < p.kTiles; ++kt) {
    wmma::fragment<wmma::matrix_a, M, N, K, TFrag, LA> fa;
    wmma::fragment<wmma::matrix_b, M, N, K, TFrag, LB> fb;
    const TMem *pa =
        std::is_same<LA, wmma::row_major>::value ? a + tm * M * p.lda + kt * K : a + kt * K * p.lda + tm * M;
    const TMem *pb =
        std::is_same<LB, wmma::row_major>::value ? b + kt * K * p.ldb + tn * N : b + tn * N * p.ldb + kt * K;
    wmma::load_matrix_sync(fa, pa, p.lda);
    wmma::load_matrix_sync(fb, pb, p.ldb);
    using EA = typename std::remove_reference<decltype(fa.x[0])>::type;
    for (int i = 0; i < fa.num_elements; ++i)
      fa.x[i] = EA(fa.x[i] * from<EA>(p.ascale));
#ifdef WMMA_SM80
    if constexpr (std::is_same<TFrag, wmma::precision::tf32>::value) {
      for (int i = 0; i < fa.num_elements; ++i)
        fa.x[i] = wmma::__float_to_tf32(fa.x[i]);
      for (int i = 0; i < fb.num_elements; ++i)
        fb.x[i] = wmma::__float_to_tf32(fb.x[i]);
    }
#endif
    wmma::mma_sync(acc, fa, fb, acc);
  }
  for (int i = 0; i < acc.num_elements; ++i)
    acc.x[i] = acc.x[i] * from<TAcc>(p.scale);
  if (p.dRow)
    wmma::store_matrix_sync(d + tm * M * p.ldd + tn * N, acc, p.ldd, wmma::mem_row_major);
  else
    wmma::store_matrix_sync(d + tn * N * p.ldd + tm * M, acc, p.ldd, wmma::mem_col_major);
}

// One configuration: random small integers (or random floats with `exact`
// false), run, compare with a double-precision host model.
template <class TFrag, class TMem, class TAcc, int M, int N, int K, class LA, class LB>
void run(const char *name, bool cRow, bool dRow, bool fill, double scale, double ascale, bool exact = true,
         bool isUnsigned = false) {
  constexpr bool aRow = std::is_same<LA, wmma::row_major>::value;
  constexpr bool bRow = std::is_same<LB, wmma::row_major>::value;
  const int tilesM = 3, tilesN = 2, kTiles = 3, pad = 16;
  const int Mt = tilesM * M, Nt = tilesN * N, Kt = kTiles * K;
  const int lda = (aRow ? Kt : Mt) + pad, ldb = (bRow ? Nt : Kt) + pad;
  const int ldc = (cRow ? Nt : Mt) + pad, ldd = (dRow ? Nt : Mt) + pad;
  std::vector<TMem> a(size_t(lda) * (aRow ? Mt : Kt)), b(size_t(ldb) * (bRow ? Kt : Nt));
  std::vector<TAcc> c(size_t(ldc) * (cRow ? Mt : Nt)), d(size_t(ldd) * (dRow ? Mt : Nt), from<TAcc>(-77));
  std::vector<double> A(size_t(Mt) * Kt), B(size_t(Kt) * Nt), C(size_t(Mt) * Nt);
  std::uint64_t s = 0x9e3779b97f4a7c15ull;
  auto rnd = [&]() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  auto value = [&](int lo, int hi) {
    if (!exact)
      return double(int(rnd() % 2001) - 1000) / 1000.0;
    return double(lo + int(rnd() % std::uint64_t(hi - lo + 1)));
  };
  // The padding holds values too: reading it would show.
  for (auto &x : a)
    x = from<TMem>(isUnsigned ? 99 : -99);
  for (auto &x : b)
    x = from<TMem>(isUnsigned ? 99 : -99);
  for (int m = 0; m < Mt; ++m)
    for (int k = 0; k < Kt; ++k) {
      double v = isUnsigned ? value(0, 5) : value(-3, 3);
      a[aRow ? size_t(m) * lda + k : size_t(k) * lda + m] = from<TMem>(v);
      A[size_t(m) * Kt + k] = toDouble(from<TMem>(v));
    }
  for (int k = 0; k < Kt; ++k)
    for (int n = 0; n < Nt; ++n) {
      double v = isUnsigned ? value(0, 5) : value(-3, 3);
      b[bRow ? size_t(k) * ldb + n : size_t(n) * ldb + k] = from<TMem>(v);
      B[size_t(k) * Nt + n] = toDouble(from<TMem>(v));
    }
  const double fillV = 1.5 * (std::is_integral<TAcc>::value ? 2 : 1);
  for (int m = 0; m < Mt; ++m)
    for (int n = 0; n < Nt; ++n) {
      double v = fill ? fillV : value(-8, 8);
      c[cRow ? size_t(m) * ldc + n : size_t(n) * ldc + m] = from<TAcc>(v);
      C[size_t(m) * Nt + n] = fill ? v : toDouble(from<TAcc>(v));
    }
  void *da, *db, *dc, *dd;
  CHECK(cudaMalloc(&da, a.size() * sizeof(TMem)));
  CHECK(cudaMalloc(&db, b.size() * sizeof(TMem)));
  CHECK(cudaMalloc(&dc, c.size() * sizeof(TAcc)));
  CHECK(cudaMalloc(&dd, d.size() * sizeof(TAcc)));
  CHECK(cudaMemcpy(da, a.data(), a.size() * sizeof(TMem), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(db, b.data(), b.size() * sizeof(TMem), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dc, c.data(), c.size() * sizeof(TAcc), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dd, d.data(), d.size() * sizeof(TAcc), cudaMemcpyHostToDevice));
  Params p{da,  db,  dc,   dd,   tilesM, tilesN, kTiles, lda,   ldb,
           ldc, ldd, cRow, dRow, fill,   fillV,  scale,  ascale};
  // Two warps a block, the last one idle (6 tiles, 4 blocks of 2 warps would
  // leave two; 3 blocks of 64 threads exactly; add one more idle block).
  gemm<TFrag, TMem, TAcc, M, N, K, LA, LB><<<4, 64>>>(p);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(d.data(), dd, d.size() * sizeof(TAcc), cudaMemcpyDeviceToHost));
  int bad = 0;
  for (int m = 0; m < Mt; ++m)
    for (int n = 0; n < Nt; ++n) {
      double want = C[size_t(m) * Nt + n], mag = std::fabs(want);
      for (int k = 0; k < Kt; ++k) {
        double ab = (ascale * A[size_t(m) * Kt + k]) * B[size_t(k) * Nt + n];
        want += ab;
        mag += std::fabs(ab);
      }
      want *= scale;
      double got = toDouble(d[dRow ? size_t(m) * ldd + n : size_t(n) * ldd + m]);
      bool ok = exact ? got == want : std::fabs(got - want) <= 1e-5 * mag * std::fabs(scale) + 1e-6;
      if (!ok && bad++ < 4)
        EXPECT(ok, "%s: D[%d][%d] = %.9g, want %.9g", name, m, n, got, want);
    }
  // Padding of D untouched.
  for (size_t i = 0; i < d.size(); ++i) {
    int row = int(i / ldd), col = int(i % ldd);
    if (col >= (dRow ? Nt : Mt) || row >= (dRow ? Mt : Nt))
      EXPECT(toDouble(d[i]) == -77.0, "%s: padding D[%zu] written", name, i);
  }
  CHECK(cudaFree(da));
  CHECK(cudaFree(db));
  CHECK(cudaFree(dc));
  CHECK(cudaFree(dd));
  printf("%-44s ok\n", name);
}

int main() {
  using R = wmma::row_major;
  using Cl = wmma::col_major;
#ifndef WMMA_SM80
  // f16 inputs, f32 accumulator: every A/B layout, C and D both ways.
  run<__half, __half, float, 16, 16, 16, R, Cl>("f16.f32 m16n16k16 row.col", true, true, false, 0.5, 1);
  run<__half, __half, float, 16, 16, 16, R, R>("f16.f32 m16n16k16 row.row", false, true, false, 0.5, 1);
  run<__half, __half, float, 16, 16, 16, Cl, Cl>("f16.f32 m16n16k16 col.col", true, false, false, 2, 1);
  run<__half, __half, float, 16, 16, 16, Cl, R>("f16.f32 m16n16k16 col.row fill", false, false, true, 1, 2);
  // f16 accumulator (sums stay exact in half).
  run<__half, __half, __half, 16, 16, 16, R, Cl>("f16.f16 m16n16k16 row.col", true, true, false, 0.5, 1);
  run<__half, __half, __half, 16, 16, 16, Cl, R>("f16.f16 m16n16k16 col.row fill", false, true, true, 1, 2);
  // The other f16 shapes.
  run<__half, __half, float, 32, 8, 16, R, Cl>("f16.f32 m32n8k16 row.col", true, false, false, 1, 2);
  run<__half, __half, float, 8, 32, 16, Cl, R>("f16.f32 m8n32k16 col.row", false, true, false, 1, 1);
  // Random f16 inputs: products exact, f32 sums within rounding.
  run<__half, __half, float, 16, 16, 16, R, Cl>("f16.f32 m16n16k16 random", true, true, false, 1, 1, false);
  // Integers: s8/u8 -> s32.
  run<signed char, signed char, int, 16, 16, 16, R, Cl>("s8.s32 m16n16k16 row.col", true, true, false, 2, 2);
  run<signed char, signed char, int, 16, 16, 16, Cl, R>("s8.s32 m16n16k16 col.row fill", false, false, true,
                                                        1, 1);
  run<unsigned char, unsigned char, int, 16, 16, 16, R, R>("u8.s32 m16n16k16 row.row", true, false, false, 3,
                                                           1, true, true);
  run<signed char, signed char, int, 32, 8, 16, R, Cl>("s8.s32 m32n8k16 row.col", true, true, false, 1, 1);
  PASSED("wmma_gemm");
#else
  run<__nv_bfloat16, __nv_bfloat16, float, 16, 16, 16, R, Cl>("bf16.f32 m16n16k16 row.col", true, true, false,
                                                              0.5, 1);
  run<__nv_bfloat16, __nv_bfloat16, float, 16, 16, 16, Cl, R>("bf16.f32 m16n16k16 col.row fill", false, false,
                                                              true, 1, 2);
  run<__nv_bfloat16, __nv_bfloat16, float, 8, 32, 16, R, R>("bf16.f32 m8n32k16 row.row", true, false, false,
                                                            1, 1);
  run<wmma::precision::tf32, float, float, 16, 16, 8, R, Cl>("tf32.f32 m16n16k8 row.col", true, true, false,
                                                             0.5, 1);
  run<wmma::precision::tf32, float, float, 16, 16, 8, Cl, R>("tf32.f32 m16n16k8 col.row fill", false, true,
                                                             true, 1, 2);
  run<double, double, double, 8, 8, 4, R, Cl>("f64 m8n8k4 row.col", true, true, false, 0.5, 1);
  run<double, double, double, 8, 8, 4, Cl, R>("f64 m8n8k4 col.row fill", false, false, true, 1, 2);
  run<double, double, double, 8, 8, 4, R, R>("f64 m8n8k4 random", true, true, false, 1, 1, false);
  PASSED("wmma_gemm_sm80");
#endif
  return 0;
}
