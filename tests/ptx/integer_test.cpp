// Integer arithmetic and bit-manipulation instructions.
#include "harness.h"
#include <algorithm>
#include <climits>

using namespace ptxg;

namespace {

/// Runs `body` over every pair of the edge set (%a, %b; %c = a ^ b) and
/// compares with f(a, b, c) exactly.
template <class Out, class In, class F>
void checkPairs(const std::string &inTy, const std::string &outTy, const std::string &body,
                const std::vector<In> &set, F f) {
  std::vector<In> a, b, c;
  pairs(set, a, b);
  for (size_t i = 0; i < a.size(); ++i)
    c.push_back(In(a[i] ^ (b[i] * 3)));
  auto got = runElementwise<Out>(inTy, outTy, body, a, b, c);
  for (size_t i = 0; i < a.size(); ++i) {
    INFO(body, " a=", hex(uint64_t(a[i])), " b=", hex(uint64_t(b[i])), " c=", hex(uint64_t(c[i])));
    CHECK(hex(uint64_t(got[i])) == hex(uint64_t(Out(f(a[i], b[i], c[i])))));
  }
}

std::vector<uint32_t> u32s() { return edgeU32(); }

int32_t s(uint32_t x) { return int32_t(x); }
int64_t s(uint64_t x) { return int64_t(x); }

uint32_t sat32(int64_t v) { return uint32_t(int32_t(std::clamp<int64_t>(v, INT_MIN, INT_MAX))); }

} // namespace

TEST_CASE("add sub mul: .lo .hi .wide .sat, 32 bit") {
  using U = uint32_t;
  checkPairs<U>(".u32", ".u32", "add.u32 %d, %a, %b;", u32s(), [](U a, U b, U) { return a + b; });
  checkPairs<U>(".u32", ".u32", "sub.u32 %d, %a, %b;", u32s(), [](U a, U b, U) { return a - b; });
  checkPairs<U>(".s32", ".s32", "add.sat.s32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return sat32(int64_t(s(a)) + s(b)); });
  checkPairs<U>(".s32", ".s32", "sub.sat.s32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return sat32(int64_t(s(a)) - s(b)); });
  checkPairs<U>(".u32", ".u32", "mul.lo.u32 %d, %a, %b;", u32s(), [](U a, U b, U) { return a * b; });
  checkPairs<U>(".u32", ".u32", "mul.hi.u32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return U((uint64_t(a) * b) >> 32); });
  checkPairs<U>(".s32", ".s32", "mul.hi.s32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return U(uint64_t(int64_t(s(a)) * s(b)) >> 32); });
  checkPairs<uint64_t>(".u32", ".u64", "mul.wide.u32 %d, %a, %b;", u32s(),
                       [](U a, U b, U) { return uint64_t(a) * b; });
  checkPairs<uint64_t>(".s32", ".s64", "mul.wide.s32 %d, %a, %b;", u32s(),
                       [](U a, U b, U) { return uint64_t(int64_t(s(a)) * s(b)); });
  checkPairs<U>(".u32", ".u32", "mad.lo.u32 %d, %a, %b, %c;", u32s(),
                [](U a, U b, U c) { return a * b + c; });
  checkPairs<U>(".s32", ".s32", "mad.hi.s32 %d, %a, %b, %c;", u32s(),
                [](U a, U b, U c) { return U(uint64_t(int64_t(s(a)) * s(b)) >> 32) + c; });
  checkPairs<U>(".u32", ".u32", "mad.hi.u32 %d, %a, %b, %c;", u32s(),
                [](U a, U b, U c) { return U((uint64_t(a) * b) >> 32) + c; });
  // mad.hi.sat.s32: saturates (a*b)>>32 + c.
  checkPairs<U>(".s32", ".s32", "mad.hi.sat.s32 %d, %a, %b, %c;", u32s(),
                [](U a, U b, U c) { return sat32((int64_t(s(a)) * s(b) >> 32) + s(c)); });
}

TEST_CASE("add sub mul mad: 64 bit and .wide") {
  using U = uint64_t;
  using u128 = unsigned __int128;
  checkPairs<U>(".u64", ".u64", "add.u64 %d, %a, %b;", edgeU64(), [](U a, U b, U) { return a + b; });
  checkPairs<U>(".u64", ".u64", "sub.u64 %d, %a, %b;", edgeU64(), [](U a, U b, U) { return a - b; });
  checkPairs<U>(".u64", ".u64", "mul.lo.u64 %d, %a, %b;", edgeU64(), [](U a, U b, U) { return a * b; });
  checkPairs<U>(".u64", ".u64", "mul.hi.u64 %d, %a, %b;", edgeU64(),
                [](U a, U b, U) { return U((u128(a) * b) >> 64); });
  checkPairs<U>(".s64", ".s64", "mul.hi.s64 %d, %a, %b;", edgeU64(),
                [](U a, U b, U) { return U((__int128(s(a)) * s(b)) >> 64); });
  checkPairs<U>(".u64", ".u64", "mad.lo.u64 %d, %a, %b, %c;", edgeU64(),
                [](U a, U b, U c) { return a * b + c; });
  checkPairs<U>(".u64", ".u64", "mad.hi.u64 %d, %a, %b, %c;", edgeU64(),
                [](U a, U b, U c) { return U((u128(a) * b) >> 64) + c; });
  checkPairs<U>(".s64", ".s64", "min.s64 %d, %a, %b;", edgeU64(),
                [](U a, U b, U) { return U(std::min(s(a), s(b))); });
  checkPairs<U>(".u64", ".u64", "max.u64 %d, %a, %b;", edgeU64(), [](U a, U b, U) { return std::max(a, b); });
  // mad.wide.u32 d(64) = a*b + c(64): c comes from the 64-bit view, so build it in-kernel.
  checkPairs<U>(".u32", ".u64",
                "cvt.u64.u32 %rl1, %c;\n mul.wide.u32 %rl2, %c, 65537;\n add.u64 %rl1, %rl1, %rl2;\n"
                "mad.wide.u32 %d, %a, %b, %rl1;",
                u32s(), [](uint32_t a, uint32_t b, uint32_t c) { return U(a) * b + (U(c) + U(c) * 65537); });
}

TEST_CASE("carry chains: add.cc/addc, sub.cc/subc, mad.cc/madc") {
  using U = uint32_t;
  using u128 = unsigned __int128;
  // 96-bit add of {c, b, a} + {a, c, b}, result word selected by %r9 below; three kernels, one per word.
  auto chain = [](int word) {
    std::string out[3] = {"mov.b32 %d, %r3;", "mov.b32 %d, %r4;", "mov.b32 %d, %r5;"};
    return "add.cc.u32 %r3, %a, %b;\n addc.cc.u32 %r4, %b, %c;\n addc.u32 %r5, %c, %a;\n" + out[word];
  };
  auto ref = [](U a, U b, U c) { return u128(a) | u128(b) << 32 | u128(c) << 64; };
  auto ref2 = [](U a, U b, U c) { return u128(b) | u128(c) << 32 | u128(a) << 64; };
  for (int w = 0; w < 3; ++w)
    checkPairs<U>(".u32", ".u32", chain(w), u32s(),
                  [&](U a, U b, U c) { return U((ref(a, b, c) + ref2(a, b, c)) >> (32 * w)); });
  // 96-bit subtraction with borrows.
  auto subChain = [](int word) {
    std::string out[3] = {"mov.b32 %d, %r3;", "mov.b32 %d, %r4;", "mov.b32 %d, %r5;"};
    return "sub.cc.u32 %r3, %a, %b;\n subc.cc.u32 %r4, %b, %c;\n subc.u32 %r5, %c, %a;\n" + out[word];
  };
  for (int w = 0; w < 3; ++w)
    checkPairs<U>(".u32", ".u32", subChain(w), u32s(),
                  [&](U a, U b, U c) { return U((ref(a, b, c) - ref2(a, b, c)) >> (32 * w)); });
  // Carry-out captured into a register: addc.u32 x, 0, 0 after add.cc.
  checkPairs<U>(".u32", ".u32", "add.cc.u32 %r3, %a, %b;\n addc.u32 %d, 0, 0;", u32s(),
                [](U a, U b, U) { return U((uint64_t(a) + b) >> 32); });
  // Borrow-out: subc.u32 x, 0, 0 yields 0 or -1.
  checkPairs<U>(".u32", ".u32", "sub.cc.u32 %r3, %a, %b;\n subc.u32 %d, 0, 0;", u32s(),
                [](U a, U b, U) { return a < b ? 0xffffffffu : 0u; });
  // 64-bit chain: {b:a} + {a:c} as 128 bits; high word.
  checkPairs<uint64_t>(".u64", ".u64", "add.cc.u64 %rl3, %a, %c;\n addc.u64 %d, %b, %a;", edgeU64(),
                       [](uint64_t a, uint64_t b, uint64_t c) {
                         return uint64_t(((u128(b) << 64 | a) + (u128(a) << 64 | c)) >> 64);
                       });
  checkPairs<uint64_t>(".u64", ".u64", "sub.cc.u64 %rl3, %a, %c;\n subc.u64 %d, %b, %a;", edgeU64(),
                       [](uint64_t a, uint64_t b, uint64_t c) {
                         return uint64_t(((u128(b) << 64 | a) - (u128(a) << 64 | c)) >> 64);
                       });
  // a*b + {c:c} in 32-bit pieces: mad.lo.cc then madc.hi.cc then addc for the 65th bit.
  for (int w = 0; w < 3; ++w) {
    std::string out[3] = {"mov.b32 %d, %r3;", "mov.b32 %d, %r4;", "mov.b32 %d, %r5;"};
    checkPairs<U>(
        ".u32", ".u32",
        "mad.lo.cc.u32 %r3, %a, %b, %c;\n madc.hi.cc.u32 %r4, %a, %b, %c;\n addc.u32 %r5, 0, 0;\n" + out[w],
        u32s(), [&](U a, U b, U c) { return U((u128(uint64_t(a) * b) + (u128(c) << 32 | c)) >> (32 * w)); });
  }
}

TEST_CASE("div rem: signed, unsigned, 64 bit; by zero does not crash") {
  using U = uint32_t;
  std::vector<U> a, b;
  pairs(u32s(), a, b);
  // Division by zero and INT_MIN/-1 are unspecified: run them, check only the rest.
  std::vector<U> c(a.size());
  auto du = runElementwise<U>(".u32", ".u32", "div.u32 %d, %a, %b;", a, b, c);
  auto ru = runElementwise<U>(".u32", ".u32", "rem.u32 %d, %a, %b;", a, b, c);
  auto ds = runElementwise<U>(".s32", ".s32", "div.s32 %d, %a, %b;", a, b, c);
  auto rs = runElementwise<U>(".s32", ".s32", "rem.s32 %d, %a, %b;", a, b, c);
  for (size_t i = 0; i < a.size(); ++i) {
    if (b[i] == 0)
      continue;
    INFO("a=", a[i], " b=", b[i]);
    CHECK(du[i] == a[i] / b[i]);
    CHECK(ru[i] == a[i] % b[i]);
    if (a[i] == 0x80000000u && b[i] == 0xffffffffu)
      continue;
    CHECK(ds[i] == U(s(a[i]) / s(b[i])));
    CHECK(rs[i] == U(s(a[i]) % s(b[i]))); // remainder takes the dividend's sign
  }
  std::vector<uint64_t> a6, b6;
  pairs(edgeU64(), a6, b6);
  std::vector<uint64_t> c6(a6.size());
  auto du6 = runElementwise<uint64_t>(".u64", ".u64", "div.u64 %d, %a, %b;", a6, b6, c6);
  auto rs6 = runElementwise<uint64_t>(".s64", ".s64", "rem.s64 %d, %a, %b;", a6, b6, c6);
  auto ds6 = runElementwise<uint64_t>(".s64", ".s64", "div.s64 %d, %a, %b;", a6, b6, c6);
  for (size_t i = 0; i < a6.size(); ++i) {
    if (b6[i] == 0)
      continue;
    INFO("a=", a6[i], " b=", b6[i]);
    CHECK(du6[i] == a6[i] / b6[i]);
    if (a6[i] == 0x8000000000000000ull && b6[i] == ~0ull)
      continue;
    CHECK(ds6[i] == uint64_t(s(a6[i]) / s(b6[i])));
    CHECK(rs6[i] == uint64_t(s(a6[i]) % s(b6[i])));
  }
}

TEST_CASE("min max abs neg") {
  using U = uint32_t;
  checkPairs<U>(".s32", ".s32", "min.s32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return U(std::min(s(a), s(b))); });
  checkPairs<U>(".s32", ".s32", "max.s32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return U(std::max(s(a), s(b))); });
  checkPairs<U>(".u32", ".u32", "min.u32 %d, %a, %b;", u32s(), [](U a, U b, U) { return std::min(a, b); });
  checkPairs<U>(".u32", ".u32", "max.u32 %d, %a, %b;", u32s(), [](U a, U b, U) { return std::max(a, b); });
  // abs(INT_MIN) wraps to INT_MIN.
  checkPairs<U>(".s32", ".s32", "abs.s32 %d, %a;", u32s(), [](U a, U, U) { return s(a) < 0 ? 0u - a : a; });
  checkPairs<U>(".s32", ".s32", "neg.s32 %d, %a;", u32s(), [](U a, U, U) { return 0u - a; });
  checkPairs<uint64_t>(".s64", ".s64", "abs.s64 %d, %a;", edgeU64(),
                       [](uint64_t a, uint64_t, uint64_t) { return s(a) < 0 ? 0ull - a : a; });
}

TEST_CASE("shl shr: shift amounts past the width clamp") {
  using U = uint32_t;
  // Amounts > 32 clamp to 32: shl/shr.u give 0, shr.s gives the sign fill.
  checkPairs<U>(".b32", ".b32", "shl.b32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return b >= 32 ? 0u : a << b; });
  checkPairs<U>(".u32", ".u32", "shr.u32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return b >= 32 ? 0u : a >> b; });
  checkPairs<U>(".s32", ".s32", "shr.s32 %d, %a, %b;", u32s(),
                [](U a, U b, U) { return U(s(a) >> std::min(b, 31u)); });
  checkPairs<uint64_t>(
      ".b64", ".b64", "cvt.u32.u64 %r3, %b;\n shl.b64 %d, %a, %r3;", edgeU64(),
      [](uint64_t a, uint64_t b, uint64_t) { return uint32_t(b) >= 64 ? 0ull : a << uint32_t(b); });
  checkPairs<uint64_t>(
      ".s64", ".s64", "cvt.u32.u64 %r3, %b;\n shr.s64 %d, %a, %r3;", edgeU64(),
      [](uint64_t a, uint64_t b, uint64_t) { return uint64_t(s(a) >> std::min(uint32_t(b), 63u)); });
}

namespace {
uint32_t bfe(uint32_t a, uint32_t b, uint32_t c, bool sign) {
  uint32_t pos = b & 0xff, len = c & 0xff, d = 0;
  uint32_t sbit = (!sign || len == 0) ? 0 : (a >> std::min(pos + len - 1, 31u)) & 1;
  for (uint32_t i = 0; i <= 31; ++i) {
    uint32_t bit = (i < len && pos + i <= 31) ? (a >> (pos + i)) & 1 : sbit;
    d |= bit << i;
  }
  return d;
}
uint32_t bfi(uint32_t a, uint32_t b, uint32_t pos, uint32_t len) {
  pos &= 0xff;
  len &= 0xff;
  uint32_t f = b;
  for (uint32_t i = 0; i < len && pos + i <= 31; ++i)
    f = (f & ~(1u << (pos + i))) | (((a >> i) & 1) << (pos + i));
  return f;
}
uint32_t prmt(uint32_t a, uint32_t b, uint32_t c, const std::string &mode) {
  uint64_t src = uint64_t(b) << 32 | a;
  auto byte = [&](uint32_t n) { return uint32_t(src >> (8 * (n & 7))) & 0xff; };
  uint32_t d = 0, sel = c & 3;
  for (uint32_t i = 0; i < 4; ++i) {
    uint32_t v;
    if (mode.empty()) {
      uint32_t s4 = (c >> (4 * i)) & 0xf;
      v = byte(s4 & 7);
      if (s4 & 8)
        v = (v & 0x80) ? 0xff : 0;
    } else if (mode == "f4e")
      v = byte(sel + i);
    else if (mode == "b4e")
      v = byte(sel - i);
    else if (mode == "rc8")
      v = byte(sel);
    else if (mode == "ecl")
      v = byte(std::max(i, sel));
    else if (mode == "ecr")
      v = byte(std::min(i, sel));
    else // rc16
      v = byte(2 * (sel & 1) + (i & 1));
    d |= v << (8 * i);
  }
  return d;
}
} // namespace

TEST_CASE("bfe bfi prmt") {
  using U = uint32_t;
  // Positions and lengths include 0, 31, 32, 33 and values whose low byte matters.
  std::vector<U> set = {0u,  1u,  4u,     8u,          15u,         16u,         31u,
                        32u, 33u, 0x104u, 0xffffffffu, 0x80000000u, 0xdeadbeefu, 0x7f00ff80u};
  checkPairs<U>(".u32", ".u32", "bfe.u32 %d, %c, %a, %b;", set,
                [](U a, U b, U c) { return bfe(c, a, b, false); });
  checkPairs<U>(".s32", ".s32", "bfe.s32 %d, %c, %a, %b;", set,
                [](U a, U b, U c) { return bfe(c, a, b, true); });
  checkPairs<U>(".b32", ".b32", "bfi.b32 %d, %c, %b, %a, %b;", set,
                [](U a, U b, U c) { return bfi(c, b, a, b); });
  checkPairs<U>(".b32", ".b32", "bfi.b32 %d, %b, %c, %a, 8;", set,
                [](U a, U b, U c) { return bfi(b, c, a, 8); });
  std::vector<U> sel = {0x3210u, 0x7654u, 0x0123u, 0x4567u,     0x8888u,     0xf0e1u,    0x9abcu,
                        0x1u,    0x2u,    0x3u,    0x5a5a5a5au, 0xdeadbeefu, 0x80008000u};
  for (std::string mode : {"", "f4e", "b4e", "rc8", "ecl", "ecr", "rc16"}) {
    std::string op = mode.empty() ? "prmt.b32" : "prmt.b32." + mode;
    checkPairs<U>(".b32", ".b32", op + " %d, %b, %c, %a;", sel,
                  [&](U a, U b, U c) { return prmt(b, c, a, mode); });
  }
}

namespace {
uint32_t brev32(uint32_t x) {
  uint32_t r = 0;
  for (int i = 0; i < 32; ++i)
    r |= ((x >> i) & 1) << (31 - i);
  return r;
}
uint32_t bfind(uint64_t x, int width, bool sign, bool shiftamt) {
  if (sign && (x >> (width - 1)) & 1)
    x = ~x;
  if (width == 32)
    x &= 0xffffffffu;
  if (x == 0)
    return 0xffffffffu;
  uint32_t pos = 63 - std::countl_zero(x);
  return shiftamt ? uint32_t(width - 1) - pos : pos;
}
uint32_t lop3(uint32_t a, uint32_t b, uint32_t c, uint32_t lut) {
  uint32_t d = 0;
  for (int i = 0; i < 32; ++i) {
    uint32_t idx = ((a >> i) & 1) << 2 | ((b >> i) & 1) << 1 | ((c >> i) & 1);
    d |= ((lut >> idx) & 1) << i;
  }
  return d;
}
} // namespace

TEST_CASE("popc clz brev bfind lop3") {
  using U = uint32_t;
  using U64 = uint64_t;
  checkPairs<U>(".b32", ".u32", "popc.b32 %d, %a;", u32s(), [](U a, U, U) { return U(std::popcount(a)); });
  checkPairs<U>(".b32", ".u32", "clz.b32 %d, %a;", u32s(), [](U a, U, U) { return U(std::countl_zero(a)); });
  checkPairs<U>(".b32", ".b32", "brev.b32 %d, %a;", u32s(), [](U a, U, U) { return brev32(a); });
  checkPairs<U>(".u32", ".u32", "bfind.u32 %d, %a;", u32s(),
                [](U a, U, U) { return bfind(a, 32, false, false); });
  checkPairs<U>(".s32", ".u32", "bfind.s32 %d, %a;", u32s(),
                [](U a, U, U) { return bfind(a, 32, true, false); });
  checkPairs<U>(".u32", ".u32", "bfind.shiftamt.u32 %d, %a;", u32s(),
                [](U a, U, U) { return bfind(a, 32, false, true); });
  // 64-bit sources, 32-bit results: computed into %r3 and widened.
  checkPairs<U64>(".b64", ".u64", "popc.b64 %r3, %a;\n cvt.u64.u32 %d, %r3;", edgeU64(),
                  [](U64 a, U64, U64) { return U64(std::popcount(a)); });
  checkPairs<U64>(".b64", ".u64", "clz.b64 %r3, %a;\n cvt.u64.u32 %d, %r3;", edgeU64(),
                  [](U64 a, U64, U64) { return U64(std::countl_zero(a)); });
  checkPairs<U64>(".b64", ".b64", "brev.b64 %d, %a;", edgeU64(),
                  [](U64 a, U64, U64) { return U64(brev32(U(a))) << 32 | brev32(U(a >> 32)); });
  checkPairs<U64>(".s64", ".u64", "bfind.s64 %r3, %a;\n cvt.u64.u32 %d, %r3;", edgeU64(),
                  [](U64 a, U64, U64) { return U64(bfind(a, 64, true, false)); });
  for (U lut : {0x96u, 0xe8u, 0x80u, 0xfeu, 0x01u, 0xcau, 0x3cu, 0x00u, 0xffu})
    checkPairs<U>(".b32", ".b32", "lop3.b32 %d, %a, %b, %c, " + std::to_string(lut) + ";", u32s(),
                  [&](U a, U b, U c) { return lop3(a, b, c, lut); });
}

TEST_CASE("shf dp4a dp2a sad mul24 mad24") {
  using U = uint32_t;
  // shf: funnel shift of {b:a}; .wrap takes n mod 32, .clamp min(n, 32).
  auto shf = [](U a, U b, U n, bool left) {
    uint64_t v = uint64_t(b) << 32 | a;
    return left ? U((v << n) >> 32) : U(v >> n);
  };
  checkPairs<U>(".b32", ".b32", "shf.l.wrap.b32 %d, %a, %b, %c;", u32s(),
                [&](U a, U b, U c) { return shf(a, b, c & 31, true); });
  checkPairs<U>(".b32", ".b32", "shf.r.wrap.b32 %d, %a, %b, %c;", u32s(),
                [&](U a, U b, U c) { return shf(a, b, c & 31, false); });
  checkPairs<U>(".b32", ".b32", "shf.l.clamp.b32 %d, %a, %b, %c;", u32s(),
                [&](U a, U b, U c) { return shf(a, b, std::min(c, 32u), true); });
  checkPairs<U>(".b32", ".b32", "shf.r.clamp.b32 %d, %a, %b, %c;", u32s(),
                [&](U a, U b, U c) { return shf(a, b, std::min(c, 32u), false); });
  checkPairs<U>(".b32", ".b32", "shf.l.clamp.b32 %d, %a, %b, %b;", u32s(),
                [&](U a, U b, U) { return shf(a, b, std::min(b, 32u), true); });
  auto dp4a = [](U a, U b, U c, bool sa, bool sb) {
    int64_t acc = sa || sb ? int64_t(int32_t(c)) : int64_t(c);
    for (int i = 0; i < 4; ++i) {
      int64_t x = sa ? int8_t(a >> (8 * i)) : uint8_t(a >> (8 * i));
      int64_t y = sb ? int8_t(b >> (8 * i)) : uint8_t(b >> (8 * i));
      acc += x * y;
    }
    return U(acc);
  };
  checkPairs<U>(".u32", ".u32", "dp4a.u32.u32 %d, %a, %b, %c;", u32s(),
                [&](U a, U b, U c) { return dp4a(a, b, c, false, false); });
  checkPairs<U>(".u32", ".u32", "dp4a.s32.s32 %d, %a, %b, %c;", u32s(),
                [&](U a, U b, U c) { return dp4a(a, b, c, true, true); });
  checkPairs<U>(".u32", ".u32", "dp4a.s32.u32 %d, %a, %b, %c;", u32s(),
                [&](U a, U b, U c) { return dp4a(a, b, c, true, false); });
  // dp2a.lo: 16-bit halves of a times bytes 0,1 of b.
  checkPairs<U>(".u32", ".u32", "dp2a.lo.s32.s32 %d, %a, %b, %c;", u32s(), [](U a, U b, U c) {
    return U(int32_t(c) + int16_t(a) * int8_t(b) + int16_t(a >> 16) * int8_t(b >> 8));
  });
  checkPairs<U>(".u32", ".u32", "sad.u32 %d, %a, %b, %c;", u32s(),
                [](U a, U b, U c) { return c + (a > b ? a - b : b - a); });
  checkPairs<U>(".s32", ".s32", "sad.s32 %d, %a, %b, %c;", u32s(),
                [](U a, U b, U c) { return c + U(s(a) > s(b) ? a - b : b - a); });
  // mul24: 24-bit operands, .lo = product bits 31..0, .hi = bits 47..16.
  auto m24 = [](U a, U b, bool sign) {
    int64_t x = sign ? int64_t(int32_t(a << 8) >> 8) : int64_t(a & 0xffffff);
    int64_t y = sign ? int64_t(int32_t(b << 8) >> 8) : int64_t(b & 0xffffff);
    return x * y;
  };
  checkPairs<U>(".u32", ".u32", "mul24.lo.u32 %d, %a, %b;", u32s(),
                [&](U a, U b, U) { return U(m24(a, b, false)); });
  checkPairs<U>(".u32", ".u32", "mul24.hi.u32 %d, %a, %b;", u32s(),
                [&](U a, U b, U) { return U(m24(a, b, false) >> 16); });
  checkPairs<U>(".s32", ".s32", "mul24.lo.s32 %d, %a, %b;", u32s(),
                [&](U a, U b, U) { return U(m24(a, b, true)); });
  checkPairs<U>(".s32", ".s32", "mul24.hi.s32 %d, %a, %b;", u32s(),
                [&](U a, U b, U) { return U(m24(a, b, true) >> 16); });
  checkPairs<U>(".u32", ".u32", "mad24.lo.u32 %d, %a, %b, %c;", u32s(),
                [&](U a, U b, U c) { return U(m24(a, b, false)) + c; });
}

TEST_CASE("integer setp and selp, predicate logic") {
  using U = uint32_t;
  struct Cmp {
    const char *op;
    bool (*f)(U, U);
  };
  const Cmp cmps[] = {
      {"eq.s32", [](U a, U b) { return a == b; }},      {"ne.s32", [](U a, U b) { return a != b; }},
      {"lt.s32", [](U a, U b) { return s(a) < s(b); }}, {"le.s32", [](U a, U b) { return s(a) <= s(b); }},
      {"gt.s32", [](U a, U b) { return s(a) > s(b); }}, {"ge.s32", [](U a, U b) { return s(a) >= s(b); }},
      {"lo.u32", [](U a, U b) { return a < b; }},       {"ls.u32", [](U a, U b) { return a <= b; }},
      {"hi.u32", [](U a, U b) { return a > b; }},       {"hs.u32", [](U a, U b) { return a >= b; }},
  };
  for (const Cmp &c : cmps)
    // p|q: q is the complement; encode both in the output.
    checkPairs<U>(".u32", ".u32",
                  std::string("setp.") + c.op +
                      " %p1|%p2, %a, %b;\n selp.u32 %r3, 1, 0, %p1;\n"
                      " selp.u32 %r4, 2, 0, %p2;\n or.b32 %d, %r3, %r4;",
                  u32s(), [&](U a, U b, U) { return c.f(a, b) ? 1u : 2u; });
  // setp with a combining predicate: .and/.or/.xor with %p3 = (c odd).
  checkPairs<U>(".u32", ".u32",
                "and.b32 %r3, %c, 1;\n setp.ne.u32 %p3, %r3, 0;\n setp.lt.and.u32 %p1, %a, %b, %p3;\n"
                " setp.lt.or.u32 %p2, %a, %b, %p3;\n setp.lt.xor.u32 %p4, %a, %b, !%p3;\n"
                " selp.u32 %r4, 1, 0, %p1;\n selp.u32 %r5, 2, 0, %p2;\n selp.u32 %r6, 4, 0, %p4;\n"
                " or.b32 %d, %r4, %r5;\n or.b32 %d, %d, %r6;",
                u32s(), [](U a, U b, U c) {
                  bool lt = a < b, p3 = c & 1;
                  return U(lt && p3) | U(lt || p3) << 1 | U(lt != !p3) << 2;
                });
  checkPairs<U>(".b32", ".b32", "setp.hi.u32 %p1, %a, %b;\n selp.b32 %d, %a, %c, %p1;", u32s(),
                [](U a, U b, U c) { return a > b ? a : c; });
  // Predicate ops: and/or/xor/not on .pred.
  checkPairs<U>(".u32", ".u32",
                "setp.lt.u32 %p1, %a, %b;\n setp.lt.u32 %p2, %b, %c;\n xor.pred %p3, %p1, %p2;\n"
                " not.pred %p4, %p3;\n or.pred %p5, %p4, %p1;\n selp.u32 %d, 1, 0, %p5;",
                u32s(), [](U a, U b, U c) { return U(!((a < b) != (b < c)) || (a < b)); });
}

TEST_CASE("WARP_SZ is PTX's predefined constant 32") {
  using U = uint32_t;
  checkPairs<U>(".u32", ".u32", "add.u32 %d, %a, WARP_SZ;", u32s(), [](U a, U, U) { return a + 32; });
  checkPairs<U>(".u32", ".u32", "mov.u32 %d, WARP_SZ;", u32s(), [](U, U, U) { return 32u; });
}
