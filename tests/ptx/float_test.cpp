// Floating-point arithmetic, comparison and approximate functions.
#include "harness.h"
#include <cfenv>
#include <functional>
#include <limits>

using namespace ptxg;

namespace {

const int kModes[4] = {FE_TONEAREST, FE_TOWARDZERO, FE_DOWNWARD, FE_UPWARD};
const char *kModeNames[4] = {"rn", "rz", "rm", "rp"};

float flush(float x) { return std::fpclassify(x) == FP_SUBNORMAL ? std::copysign(0.0f, x) : x; }

/// Runs `body` over all pairs of the edge set (%c = a third operand) and
/// compares with the host function computed under `mode`.
template <class T, class F>
void checkFloat(const std::string &ty, const std::string &body, const std::vector<T> &set, int mode, F f,
                bool zeroSignFree = false) {
  std::vector<T> a, b, c;
  pairs(set, a, b);
  for (size_t i = 0; i < a.size(); ++i)
    c.push_back(set[(i * 7 + 3) % set.size()]);
  auto got = runElementwise<T>(ty, ty, body, a, b, c);
  Rounding r(mode);
  for (size_t i = 0; i < a.size(); ++i) {
    volatile T va = a[i], vb = b[i], vc = c[i];
    T want = f(va, vb, vc);
    INFO(body, " a=", a[i], " b=", b[i], " c=", c[i], " got=", got[i], " (", hex(bits(got[i])),
         ") want=", want, " (", hex(bits(want)), ")");
    if (zeroSignFree && got[i] == 0 && want == 0)
      continue;
    CHECK(same(got[i], want));
  }
}

} // namespace

namespace {

void checkAddMulFma(int m) {
  std::string rm = kModeNames[m];
  checkFloat<float>(".f32", "add." + rm + ".f32 %d, %a, %b;", edgeF32(), kModes[m],
                    [](float a, float b, float) { return a + b; });
  checkFloat<float>(".f32", "sub." + rm + ".f32 %d, %a, %b;", edgeF32(), kModes[m],
                    [](float a, float b, float) { return a - b; });
  checkFloat<float>(".f32", "mul." + rm + ".f32 %d, %a, %b;", edgeF32(), kModes[m],
                    [](float a, float b, float) { return a * b; });
  checkFloat<float>(".f32", "fma." + rm + ".f32 %d, %a, %b, %c;", edgeF32(), kModes[m],
                    [](float a, float b, float c) { return std::fma(a, b, c); });
  checkFloat<double>(".f64", "add." + rm + ".f64 %d, %a, %b;", edgeF64(), kModes[m],
                     [](double a, double b, double) { return a + b; });
  checkFloat<double>(".f64", "mul." + rm + ".f64 %d, %a, %b;", edgeF64(), kModes[m],
                     [](double a, double b, double) { return a * b; });
  checkFloat<double>(".f64", "fma." + rm + ".f64 %d, %a, %b, %c;", edgeF64(), kModes[m],
                     [](double a, double b, double c) { return std::fma(a, b, c); });
}

void checkDivSqrtRcp(int m) {
  std::string rm = kModeNames[m];
  checkFloat<float>(".f32", "div." + rm + ".f32 %d, %a, %b;", edgeF32(), kModes[m],
                    [](float a, float b, float) { return a / b; });
  checkFloat<double>(".f64", "div." + rm + ".f64 %d, %a, %b;", edgeF64(), kModes[m],
                     [](double a, double b, double) { return a / b; });
  checkFloat<float>(".f32", "sqrt." + rm + ".f32 %d, %a;", edgeF32(), kModes[m],
                    [](float a, float, float) { return std::sqrt(a); });
  checkFloat<double>(".f64", "sqrt." + rm + ".f64 %d, %a;", edgeF64(), kModes[m],
                     [](double a, double, double) { return std::sqrt(a); });
  checkFloat<float>(".f32", "rcp." + rm + ".f32 %d, %a;", edgeF32(), kModes[m],
                    [](float a, float, float) { return 1.0f / a; });
  checkFloat<double>(".f64", "rcp." + rm + ".f64 %d, %a;", edgeF64(), kModes[m],
                     [](double a, double, double) { return 1.0 / a; });
}

} // namespace

TEST_CASE("add sub mul fma .rn, f32 and f64") { checkAddMulFma(0); }

// Directed rounding over the edge set, e.g. add.rz.f32 1 + 1/3 is 0x3faaaaaa,
// sub.rm.f32 0 - 0 is -0, mul.rp.f64 1.5 * -DBL_MAX is -DBL_MAX.
TEST_CASE("add sub mul fma .rz .rm .rp, f32 and f64") {
  for (int m = 1; m < 4; ++m)
    checkAddMulFma(m);
}

TEST_CASE(".sat clamps to [0, 1]; denormals survive without .ftz") {
  auto got = runElementwise<float>(".f32", ".f32", "mul.rn.f32 %d, %a, %b;",
                                   std::vector<float>{f32(0x00800000)}, std::vector<float>{0.5f});
  CHECK(bits(got[0]) == 0x00400000u);
  // .sat: NaN -> +0.
  checkFloat<float>(".f32", "add.rn.sat.f32 %d, %a, %b;", edgeF32(), FE_TONEAREST,
                    [](float a, float b, float) {
                      float r = a + b;
                      return std::isnan(r) ? 0.0f : r < 0.0f ? 0.0f : r > 1.0f ? 1.0f : r == 0.0f ? 0.0f : r;
                    });
}

TEST_CASE(".ftz flushes denormal inputs and results") {
  checkFloat<float>(".f32", "add.rn.ftz.f32 %d, %a, %b;", edgeF32(), FE_TONEAREST,
                    [](float a, float b, float) { return flush(flush(a) + flush(b)); });
  checkFloat<float>(".f32", "mul.rn.ftz.f32 %d, %a, %b;", edgeF32(), FE_TONEAREST,
                    [](float a, float b, float) { return flush(flush(a) * flush(b)); });
  checkFloat<float>(
      ".f32", "min.ftz.f32 %d, %a, %b;", edgeF32(), FE_TONEAREST,
      [](float a, float b, float) {
        a = flush(a);
        b = flush(b);
        if (a == 0 && b == 0)
          return std::signbit(a) ? a : b;
        return std::fmin(a, b);
      },
      true);
}

TEST_CASE("div sqrt rcp .rn are correctly rounded") { checkDivSqrtRcp(0); }

// e.g. div.rz.f32 1/1.5 is 0x3f2aaaaa; rcp.rm.f64 of the smallest denormal is
// DBL_MAX.
TEST_CASE("div sqrt rcp .rz .rm .rp") {
  for (int m = 1; m < 4; ++m)
    checkDivSqrtRcp(m);
}

TEST_CASE("div rcp sqrt rsqrt .approx are within tolerance") {
  std::vector<float> a, b;
  Rng rng;
  for (int i = 0; i < 256; ++i) {
    a.push_back(float(int(rng.next() % 20001) - 10000) / 37.0f);
    b.push_back(float(int(rng.next() % 20001) - 10000) / 53.0f + 0.5f);
  }
  auto div = runElementwise<float>(".f32", ".f32", "div.approx.f32 %d, %a, %b;", a, b);
  auto divf = runElementwise<float>(".f32", ".f32", "div.full.f32 %d, %a, %b;", a, b);
  auto rcp = runElementwise<float>(".f32", ".f32", "rcp.approx.f32 %d, %b;", a, b);
  auto sq = runElementwise<float>(".f32", ".f32", "abs.f32 %f1, %b;\n sqrt.approx.f32 %d, %f1;", a, b);
  auto rsq = runElementwise<float>(".f32", ".f32", "abs.f32 %f1, %b;\n rsqrt.approx.f32 %d, %f1;", a, b);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("a=", a[i], " b=", b[i]);
    double q = double(a[i]) / b[i];
    CHECK(std::fabs(div[i] - q) <= 4e-7 * std::fabs(q) + 1e-30);
    CHECK(std::fabs(divf[i] - q) <= 4e-7 * std::fabs(q) + 1e-30);
    CHECK(std::fabs(rcp[i] - 1.0 / b[i]) <= 2e-7 / std::fabs(b[i]));
    CHECK(std::fabs(sq[i] - std::sqrt(std::fabs(double(b[i])))) <= 4e-7 * std::sqrt(std::fabs(double(b[i]))));
    CHECK(std::fabs(rsq[i] - 1.0 / std::sqrt(std::fabs(double(b[i])))) <=
          4e-7 / std::sqrt(std::fabs(double(b[i]))));
  }
  // Special values of the approximate forms.
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> sp = {0.0f, -0.0f, inf, -inf, std::nanf(""), -1.0f};
  auto r = runElementwise<float>(".f32", ".f32", "rcp.approx.f32 %d, %a;", sp);
  CHECK(r[0] == inf);
  CHECK(r[1] == -inf);
  CHECK(bits(r[2]) == 0u);
  CHECK(bits(r[3]) == 0x80000000u);
  CHECK(std::isnan(r[4]));
  auto q = runElementwise<float>(".f32", ".f32", "sqrt.approx.f32 %d, %a;", sp);
  CHECK(bits(q[0]) == 0u);
  CHECK(bits(q[1]) == 0x80000000u);
  CHECK(q[2] == inf);
  CHECK(std::isnan(q[3]));
  CHECK(std::isnan(q[4]));
  CHECK(std::isnan(q[5]));
  auto rs = runElementwise<float>(".f32", ".f32", "rsqrt.approx.f32 %d, %a;", sp);
  CHECK(rs[0] == inf);
  CHECK(rs[1] == -inf);
  CHECK(bits(rs[2]) == 0u);
  CHECK(std::isnan(rs[5]));
}

TEST_CASE("f32 min max: NaN operands, signed zeros, .NaN propagation") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // One NaN operand: the other is returned; both NaN: NaN.
  checkFloat<float>(
      ".f32", "min.f32 %d, %a, %b;", edgeF32(), FE_TONEAREST,
      [](float a, float b, float) {
        if (a == 0 && b == 0) // -0 < +0 for min/max
          return std::signbit(a) ? a : b;
        return std::fmin(a, b);
      },
      true);
  checkFloat<float>(
      ".f32", "max.f32 %d, %a, %b;", edgeF32(), FE_TONEAREST,
      [](float a, float b, float) {
        if (a == 0 && b == 0)
          return std::signbit(a) ? b : a;
        return std::fmax(a, b);
      },
      true);
  checkFloat<float>(
      ".f32", "min.NaN.f32 %d, %a, %b;", edgeF32(), FE_TONEAREST,
      [&](float a, float b, float) {
        if (std::isnan(a) || std::isnan(b))
          return nan;
        if (a == 0 && b == 0)
          return std::signbit(a) ? a : b;
        return std::fmin(a, b);
      },
      true);
  checkFloat<double>(
      ".f64", "max.f64 %d, %a, %b;", edgeF64(), FE_TONEAREST,
      [](double a, double b, double) {
        if (a == 0 && b == 0)
          return std::signbit(a) ? b : a;
        return std::fmax(a, b);
      },
      true);
}

TEST_CASE("abs neg copysign testp") {
  checkFloat<float>(".f32", "abs.f32 %d, %a;", edgeF32(), FE_TONEAREST,
                    [](float a, float, float) { return std::fabs(a); });
  checkFloat<float>(".f32", "neg.f32 %d, %a;", edgeF32(), FE_TONEAREST,
                    [](float a, float, float) { return -a; });
  checkFloat<double>(".f64", "neg.f64 %d, %a;", edgeF64(), FE_TONEAREST,
                     [](double a, double, double) { return -a; });
  checkFloat<double>(".f64", "abs.f64 %d, %a;", edgeF64(), FE_TONEAREST,
                     [](double a, double, double) { return std::fabs(a); });
  // copysign d, a, b: b's magnitude with a's sign.
  checkFloat<float>(".f32", "copysign.f32 %d, %a, %b;", edgeF32(), FE_TONEAREST,
                    [](float a, float b, float) { return std::copysign(b, a); });
  checkFloat<double>(".f64", "copysign.f64 %d, %a, %b;", edgeF64(), FE_TONEAREST,
                     [](double a, double b, double) { return std::copysign(b, a); });
  // testp: one bit per class.
  const char *kinds[] = {"finite", "infinite", "number", "notanumber", "normal", "subnormal"};
  std::string body;
  for (int k = 0; k < 6; ++k)
    body += std::string("testp.") + kinds[k] + ".f32 %p1, %a;\n selp.u32 %r" + std::to_string(k + 2) + ", " +
            std::to_string(1 << k) + ", 0, %p1;\n";
  body += "or.b32 %r2, %r2, %r3;\n or.b32 %r2, %r2, %r4;\n or.b32 %r2, %r2, %r5;\n or.b32 %r2, %r2, %r6;\n"
          " or.b32 %d, %r2, %r7;";
  auto a = edgeF32();
  auto got = runElementwise<uint32_t>(".f32", ".u32", body, a);
  for (size_t i = 0; i < a.size(); ++i) {
    float x = a[i];
    uint32_t want = uint32_t(std::isfinite(x)) | uint32_t(std::isinf(x)) << 1 |
                    uint32_t(!std::isnan(x)) << 2 | uint32_t(std::isnan(x)) << 3 |
                    uint32_t(std::isnormal(x)) << 4 | uint32_t(std::fpclassify(x) == FP_SUBNORMAL) << 5;
    INFO("x=", x);
    CHECK(got[i] == want);
  }
}

TEST_CASE("f32 setp: ordered and unordered comparisons with NaN") {
  struct Cmp {
    const char *op;
    std::function<bool(float, float)> f;
  };
  auto un = [](float a, float b) { return std::isnan(a) || std::isnan(b); };
  const Cmp cmps[] = {
      {"eq", [](float a, float b) { return a == b; }},
      {"ne", [&](float a, float b) { return !un(a, b) && a != b; }},
      {"lt", [](float a, float b) { return a < b; }},
      {"le", [](float a, float b) { return a <= b; }},
      {"gt", [](float a, float b) { return a > b; }},
      {"ge", [](float a, float b) { return a >= b; }},
      {"equ", [&](float a, float b) { return un(a, b) || a == b; }},
      {"neu", [&](float a, float b) { return un(a, b) || a != b; }},
      {"ltu", [&](float a, float b) { return un(a, b) || a < b; }},
      {"leu", [&](float a, float b) { return un(a, b) || a <= b; }},
      {"gtu", [&](float a, float b) { return un(a, b) || a > b; }},
      {"geu", [&](float a, float b) { return un(a, b) || a >= b; }},
      {"num", [&](float a, float b) { return !un(a, b); }},
      {"nan", [&](float a, float b) { return un(a, b); }},
  };
  std::vector<float> a, b;
  pairs(edgeF32(), a, b);
  for (const Cmp &c : cmps) {
    auto got = runElementwise<uint32_t>(
        ".f32", ".u32", std::string("setp.") + c.op + ".f32 %p1, %a, %b;\n selp.u32 %d, 1, 0, %p1;", a, b);
    for (size_t i = 0; i < a.size(); ++i) {
      INFO(c.op, " a=", a[i], " b=", b[i]);
      CHECK(got[i] == uint32_t(c.f(a[i], b[i])));
    }
  }
  // f64 and set (predicate-free form yielding 0xffffffff / 1.0f).
  std::vector<double> a6, b6;
  pairs(edgeF64(), a6, b6);
  auto g6 = runElementwise<uint64_t, double>(".f64", ".u64",
                                             "setp.ltu.f64 %p1, %a, %b;\n selp.u64 %d, 1, 0, %p1;", a6, b6);
  for (size_t i = 0; i < a6.size(); ++i) {
    INFO("a=", a6[i], " b=", b6[i]);
    CHECK(g6[i] == uint64_t(std::isnan(a6[i]) || std::isnan(b6[i]) || a6[i] < b6[i]));
  }
  auto gs = runElementwise<uint32_t>(".f32", ".u32", "set.gt.u32.f32 %d, %a, %b;", a, b);
  auto gf = runElementwise<float>(".f32", ".f32", "set.le.f32.f32 %d, %a, %b;", a, b);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("a=", a[i], " b=", b[i]);
    CHECK(gs[i] == (a[i] > b[i] ? 0xffffffffu : 0u));
    CHECK(bits(gf[i]) == (a[i] <= b[i] ? 0x3f800000u : 0u));
  }
}

TEST_CASE("selp and slct with floats") {
  std::vector<float> a, b;
  pairs(edgeF32(), a, b);
  auto got =
      runElementwise<float>(".f32", ".f32", "setp.gt.f32 %p1, %a, %b;\n selp.f32 %d, %a, %b, %p1;", a, b);
  // slct.f32.f32 d, x, y, c: c >= 0 selects x (-0 counts as >= 0).
  auto sl = runElementwise<float>(".f32", ".f32", "slct.f32.f32 %d, %b, %a, %a;", a, b);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("a=", a[i], " b=", b[i]);
    CHECK(same(got[i], a[i] > b[i] ? a[i] : b[i]));
    if (!std::isnan(a[i]))
      CHECK(same(sl[i], a[i] >= 0.0f ? b[i] : a[i]));
  }
}

TEST_CASE("sin cos lg2 ex2 tanh .approx within tolerance, special values") {
  std::vector<float> x;
  for (int i = -64; i <= 64; ++i)
    x.push_back(float(i) * 3.14159265f / 64.0f);
  auto sn = runElementwise<float>(".f32", ".f32", "sin.approx.f32 %d, %a;", x);
  auto cs = runElementwise<float>(".f32", ".f32", "cos.approx.f32 %d, %a;", x);
  for (size_t i = 0; i < x.size(); ++i) {
    INFO("x=", x[i]);
    CHECK(std::fabs(sn[i] - std::sin(double(x[i]))) <= 1e-6); // spec: 2^-20.9 absolute on [-pi, pi]
    CHECK(std::fabs(cs[i] - std::cos(double(x[i]))) <= 1e-6);
  }
  std::vector<float> p;
  for (int i = 1; i <= 200; ++i)
    p.push_back(float(i) * 0.173f);
  auto lg = runElementwise<float>(".f32", ".f32", "lg2.approx.f32 %d, %a;", p);
  std::vector<float> e;
  for (int i = -100; i <= 100; ++i)
    e.push_back(float(i) * 0.37f);
  auto ex = runElementwise<float>(".f32", ".f32", "ex2.approx.f32 %d, %a;", e);
  for (size_t i = 0; i < p.size(); ++i) {
    INFO("x=", p[i]);
    CHECK(std::fabs(lg[i] - std::log2(double(p[i]))) <= 2e-7 + 2e-7 * std::fabs(std::log2(double(p[i]))));
  }
  for (size_t i = 0; i < e.size(); ++i) {
    INFO("x=", e[i]);
    double w = std::exp2(double(e[i]));
    CHECK(std::fabs(ex[i] - w) <= 3e-7 * w);
  }
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> sp = {0.0f, -0.0f, inf, -inf, std::nanf(""), -1.0f};
  auto l = runElementwise<float>(".f32", ".f32", "lg2.approx.f32 %d, %a;", sp);
  CHECK(l[0] == -inf);
  CHECK(l[1] == -inf);
  CHECK(l[2] == inf);
  CHECK(std::isnan(l[3]));
  CHECK(std::isnan(l[4]));
  CHECK(std::isnan(l[5]));
  auto x2 = runElementwise<float>(".f32", ".f32", "ex2.approx.f32 %d, %a;", sp);
  CHECK(x2[0] == 1.0f);
  CHECK(x2[1] == 1.0f);
  CHECK(x2[2] == inf);
  CHECK(bits(x2[3]) == 0u);
  CHECK(std::isnan(x2[4]));
  auto s2 = runElementwise<float>(".f32", ".f32", "sin.approx.f32 %d, %a;", sp);
  CHECK(std::isnan(s2[2]));
  CHECK(std::isnan(s2[3]));
  CHECK(std::isnan(s2[4]));
  auto th = runElementwise<float>(".f32", ".f32", "tanh.approx.f32 %d, %a;", sp);
  CHECK(th[2] == 1.0f);
  CHECK(th[3] == -1.0f);
  CHECK(std::isnan(th[4]));
}

TEST_CASE("f16x2 add mul") {
  // Halves packed into .b32: host reference rounds through float, which is
  // exact for add/mul of halves (24 >= 2*11+2 bits).
  auto h = [](float x) { return std::bit_cast<uint16_t>(_Float16(x)); };
  auto hf = [](uint16_t u) { return float(std::bit_cast<_Float16>(u)); };
  std::vector<float> vals = {0.0f,          -0.0f,   1.0f,    -1.5f,  65504.0f,
                             -65504.0f,     6.0e-8f, 6.1e-5f, 0.333f, std::numeric_limits<float>::infinity(),
                             std::nanf(""), 1000.0f, 2049.0f};
  std::vector<uint32_t> a, b;
  for (float x : vals)
    for (float y : vals) {
      a.push_back(uint32_t(h(x)) | uint32_t(h(y)) << 16);
      b.push_back(uint32_t(h(y)) | uint32_t(h(-x * 0.75f)) << 16);
    }
  auto add = runElementwise<uint32_t>(".b32", ".b32", "add.rn.f16x2 %d, %a, %b;", a, b);
  auto mul = runElementwise<uint32_t>(".b32", ".b32", "mul.rn.f16x2 %d, %a, %b;", a, b);
  for (size_t i = 0; i < a.size(); ++i)
    for (int half = 0; half < 2; ++half) {
      uint16_t x = uint16_t(a[i] >> (16 * half)), y = uint16_t(b[i] >> (16 * half));
      uint16_t ga = uint16_t(add[i] >> (16 * half)), gm = uint16_t(mul[i] >> (16 * half));
      uint16_t wa = h(hf(x) + hf(y)), wm = h(hf(x) * hf(y));
      INFO("x=", hf(x), " y=", hf(y), " half=", half);
      auto isnan16 = [](uint16_t u) { return (u & 0x7c00) == 0x7c00 && (u & 0x3ff); };
      CHECK(((isnan16(ga) && isnan16(wa)) || ga == wa));
      CHECK(((isnan16(gm) && isnan16(wm)) || gm == wm));
    }
}

// Directed rounding on pinned values where the four modes differ: overflow
// to infinity or to the largest finite value, denormal results, signs.
TEST_CASE("directed rounding: pinned results") {
  const float third = 1.0f / 3.0f, fmax = std::numeric_limits<float>::max();
  struct Case {
    const char *op;
    float a, b;
    uint32_t want[4]; // rn rz rm rp
  };
  const Case cases[] = {
      {"add", 1.0f, third, {0x3faaaaab, 0x3faaaaaa, 0x3faaaaaa, 0x3faaaaab}},
      {"add", -1.0f, -third, {0xbfaaaaab, 0xbfaaaaaa, 0xbfaaaaab, 0xbfaaaaaa}},
      {"sub", 0.0f, 0.0f, {0x00000000, 0x00000000, 0x80000000, 0x00000000}},
      {"mul", fmax, 2.0f, {0x7f800000, 0x7f7fffff, 0x7f7fffff, 0x7f800000}},
      {"mul", -fmax, 2.0f, {0xff800000, 0xff7fffff, 0xff800000, 0xff7fffff}},
      // smallest denormal / 2 (a tie) and / 4
      {"mul", f32(0x00000001), 0.5f, {0x00000000, 0x00000000, 0x00000000, 0x00000001}},
      {"mul", f32(0x80000003), 0.5f, {0x80000002, 0x80000001, 0x80000002, 0x80000001}},
      {"mul", f32(0x00000001), 0.25f, {0x00000000, 0x00000000, 0x00000000, 0x00000001}},
      {"div", 1.0f, 3.0f, {0x3eaaaaab, 0x3eaaaaaa, 0x3eaaaaaa, 0x3eaaaaab}},
      {"div", -2.0f, 3.0f, {0xbf2aaaab, 0xbf2aaaaa, 0xbf2aaaab, 0xbf2aaaaa}},
  };
  for (const Case &c : cases)
    for (int m = 0; m < 4; ++m) {
      std::string body = std::string(c.op) + "." + kModeNames[m] + ".f32 %d, %a, %b;";
      auto got =
          runElementwise<float>(".f32", ".f32", body, std::vector<float>{c.a}, std::vector<float>{c.b});
      INFO(body, " a=", c.a, " b=", c.b, " got=", hex(bits(got[0])), " want=", hex(c.want[m]));
      CHECK(bits(got[0]) == c.want[m]);
    }
  // 64-bit: sqrt(2) and 1 + 2^-53 + 2^-105 (fma) in every direction
  for (int m = 0; m < 4; ++m) {
    std::string rm = kModeNames[m];
    auto s =
        runElementwise<double>(".f64", ".f64", "sqrt." + rm + ".f64 %d, %a;", std::vector<double>{2.0, -0.0});
    auto f = runElementwise<double>(".f64", ".f64", "fma." + rm + ".f64 %d, %a, %b, %c;",
                                    std::vector<double>{0x1p-53}, std::vector<double>{1.0 + 0x1p-52},
                                    std::vector<double>{1.0});
    const uint64_t sqrt2[4] = {0x3ff6a09e667f3bcdull, 0x3ff6a09e667f3bccull, 0x3ff6a09e667f3bccull,
                               0x3ff6a09e667f3bcdull};
    const uint64_t fma1[4] = {0x3ff0000000000001ull, 0x3ff0000000000000ull, 0x3ff0000000000000ull,
                              0x3ff0000000000001ull};
    INFO(rm, " sqrt=", hex(bits(s[0])), " fma=", hex(bits(f[0])));
    CHECK(bits(s[0]) == sqrt2[m]);
    CHECK(bits(s[1]) == bits(-0.0));
    CHECK(bits(f[0]) == fma1[m]);
  }
}

// Random operands over a wide exponent range (incl. denormal results and
// overflow): every mode matches the host's, and the modes really differ.
TEST_CASE("directed rounding: random operands, f32 and f64") {
  Rng rng;
  std::vector<float> a, b, c;
  std::vector<double> da, db, dc;
  for (int i = 0; i < 512; ++i) {
    auto f = [&] { return f32(uint32_t(rng.next()) & 0xbfffffffu) * ((rng.next() & 1) ? 1.0f : 0x1p64f); };
    a.push_back(f());
    b.push_back(f());
    c.push_back(f());
    auto d = [&] { return f64(rng.next() & 0xbfffffffffffffffull) * ((rng.next() & 1) ? 1.0 : 0x1p512); };
    da.push_back(d());
    db.push_back(d());
    dc.push_back(d());
  }
  size_t differs = 0;
  for (int m = 0; m < 4; ++m) {
    std::string rm = kModeNames[m];
    auto add = runElementwise<float>(".f32", ".f32", "add." + rm + ".f32 %d, %a, %b;", a, b, c);
    auto mul = runElementwise<float>(".f32", ".f32", "mul." + rm + ".f32 %d, %a, %b;", a, b, c);
    auto fma = runElementwise<float>(".f32", ".f32", "fma." + rm + ".f32 %d, %a, %b, %c;", a, b, c);
    auto div = runElementwise<float>(".f32", ".f32", "div." + rm + ".f32 %d, %a, %b;", a, b, c);
    auto dmul = runElementwise<double>(".f64", ".f64", "mul." + rm + ".f64 %d, %a, %b;", da, db, dc);
    auto ddiv = runElementwise<double>(".f64", ".f64", "div." + rm + ".f64 %d, %a, %b;", da, db, dc);
    auto dfma = runElementwise<double>(".f64", ".f64", "fma." + rm + ".f64 %d, %a, %b, %c;", da, db, dc);
    auto rn = runElementwise<float>(".f32", ".f32", "add.rn.f32 %d, %a, %b;", a, b, c);
    Rounding r(kModes[m]);
    for (size_t i = 0; i < a.size(); ++i) {
      volatile float x = a[i], y = b[i], z = c[i];
      volatile double dx = da[i], dy = db[i], dz = dc[i];
      INFO(rm, " a=", hex(bits(a[i])), " b=", hex(bits(b[i])), " c=", hex(bits(c[i])));
      CHECK(same(add[i], float(x + y)));
      CHECK(same(mul[i], float(x * y)));
      CHECK(same(fma[i], std::fma(float(x), float(y), float(z))));
      CHECK(same(div[i], float(x / y)));
      CHECK(same(dmul[i], double(dx * dy)));
      CHECK(same(ddiv[i], double(dx / dy)));
      CHECK(same(dfma[i], std::fma(double(dx), double(dy), double(dz))));
      differs += m != 0 && !same(add[i], rn[i]);
    }
  }
  CHECK(differs > 100); // the inputs exercise rounding at all
}
