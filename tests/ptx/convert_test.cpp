// cvt between integers, floats, halves and bfloat16.
#include "harness.h"
#include <algorithm>
#include <cfenv>
#include <climits>
#include <limits>

using namespace ptxg;

namespace {

const int kModes[4] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};
const char *kIntModes[4] = {"rni", "rzi", "rmi", "rpi"};
const char *kModes2[4] = {"rn", "rz", "rm", "rp"};

/// float -> integer per PTX: round in `mode`, NaN -> 0, saturate to the range.
template <class I> I toInt(double x, int mode) {
  if (std::isnan(x))
    return 0;
  double r;
  {
    Rounding rr(mode);
    volatile double v = x;
    r = std::nearbyint(v);
  }
  if (r <= double(std::numeric_limits<I>::min()))
    return std::numeric_limits<I>::min();
  if (r >= double(std::numeric_limits<I>::max()))
    return std::numeric_limits<I>::max();
  return I(r);
}

uint16_t bf16(float x) {
  uint32_t u = bits(x);
  if (std::isnan(x))
    return 0x7fc0 | uint16_t(u >> 16); // any quiet NaN
  return uint16_t((u + 0x7fff + ((u >> 16) & 1)) >> 16);
}
bool nan16(uint16_t u, bool bf) {
  return bf ? (u & 0x7f80) == 0x7f80 && (u & 0x7f) : (u & 0x7c00) == 0x7c00 && (u & 0x3ff);
}

std::vector<float> cvtInputs() {
  auto v = edgeF32();
  for (float x : {0.5f,          1.5f,          2.5f,           -0.5f,          -1.5f,         -2.5f,
                  2147483520.0f, 2147483648.0f, -2147483648.0f, -2147483904.0f, 4294967040.0f, 4294967296.0f,
                  1e10f,         -1e10f,        0.49999997f,    65519.0f,       65520.0f,      6.0e-8f,
                  2.9e-8f,       1.0000001f,    3.3895314e38f})
    v.push_back(x);
  return v;
}

} // namespace

TEST_CASE("cvt float -> int: .rni .rzi .rmi .rpi, saturation, NaN -> 0") {
  auto x = cvtInputs();
  for (int m = 0; m < 4; ++m) {
    std::string rm = kIntModes[m];
    auto s32 = runElementwise<int32_t>(".f32", ".s32", "cvt." + rm + ".s32.f32 %d, %a;", x);
    auto u32 = runElementwise<uint32_t>(".f32", ".u32", "cvt." + rm + ".u32.f32 %d, %a;", x);
    auto s64 = runElementwise<int64_t>(".f32", ".s64", "cvt." + rm + ".s64.f32 %d, %a;", x);
    auto u64 = runElementwise<uint64_t>(".f32", ".u64", "cvt." + rm + ".u64.f32 %d, %a;", x);
    auto s16 = runElementwise<int16_t>(".f32", ".s16", "cvt." + rm + ".s16.f32 %d, %a;", x);
    for (size_t i = 0; i < x.size(); ++i) {
      INFO(rm, " x=", x[i]);
      CHECK(s32[i] == toInt<int32_t>(x[i], kModes[m]));
      CHECK(u32[i] == toInt<uint32_t>(x[i], kModes[m]));
      CHECK(s64[i] == toInt<int64_t>(x[i], kModes[m]));
      CHECK(u64[i] == toInt<uint64_t>(x[i], kModes[m]));
      CHECK(s16[i] == toInt<int16_t>(x[i], kModes[m]));
    }
  }
  auto d = edgeF64();
  for (double v : {2.5, -2.5, 9.3e18, -9.3e18, 1.8e19, 4294967295.5})
    d.push_back(v);
  auto s64 = runElementwise<int64_t>(".f64", ".s64", "cvt.rni.s64.f64 %d, %a;", d);
  auto u64 = runElementwise<uint64_t>(".f64", ".u64", "cvt.rzi.u64.f64 %d, %a;", d);
  auto s32 = runElementwise<int32_t, double>(".f64", ".s32", "cvt.rpi.s32.f64 %d, %a;", d);
  for (size_t i = 0; i < d.size(); ++i) {
    INFO("x=", d[i]);
    CHECK(s64[i] == toInt<int64_t>(d[i], FE_TONEAREST));
    CHECK(u64[i] == toInt<uint64_t>(d[i], FE_TOWARDZERO));
    CHECK(s32[i] == toInt<int32_t>(d[i], FE_UPWARD));
  }
}

namespace {
void checkIntToFloat(int first, int last) {
  std::vector<uint32_t> u = edgeU32();
  for (uint32_t v : {16777217u, 16777219u, 0x7fffffc0u, 0x7fffffbfu, 0xffffff80u, 0xfffffe7fu, 33554435u})
    u.push_back(v);
  std::vector<uint64_t> w = edgeU64();
  for (uint64_t v : {9007199254740993ull, 0x7ffffffffffffdffull, 0xfffffffffffff401ull, 0x20000001ull})
    w.push_back(v);
  for (int m = first; m <= last; ++m) {
    std::string rm = kModes2[m];
    auto fs = runElementwise<float, uint32_t>(".s32", ".f32", "cvt." + rm + ".f32.s32 %d, %a;", u);
    auto fu = runElementwise<float, uint32_t>(".u32", ".f32", "cvt." + rm + ".f32.u32 %d, %a;", u);
    auto fs64 = runElementwise<float, uint64_t>(".s64", ".f32", "cvt." + rm + ".f32.s64 %d, %a;", w);
    auto fu64 = runElementwise<float, uint64_t>(".u64", ".f32", "cvt." + rm + ".f32.u64 %d, %a;", w);
    auto ds64 = runElementwise<double, uint64_t>(".s64", ".f64", "cvt." + rm + ".f64.s64 %d, %a;", w);
    auto du64 = runElementwise<double, uint64_t>(".u64", ".f64", "cvt." + rm + ".f64.u64 %d, %a;", w);
    Rounding r(kModes[m]);
    for (size_t i = 0; i < u.size(); ++i) {
      INFO(rm, " x=", u[i]);
      volatile int32_t si = int32_t(u[i]);
      volatile uint32_t ui = u[i];
      CHECK(hex(bits(fs[i])) == hex(bits(float(si))));
      CHECK(hex(bits(fu[i])) == hex(bits(float(ui))));
    }
    for (size_t i = 0; i < w.size(); ++i) {
      INFO(rm, " x=", w[i]);
      volatile int64_t si = int64_t(w[i]);
      volatile uint64_t ui = w[i];
      CHECK(hex(bits(fs64[i])) == hex(bits(float(si))));
      CHECK(hex(bits(fu64[i])) == hex(bits(float(ui))));
      CHECK(hex(bits(ds64[i])) == hex(bits(double(si))));
      CHECK(hex(bits(du64[i])) == hex(bits(double(ui))));
    }
  }
}
} // namespace

TEST_CASE("cvt.rn int -> float") { checkIntToFloat(0, 0); }

// e.g. cvt.rz.f32.s32 2147483647 is 0x4effffff, cvt.rp.f32.s32 16777217 is
// 0x4b800001.
TEST_CASE("cvt.rz .rm .rp int -> float") { checkIntToFloat(1, 3); }

namespace {
std::vector<double> narrowInputs() {
  auto d = edgeF64();
  for (double v : {3.4028235677973366e38, 3.4028236e38, 1e39, -1e39, 1.4e-45, 7e-46, 1.0000000596046448,
                   1.0000000894069672})
    d.push_back(v);
  return d;
}
void checkNarrow(int first, int last) {
  auto d = narrowInputs();
  for (int m = first; m <= last; ++m) {
    std::string rm = kModes2[m];
    auto f = runElementwise<float, double>(".f64", ".f32", "cvt." + rm + ".f32.f64 %d, %a;", d);
    Rounding r(kModes[m]);
    for (size_t i = 0; i < d.size(); ++i) {
      volatile double v = d[i];
      INFO(rm, " x=", d[i], " got=", hex(bits(f[i])), " want=", hex(bits(float(v))));
      CHECK(same(f[i], float(v)));
    }
  }
}
} // namespace

TEST_CASE("cvt.rn.f32.f64") { checkNarrow(0, 0); }

// e.g. cvt.rz.f32.f64 of 1/3 is 0x3eaaaaaa, of DBL_MAX is FLT_MAX.
TEST_CASE("cvt.rz .rm .rp .f32.f64") { checkNarrow(1, 3); }

TEST_CASE("cvt.ftz.f32.f32 flushes denormals") {
  auto x = cvtInputs();
  auto ftz = runElementwise<float>(".f32", ".f32", "cvt.ftz.f32.f32 %d, %a;", x);
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x=", hex(bits(x[i])), " got=", hex(bits(ftz[i])));
    if (std::fpclassify(x[i]) == FP_SUBNORMAL)
      CHECK(bits(ftz[i]) == (bits(x[i]) & 0x80000000u));
    else
      CHECK(same(ftz[i], x[i]));
  }
}

TEST_CASE("cvt float <-> float: widening, round-to-integral, .sat") {
  auto x = cvtInputs();
  auto wide = runElementwise<double, float>(".f32", ".f64", "cvt.f64.f32 %d, %a;", x);
  for (int m = 0; m < 4; ++m) {
    std::string rm = kIntModes[m];
    auto g = runElementwise<float>(".f32", ".f32", "cvt." + rm + ".f32.f32 %d, %a;", x);
    Rounding r(kModes[m]);
    for (size_t i = 0; i < x.size(); ++i) {
      INFO(rm, " x=", x[i]);
      volatile float v = x[i];
      CHECK(same(g[i], std::nearbyint(v)));
    }
  }
  auto sat = runElementwise<float>(".f32", ".f32", "cvt.sat.f32.f32 %d, %a;", x);
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x=", x[i]);
    CHECK(same(wide[i], double(x[i])));
    float want = std::isnan(x[i]) ? 0.0f : std::fmin(std::fmax(x[i], 0.0f), 1.0f);
    if (x[i] == 0) // the sign of a saturated zero is not pinned down
      CHECK(sat[i] == 0.0f);
    else
      CHECK(same(sat[i], want));
  }
}

TEST_CASE("cvt integer widths: truncation, sign extension, .sat") {
  auto u = edgeU32();
  for (uint32_t v : {0x7fffu, 0x8000u, 0xffffu, 0x10000u, 0xffff8000u, 0xffff7fffu, 0x80u, 0xff80u})
    u.push_back(v);
  auto tr = runElementwise<uint16_t, uint32_t>(".u32", ".u16", "cvt.u16.u32 %d, %a;", u);
  auto ss = runElementwise<int16_t, uint32_t>(".s32", ".s16", "cvt.sat.s16.s32 %d, %a;", u);
  auto su = runElementwise<uint16_t, uint32_t>(".s32", ".u16", "cvt.sat.u16.s32 %d, %a;", u);
  auto s8 = runElementwise<uint32_t>(".s32", ".s32", "cvt.s32.s8 %d, %a;", u);
  auto u8 = runElementwise<uint32_t>(".u32", ".u32", "cvt.u32.u8 %d, %a;", u);
  auto sx = runElementwise<uint64_t, uint32_t>(".s32", ".s64", "cvt.s64.s32 %d, %a;", u);
  auto zx = runElementwise<uint64_t, uint32_t>(".u32", ".u64", "cvt.u64.u32 %d, %a;", u);
  auto s8sat = runElementwise<uint32_t>(".s32", ".s32", "cvt.sat.s8.s32 %r3, %a;\n cvt.s32.s8 %d, %r3;", u);
  for (size_t i = 0; i < u.size(); ++i) {
    INFO("x=0x", std::hex, u[i]);
    int32_t v = int32_t(u[i]);
    CHECK(tr[i] == uint16_t(u[i]));
    CHECK(ss[i] == int16_t(std::clamp(v, -32768, 32767)));
    CHECK(su[i] == uint16_t(std::clamp(v, 0, 65535)));
    CHECK(s8[i] == uint32_t(int32_t(int8_t(u[i]))));
    CHECK(u8[i] == (u[i] & 0xff));
    CHECK(sx[i] == uint64_t(int64_t(v)));
    CHECK(zx[i] == uint64_t(u[i]));
    CHECK(s8sat[i] == uint32_t(std::clamp(v, -128, 127)));
  }
}

namespace {
void checkHalves(const std::vector<float> &x);
} // namespace

TEST_CASE("cvt f32 <-> f16 and bf16") {
  // f32 denormals round to zero or bf16 denormals: covered separately below.
  std::vector<float> x;
  for (float v : cvtInputs())
    if (std::fpclassify(v) != FP_SUBNORMAL)
      x.push_back(v);
  checkHalves(x);
}

// f32 denormals are not flushed on the way to bf16: 0x807fffff is 0x8080
// (rounds up to -FLT_MIN), 0x00400000 is 0x0040.
TEST_CASE("cvt f32 denormals -> f16 and bf16") {
  checkHalves({f32(0x807fffff), f32(0x00400000), f32(0x007f8000), f32(0x00000001), f32(0x80012345), 1.0f});
}

namespace {
void checkHalves(const std::vector<float> &x) {
  auto h = runElementwise<uint16_t, float>(".f32", ".b16", "cvt.rn.f16.f32 %d, %a;", x);
  auto b = runElementwise<uint16_t, float>(".f32", ".b16", "cvt.rn.bf16.f32 %d, %a;", x);
  auto hh = runElementwise<float>(".f32", ".f32", "cvt.rn.f16.f32 %h1, %a;\n cvt.f32.f16 %d, %h1;", x);
  auto bb = runElementwise<float>(".f32", ".f32", "cvt.rn.bf16.f32 %h1, %a;\n cvt.f32.bf16 %d, %h1;", x);
  // f16x2 packing: a goes to the upper half.
  auto px = runElementwise<uint32_t, float>(".f32", ".b32", "cvt.rn.f16x2.f32 %d, %a, %b;", x,
                                            std::vector<float>(x.rbegin(), x.rend()));
  auto pb = runElementwise<uint32_t, float>(".f32", ".b32", "cvt.rn.bf16x2.f32 %d, %a, %b;", x,
                                            std::vector<float>(x.rbegin(), x.rend()));
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x=", x[i]);
    uint16_t wh = std::bit_cast<uint16_t>(_Float16(x[i]));
    uint16_t wb = bf16(x[i]);
    INFO("x=", hex(bits(x[i])), " f16 got=", hex(h[i]), " want=", hex(wh), " bf16 got=", hex(b[i]),
         " want=", hex(wb), " f16x2=", hex(px[i]), " bf16x2=", hex(pb[i]));
    CHECK(((nan16(h[i], false) && nan16(wh, false)) || h[i] == wh));
    CHECK(((nan16(b[i], true) && nan16(wb, true)) || b[i] == wb));
    CHECK(same(hh[i], float(std::bit_cast<_Float16>(wh))));
    CHECK(same(bb[i], f32(uint32_t(wb) << 16)));
    float y = x[x.size() - 1 - i];
    uint16_t hy = std::bit_cast<uint16_t>(_Float16(y)), by = bf16(y);
    uint16_t ghi = uint16_t(px[i] >> 16), glo = uint16_t(px[i]);
    CHECK(((nan16(ghi, false) && nan16(wh, false)) || ghi == wh));
    CHECK(((nan16(glo, false) && nan16(hy, false)) || glo == hy));
    uint16_t bhi = uint16_t(pb[i] >> 16), blo = uint16_t(pb[i]);
    CHECK(((nan16(bhi, true) && nan16(wb, true)) || bhi == wb));
    CHECK(((nan16(blo, true) && nan16(by, true)) || blo == by));
  }
}
} // namespace

namespace {
/// The finite values of a 16-bit float format in ascending order, for an
/// independent directed-rounding reference (neighbours on the grid).
std::vector<std::pair<double, uint16_t>> grid16(bool bf) {
  std::vector<std::pair<double, uint16_t>> g;
  for (uint32_t u = 0; u < 0x10000; ++u) {
    double v;
    if (bf) {
      v = double(f32(u << 16));
    } else {
      v = double(float(std::bit_cast<_Float16>(uint16_t(u))));
    }
    if (std::isfinite(v) && !(v == 0 && u != 0 && u != 0x8000))
      g.emplace_back(v, uint16_t(u));
  }
  std::sort(g.begin(), g.end(), [](auto &x, auto &y) {
    return x.first < y.first || (x.first == y.first && x.second > y.second); // -0 before +0
  });
  return g;
}

/// x rounded onto the grid in mode m (0 rn, 1 rz, 2 rm, 3 rp).
uint16_t round16(const std::vector<std::pair<double, uint16_t>> &g, float x, int m, bool bf) {
  const uint16_t inf = bf ? 0x7f80 : 0x7c00;
  if (std::isnan(x))
    return inf | 1;
  if (std::isinf(x)) // exact, in every mode
    return std::signbit(x) ? uint16_t(0x8000 | inf) : inf;
  const double v = x, top = g.back().first;
  auto hi = std::lower_bound(g.begin(), g.end(), v, [](auto &e, double y) { return e.first < y; });
  if (v == 0)
    return std::signbit(x) ? 0x8000 : 0;
  if (hi != g.end() && hi->first == v)
    return hi->second;
  const bool neg = v < 0;
  if (std::fabs(v) > top) { // beyond the largest finite value
    const uint16_t big = uint16_t(neg ? 0x8000 | g.back().second : g.back().second);
    const double halfUlp = (top - std::prev(g.end(), 2)->first) / 2;
    bool toInf = m == 0 ? std::fabs(v) >= top + halfUlp : m == 2 ? neg : m == 3 ? !neg : false;
    return toInf ? uint16_t(neg ? 0x8000 | inf : inf) : big;
  }
  auto lo = std::prev(hi);
  uint16_t down = lo->second, up = hi->second;
  if (lo->first == 0) // the zero between a negative and a positive value keeps x's sign
    down = neg ? 0x8000 : 0;
  if (hi->first == 0)
    up = 0x8000;
  switch (m) {
  case 1:
    return neg ? up : down;
  case 2:
    return down;
  case 3:
    return up;
  default: {
    double dl = v - lo->first, du = hi->first - v;
    if (dl != du)
      return dl < du ? down : up;
    return (down & 1) == 0 ? down : up;
  }
  }
}
} // namespace

// Every mode onto the f16 and bf16 grids, checked against the grid itself:
// ties, denormals of both formats, overflow to inf or to the largest finite.
TEST_CASE("cvt.rn .rz .rm .rp .f16.f32 and .bf16.f32 (and x2 packing)") {
  auto gh = grid16(false), gb = grid16(true);
  std::vector<float> x;
  for (float v : cvtInputs())
    if (!std::isnan(v))
      x.push_back(v);
  for (float v : {65504.0f, 65519.0f, 65520.0f, 65536.0f, 1e5f, 0x1p-24f, 0x1.8p-25f, 0x1p-25f, 0x1.2p-20f,
                  1.0009765625f, 1.00048828125f, 1.000732421875f, 3.3961775e38f, 3.3895314e38f, 1.0039063f})
    for (float s : {1.0f, -1.0f})
      x.push_back(v * s);
  Rng rng;
  for (int i = 0; i < 256; ++i)
    x.push_back(f32(uint32_t(rng.next()) & 0xc7ffffffu)); // |x| below 2^17: normal and denormal halves
  for (int m = 0; m < 4; ++m) {
    std::string rm = kModes2[m];
    auto h = runElementwise<uint16_t, float>(".f32", ".b16", "cvt." + rm + ".f16.f32 %d, %a;", x);
    auto b = runElementwise<uint16_t, float>(".f32", ".b16", "cvt." + rm + ".bf16.f32 %d, %a;", x);
    auto px = runElementwise<uint32_t, float>(".f32", ".b32", "cvt." + rm + ".f16x2.f32 %d, %a, %b;", x, x);
    for (size_t i = 0; i < x.size(); ++i) {
      uint16_t wh = round16(gh, x[i], m, false), wb = round16(gb, x[i], m, true);
      INFO(rm, " x=", hex(bits(x[i])), " f16 got=", hex(h[i]), " want=", hex(wh), " bf16 got=", hex(b[i]),
           " want=", hex(wb));
      CHECK(h[i] == wh);
      CHECK(b[i] == wb);
      CHECK(px[i] == (uint32_t(wh) << 16 | wh));
    }
  }
  // pinned: the directions differ
  auto one = [&](const char *body, float v) {
    return runElementwise<uint16_t, float>(".f32", ".b16", body, std::vector<float>{v})[0];
  };
  CHECK(one("cvt.rz.f16.f32 %d, %a;", 1e5f) == 0x7bff);
  CHECK(one("cvt.rp.f16.f32 %d, %a;", 65505.0f) == 0x7c00);
  CHECK(one("cvt.rm.f16.f32 %d, %a;", -0x1p-30f) == 0x8001);
  CHECK(one("cvt.rp.f16.f32 %d, %a;", -0x1p-30f) == 0x8000);
  CHECK(one("cvt.rz.bf16.f32 %d, %a;", 3.4e38f) == 0x7f7f);
  CHECK(one("cvt.rp.bf16.f32 %d, %a;", f32(0x00000001)) == 0x0001);
}
