// Atomics, barriers, warp-level instructions and special registers.
#include "harness.h"
#include <algorithm>
#include <climits>
#include <set>

using namespace ptxg;

namespace {

constexpr unsigned kBlocks = 8, kThreads = 256, kN = kBlocks * kThreads;

/// Global atomics: every thread hits the same words of ctr[]; olds/exch get per-thread results.
const char *kAtomGlobal = R"(
.visible .entry k(.param .u64 pctr, .param .u64 pin, .param .u64 pold, .param .u64 pexch)
{
  .reg .b32 %r<24>;
  .reg .b64 %rl<24>;
  .reg .f32 %f<4>;
  .reg .f64 %fd<4>;
  .reg .pred %p<4>;
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r2, %ntid.x;
  mov.u32 %r3, %tid.x;
  mad.lo.u32 %r4, %r1, %r2, %r3;
  ld.param.u64 %rl1, [pctr];
  ld.param.u64 %rl2, [pin];
  ld.param.u64 %rl3, [pold];
  ld.param.u64 %rl4, [pexch];
  mul.wide.u32 %rl5, %r4, 4;
  add.u64 %rl6, %rl2, %rl5;
  ld.global.u32 %r5, [%rl6];
  atom.global.add.u32 %r6, [%rl1], %r5;
  atom.global.add.u32 %r6, [%rl1+4], 1;
  add.u64 %rl7, %rl3, %rl5;
  st.global.u32 [%rl7], %r6;
  atom.global.min.s32 %r7, [%rl1+8], %r5;
  atom.global.max.u32 %r7, [%rl1+12], %r5;
  atom.global.and.b32 %r7, [%rl1+16], %r5;
  atom.global.or.b32 %r7, [%rl1+20], %r5;
  atom.global.xor.b32 %r7, [%rl1+24], %r5;
  atom.global.inc.u32 %r7, [%rl1+28], 1000;
  atom.global.dec.u32 %r7, [%rl1+32], 1000;
  red.global.add.u32 [%rl1+36], 1;
  red.global.max.s32 [%rl1+40], %r5;
  add.u32 %r8, %r4, 1;
  atom.global.exch.b32 %r9, [%rl1+44], %r8;
  add.u64 %rl8, %rl4, %rl5;
  st.global.u32 [%rl8], %r9;
  // CAS loop adding 3.
  ld.volatile.global.u32 %r10, [%rl1+48];
CAS32:
  add.u32 %r11, %r10, 3;
  atom.global.cas.b32 %r12, [%rl1+48], %r10, %r11;
  setp.ne.u32 %p1, %r12, %r10;
  mov.u32 %r10, %r12;
  @%p1 bra CAS32;
  // 64-bit add with carries across the 32-bit halves.
  cvt.u64.u32 %rl9, %r5;
  shl.b64 %rl9, %rl9, 20;
  atom.global.add.u64 %rl10, [%rl1+56], %rl9;
  // 64-bit CAS loop adding 0x100000001.
  ld.volatile.global.u64 %rl11, [%rl1+64];
CAS64:
  add.u64 %rl12, %rl11, 0x100000001;
  atom.global.cas.b64 %rl13, [%rl1+64], %rl11, %rl12;
  setp.ne.u64 %p2, %rl13, %rl11;
  mov.u64 %rl11, %rl13;
  @%p2 bra CAS64;
  // Float adds of values exact in any order.
  and.b32 %r13, %r5, 255;
  cvt.rn.f32.u32 %f1, %r13;
  mul.f32 %f1, %f1, 0f3F000000;
  atom.global.add.f32 %f2, [%rl1+72], %f1;
  cvt.f64.f32 %fd1, %f1;
  atom.global.add.f64 %fd2, [%rl1+80], %fd1;
  cvt.s64.s32 %rl14, %r5;
  atom.global.min.s64 %rl15, [%rl1+88], %rl14;
  atom.global.max.u64 %rl15, [%rl1+96], %rl9;
  red.global.add.f32 [%rl1+104], %f1;
  ret;
}
)";

} // namespace

TEST_CASE("global atomics and red: many contending threads, exact results") {
  useContext();
  Module m(std::string(kHeader) + kAtomGlobal);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  std::vector<uint32_t> in(kN);
  Rng rng;
  for (auto &v : in)
    v = uint32_t(rng.next());
  in[5] = 0x80000000u; // INT_MIN for min.s32
  std::vector<uint32_t> ctr(28, 0);
  ctr[2] = 0x7fffffff;
  ctr[4] = 0xffffffffu;
  ctr[8] = 5;
  ctr[10] = 0x80000000u;
  ctr[14] = 0x00000000u; // u64 at +56: 0xfff00000_00000000
  ctr[15] = 0xfff00000u;
  ctr[16] = 0xffffffffu; // u64 at +64: 0xffffffff
  ctr[22] = 0xffffffffu; // s64 at +88: INT64_MAX
  ctr[23] = 0x7fffffffu;
  DevBuf dctr(ctr.size() * 4), din(kN * 4), dold(kN * 4), dexch(kN * 4);
  dctr.put(ctr);
  din.put(in);
  Dims d;
  d.gx = kBlocks;
  d.bx = kThreads;
  REQUIRE(launch(m.fn(), d, {dctr.p, din.p, dold.p, dexch.p}) == CUDA_SUCCESS);
  auto got = dctr.get<uint32_t>(ctr.size());
  auto olds = dold.get<uint32_t>(kN);
  auto exch = dexch.get<uint32_t>(kN);
  uint32_t sum = 0, mx = 0, an = ~0u, o = 0, x = 0;
  int32_t mn = INT_MAX, rmx = INT_MIN;
  uint64_t sum64 = 0xfff0000000000000ull, max64 = 0;
  int64_t min64 = INT64_MAX;
  double fsum = 0;
  for (uint32_t v : in) {
    sum += v;
    mn = std::min(mn, int32_t(v));
    mx = std::max(mx, v);
    an &= v;
    o |= v;
    x ^= v;
    rmx = std::max(rmx, int32_t(v));
    sum64 += uint64_t(v) << 20;
    max64 = std::max(max64, uint64_t(v) << 20);
    min64 = std::min(min64, int64_t(int32_t(v)));
    fsum += double(v & 255) * 0.5;
  }
  auto u64 = [&](int w) { return uint64_t(got[w]) | uint64_t(got[w + 1]) << 32; };
  CHECK(got[0] == sum);
  CHECK(got[1] == kN);
  std::sort(olds.begin(), olds.end());
  for (uint32_t i = 0; i < kN; ++i)
    REQUIRE(olds[i] == i); // every old value handed out exactly once
  CHECK(int32_t(got[2]) == mn);
  CHECK(got[3] == mx);
  CHECK(got[4] == an);
  CHECK(got[5] == o);
  CHECK(got[6] == x);
  CHECK(got[7] == kN % 1001);                                      // inc wraps to 0 past 1000
  CHECK(got[8] == uint32_t(((5 - int(kN)) % 1001 + 1001) % 1001)); // dec wraps to 1000 at 0
  CHECK(got[9] == kN);
  CHECK(int32_t(got[10]) == rmx);
  // exch: the olds plus the final value are exactly {0, 1..N}.
  std::vector<uint32_t> seen(exch);
  seen.push_back(got[11]);
  std::sort(seen.begin(), seen.end());
  for (uint32_t i = 0; i <= kN; ++i)
    REQUIRE(seen[i] == i);
  CHECK(got[12] == 3 * kN);
  CHECK(u64(14) == sum64);
  CHECK(u64(16) == 0xffffffffull + uint64_t(kN) * 0x100000001ull);
  CHECK(f32(got[18]) == float(fsum));
  CHECK(f64(u64(20)) == fsum);
  CHECK(int64_t(u64(22)) == min64);
  CHECK(u64(24) == max64);
  CHECK(f32(got[26]) == float(fsum));
}

TEST_CASE("shared-memory atomics incl. 64-bit cas and f32 add") {
  useContext();
  std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 pin, .param .u64 pout)
{
  .shared .align 8 .b8 s[64];
  .reg .b32 %r<24>;
  .reg .b64 %rl<24>;
  .reg .f32 %f<4>;
  .reg .pred %p<4>;
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r2, %ntid.x;
  mov.u32 %r3, %tid.x;
  mad.lo.u32 %r4, %r1, %r2, %r3;
  ld.param.u64 %rl1, [pin];
  ld.param.u64 %rl2, [pout];
  mov.u32 %r20, s;
  setp.ne.u32 %p1, %r3, 0;
  @%p1 bra INITED;
  st.shared.u32 [s], 0;
  st.shared.u32 [s+4], 0x7fffffff;
  st.shared.u32 [s+8], 0;
  st.shared.u32 [s+12], 0;
  st.shared.u64 [s+16], 0xfffffff0;
  st.shared.f32 [s+24], 0f00000000;
  st.shared.u32 [s+28], 0;
INITED:
  bar.sync 0;
  mul.wide.u32 %rl3, %r4, 4;
  add.u64 %rl4, %rl1, %rl3;
  ld.global.u32 %r5, [%rl4];
  atom.shared.add.u32 %r6, [s], %r5;
  atom.shared.min.s32 %r6, [s+4], %r5;
  atom.shared.exch.b32 %r6, [s+8], %r3;
  atom.shared.cas.b32 %r7, [%r20+12], %r3, 0;
  // 32-bit cas loop counting.
  ld.volatile.shared.u32 %r8, [s+28];
CAS32:
  add.u32 %r9, %r8, 1;
  atom.shared.cas.b32 %r10, [s+28], %r8, %r9;
  setp.ne.u32 %p2, %r10, %r8;
  mov.u32 %r8, %r10;
  @%p2 bra CAS32;
  ld.volatile.shared.u64 %rl5, [s+16];
CAS64:
  add.u64 %rl6, %rl5, 0x100000001;
  atom.shared.cas.b64 %rl7, [s+16], %rl5, %rl6;
  setp.ne.u64 %p3, %rl7, %rl5;
  mov.u64 %rl5, %rl7;
  @%p3 bra CAS64;
  and.b32 %r11, %r5, 1023;
  cvt.rn.f32.u32 %f1, %r11;
  mul.f32 %f1, %f1, 0f3E800000;
  atom.shared.add.f32 %f2, [s+24], %f1;
  red.shared.add.u32 [s+12], 2;
  bar.sync 0;
  @%p1 bra DONE;
  mul.wide.u32 %rl8, %r1, 32;
  add.u64 %rl9, %rl2, %rl8;
  ld.shared.v4.u32 {%r12, %r13, %r14, %r15}, [s];
  st.global.v4.u32 [%rl9], {%r12, %r13, %r14, %r15};
  ld.shared.v2.u64 {%rl10, %rl11}, [s+16];
  st.global.v2.u64 [%rl9+16], {%rl10, %rl11};
DONE:
  ret;
}
)";
  Module m(ptx);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  std::vector<uint32_t> in(kN);
  Rng rng;
  for (auto &v : in)
    v = uint32_t(rng.next());
  DevBuf din(kN * 4), dout(kBlocks * 32);
  din.put(in);
  Dims d;
  d.gx = kBlocks;
  d.bx = kThreads;
  REQUIRE(launch(m.fn(), d, {din.p, dout.p}) == CUDA_SUCCESS);
  auto out = dout.get<uint32_t>(kBlocks * 8);
  for (unsigned b = 0; b < kBlocks; ++b) {
    INFO("block ", b);
    uint32_t sum = 0;
    int32_t mn = INT_MAX;
    float fs = 0;
    for (unsigned t = 0; t < kThreads; ++t) {
      uint32_t v = in[b * kThreads + t];
      sum += v;
      mn = std::min(mn, int32_t(v));
      fs += float(v & 1023) * 0.25f; // exact: partial sums stay below 2^24 quarters
    }
    const uint32_t *o = &out[b * 8];
    CHECK(o[0] == sum);
    CHECK(int32_t(o[1]) == mn);
    CHECK(o[2] < kThreads); // some thread's id won the last exchange
    CHECK(o[3] == 2 * kThreads);
    CHECK((uint64_t(o[4]) | uint64_t(o[5]) << 32) == 0xfffffff0ull + uint64_t(kThreads) * 0x100000001ull);
    CHECK(f32(o[6]) == fs);
    CHECK(o[7] == kThreads);
  }
}

TEST_CASE("bar.sync in a loop: shared-memory tree reduction") {
  useContext();
  std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 pin, .param .u64 pout)
{
  .shared .align 4 .u32 s[256];
  .reg .b32 %r<16>;
  .reg .b64 %rl<8>;
  .reg .pred %p<4>;
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r3, %tid.x;
  mad.lo.u32 %r4, %r1, 256, %r3;
  ld.param.u64 %rl1, [pin];
  mul.wide.u32 %rl2, %r4, 4;
  add.u64 %rl3, %rl1, %rl2;
  ld.global.u32 %r5, [%rl3];
  mov.u32 %r6, s;
  shl.b32 %r7, %r3, 2;
  add.u32 %r8, %r6, %r7;
  st.shared.u32 [%r8], %r5;
  bar.sync 0;
  mov.u32 %r9, 128;
LOOP:
  setp.ge.u32 %p1, %r3, %r9;
  @%p1 bra SKIP;
  shl.b32 %r10, %r9, 2;
  add.u32 %r11, %r8, %r10;
  ld.shared.u32 %r12, [%r11];
  ld.shared.u32 %r13, [%r8];
  add.u32 %r13, %r13, %r12;
  st.shared.u32 [%r8], %r13;
SKIP:
  bar.sync 0;
  shr.u32 %r9, %r9, 1;
  setp.ne.u32 %p2, %r9, 0;
  @%p2 bra LOOP;
  setp.ne.u32 %p3, %r3, 0;
  @%p3 bra DONE;
  ld.shared.u32 %r14, [s];
  ld.param.u64 %rl4, [pout];
  mul.wide.u32 %rl5, %r1, 4;
  add.u64 %rl6, %rl4, %rl5;
  st.global.u32 [%rl6], %r14;
DONE:
  ret;
}
)";
  Module m(ptx);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  std::vector<uint32_t> in(kN);
  Rng rng;
  for (auto &v : in)
    v = uint32_t(rng.next());
  DevBuf din(kN * 4), dout(kBlocks * 4);
  din.put(in);
  Dims d;
  d.gx = kBlocks;
  d.bx = 256;
  REQUIRE(launch(m.fn(), d, {din.p, dout.p}) == CUDA_SUCCESS);
  auto out = dout.get<uint32_t>(kBlocks);
  for (unsigned b = 0; b < kBlocks; ++b) {
    uint32_t sum = 0;
    for (unsigned t = 0; t < 256; ++t)
      sum += in[b * 256 + t];
    CHECK(out[b] == sum);
  }
}

namespace {

/// Host model of shfl.sync per the PTX ISA pseudo-code; returns {value, pred}.
std::pair<uint32_t, bool> shfl(const std::vector<uint32_t> &val, unsigned warpBase, unsigned lane,
                               const std::string &mode, uint32_t b, uint32_t c) {
  uint32_t cval = c & 31, segmask = (c >> 8) & 31;
  uint32_t maxLane = (lane & segmask) | (cval & ~segmask), minLane = lane & segmask;
  int64_t j;
  bool pval;
  if (mode == "up") {
    j = int64_t(lane) - b;
    pval = j >= int64_t(maxLane);
  } else if (mode == "down") {
    j = int64_t(lane) + b;
    pval = j <= int64_t(maxLane);
  } else if (mode == "bfly") {
    j = lane ^ b;
    pval = j <= int64_t(maxLane);
  } else {
    j = minLane | (b & 31 & ~segmask);
    pval = j <= int64_t(maxLane);
  }
  if (!pval)
    j = lane;
  return {val[warpBase + unsigned(j)], pval};
}

} // namespace

TEST_CASE("shfl.sync idx up down bfly, full and segmented widths") {
  std::vector<uint32_t> val(256), bsrc(256);
  Rng rng;
  for (unsigned i = 0; i < val.size(); ++i) {
    val[i] = uint32_t(rng.next());
    bsrc[i] = uint32_t(rng.next() % 40); // some source lanes out of range
  }
  struct Cfg {
    std::string mode;
    std::string b; // operand text: an immediate or %b (per-lane)
    uint32_t c;
  };
  const Cfg cfgs[] = {{"idx", "%b", 0x1f},   {"idx", "5", 0x1f},   {"up", "1", 0},
                      {"up", "%b", 0},       {"down", "3", 0x1f},  {"down", "%b", 0x1f},
                      {"bfly", "1", 0x1f},   {"bfly", "%b", 0x1f}, {"idx", "%b", 0x181f},
                      {"down", "2", 0x181f}, {"up", "2", 0x1800},  {"bfly", "5", 0x1c1f}};
  for (const Cfg &cfg : cfgs) {
    std::string body = "shfl.sync." + cfg.mode + ".b32 %r3|%p1, %a, " + cfg.b + ", " + std::to_string(cfg.c) +
                       ", 0xffffffff;\n cvt.u64.u32 %d, %r3;\n selp.u64 %rl1, 0x100000000, 0, %p1;\n"
                       " or.b64 %d, %d, %rl1;";
    auto got = runElementwise<uint64_t>(".u32", ".u64", body, val, bsrc);
    for (unsigned i = 0; i < val.size(); ++i) {
      uint32_t bv = cfg.b == "%b" ? bsrc[i] : uint32_t(std::stoul(cfg.b));
      auto [v, p] = shfl(val, i & ~31u, i & 31, cfg.mode, bv, cfg.c);
      INFO(cfg.mode, " b=", bv, " c=0x", std::hex, cfg.c, " lane=", std::dec, i & 31);
      CHECK(uint32_t(got[i]) == v);
      CHECK(bool(got[i] >> 32) == p);
    }
  }
}

TEST_CASE("vote.sync ballot any all uni, match.sync, redux.sync, activemask") {
  std::vector<uint32_t> a(256);
  Rng rng;
  for (unsigned i = 0; i < a.size(); ++i) {
    unsigned w = i / 32;
    // Warp 0: all zero, 1: all set, 2+: mixed; few distinct values for match.
    a[i] = w == 0 ? 0 : w == 1 ? 5 : uint32_t(rng.next() % (w + 1));
  }
  auto ballot = runElementwise<uint32_t>(".u32", ".u32",
                                         "setp.ne.u32 %p1, %a, 0;\n vote.sync.ballot.b32 %d, %p1, -1;", a);
  auto anyallU = runElementwise<uint32_t>(
      ".u32", ".u32",
      "setp.ne.u32 %p1, %a, 0;\n vote.sync.any.pred %p2, %p1, -1;\n vote.sync.all.pred %p3, %p1, -1;\n"
      " vote.sync.uni.pred %p4, %p1, -1;\n selp.u32 %r3, 1, 0, %p2;\n selp.u32 %r4, 2, 0, %p3;\n"
      " selp.u32 %r5, 4, 0, %p4;\n or.b32 %d, %r3, %r4;\n or.b32 %d, %d, %r5;",
      a);
  auto matchAny = runElementwise<uint32_t>(".u32", ".u32", "match.any.sync.b32 %d, %a, -1;", a);
  auto matchAll = runElementwise<uint32_t>(
      ".u32", ".u32",
      "match.all.sync.b32 %r3|%p1, %a, -1;\n selp.u32 %r4, 1, 0, %p1;\n xor.b32 %d, %r3, %r4;", a);
  auto rAdd = runElementwise<uint32_t>(
      ".u32", ".u32", "mul.lo.u32 %r3, %a, 0x40000001;\n redux.sync.add.u32 %d, %r3, -1;", a);
  auto rMin =
      runElementwise<uint32_t>(".s32", ".s32", "sub.s32 %r3, 1, %a;\n redux.sync.min.s32 %d, %r3, -1;", a);
  auto rMax = runElementwise<uint32_t>(".u32", ".u32", "redux.sync.max.u32 %d, %a, -1;", a);
  auto rOr =
      runElementwise<uint32_t>(".b32", ".b32", "shl.b32 %r3, 1, %a;\n redux.sync.or.b32 %d, %r3, -1;", a);
  auto rAnd =
      runElementwise<uint32_t>(".b32", ".b32", "not.b32 %r3, %a;\n redux.sync.and.b32 %d, %r3, -1;", a);
  auto rXor = runElementwise<uint32_t>(".b32", ".b32", "redux.sync.xor.b32 %d, %a, -1;", a);
  auto active = runElementwise<uint32_t>(".u32", ".u32", "activemask.b32 %d;", a);
  // Even lanes only: a ballot over the even-lane mask.
  auto evenBallot =
      runElementwise<uint32_t>(".u32", ".u32",
                               "and.b32 %r3, %i, 1;\n mov.u32 %d, 7;\n setp.ne.u32 %p3, %r3, 0;\n"
                               " @%p3 bra DONE;\n setp.ne.u32 %p1, %a, 0;\n"
                               " vote.sync.ballot.b32 %d, %p1, 0x55555555;\nDONE:",
                               a);
  // Lanes 0..12 only: activemask must hold this lane and no lane >= 13.
  auto divActive =
      runElementwise<uint32_t>(".u32", ".u32",
                               "and.b32 %r3, %i, 31;\n mov.u32 %d, 0xdead;\n setp.ge.u32 %p3, %r3, 13;\n"
                               " @%p3 bra DONE;\n activemask.b32 %d;\nDONE:",
                               a);
  for (unsigned w = 0; w < 8; ++w) {
    uint32_t b = 0, sum = 0, mx = 0, orv = 0, andv = ~0u, xr = 0, eb = 0;
    int32_t mn = INT_MAX;
    for (unsigned l = 0; l < 32; ++l) {
      uint32_t v = a[w * 32 + l];
      b |= uint32_t(v != 0) << l;
      sum += v * 0x40000001u;
      mn = std::min(mn, 1 - int32_t(v));
      mx = std::max(mx, v);
      orv |= 1u << (v & 31);
      andv &= ~v;
      xr ^= v;
      if (l % 2 == 0)
        eb |= uint32_t(v != 0) << l;
    }
    bool all = b == ~0u, any = b != 0, uni = all || !any;
    for (unsigned l = 0; l < 32; ++l) {
      unsigned i = w * 32 + l;
      INFO("warp ", w, " lane ", l);
      CHECK(ballot[i] == b);
      CHECK(anyallU[i] == (uint32_t(any) | uint32_t(all) << 1 | uint32_t(uni) << 2));
      uint32_t same = 0;
      for (unsigned k = 0; k < 32; ++k)
        same |= uint32_t(a[w * 32 + k] == a[i]) << k;
      CHECK(matchAny[i] == same);
      // match.all: the mask when all equal (p = 1), else 0 (p = 0).
      CHECK(matchAll[i] == (same == ~0u ? ~0u ^ 1u : 0u));
      CHECK(rAdd[i] == sum);
      CHECK(int32_t(rMin[i]) == mn);
      CHECK(rMax[i] == mx);
      CHECK(rOr[i] == orv);
      CHECK(rAnd[i] == andv);
      CHECK(rXor[i] == xr);
      CHECK(active[i] == ~0u);
      CHECK(evenBallot[i] == (l % 2 ? 7u : eb));
      if (l < 13) {
        CHECK((divActive[i] >> l & 1) == 1);
        CHECK((divActive[i] & ~0x1fffu) == 0);
      } else {
        CHECK(divActive[i] == 0xdead);
      }
    }
  }
}

TEST_CASE("special registers across 3-D blocks and grids") {
  useContext();
  const char *regs[] = {"%tid.x",       "%tid.y",       "%tid.z",       "%ntid.x",      "%ntid.y",
                        "%ntid.z",      "%ctaid.x",     "%ctaid.y",     "%ctaid.z",     "%nctaid.x",
                        "%nctaid.y",    "%nctaid.z",    "%laneid",      "%warpid",      "%nwarpid",
                        "%lanemask_lt", "%lanemask_le", "%lanemask_eq", "%lanemask_ge", "%lanemask_gt"};
  const unsigned nreg = 20;
  std::string ptx = std::string(kHeader) +
                    ".visible .entry k(.param .u64 pout)\n{\n  .reg .b32 %r<40>;\n  .reg .b64 %rl<8>;\n";
  for (unsigned i = 0; i < nreg; ++i)
    ptx += "  mov.u32 %r" + std::to_string(i) + ", " + regs[i] + ";\n";
  // Record index: ((ctaid linear) * threads per block + tid linear) * nreg.
  ptx += R"(
  mad.lo.u32 %r30, %r8, %r10, %r7;
  mad.lo.u32 %r30, %r30, %r9, %r6;
  mad.lo.u32 %r31, %r2, %r4, %r1;
  mad.lo.u32 %r31, %r31, %r3, %r0;
  mul.lo.u32 %r32, %r3, %r4;
  mul.lo.u32 %r32, %r32, %r5;
  mad.lo.u32 %r33, %r30, %r32, %r31;
  mul.lo.u32 %r33, %r33, 80;
  ld.param.u64 %rl1, [pout];
  cvt.u64.u32 %rl2, %r33;
  add.u64 %rl1, %rl1, %rl2;
)";
  for (unsigned i = 0; i < nreg; ++i)
    ptx += "  st.global.u32 [%rl1+" + std::to_string(4 * i) + "], %r" + std::to_string(i) + ";\n";
  ptx += "  ret;\n}\n";
  Module m(ptx);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  Dims d{3, 2, 2, 8, 5, 2, 0};
  const unsigned per = 80, blocks = 12;
  DevBuf out(blocks * per * nreg * 4);
  REQUIRE(cuMemsetD8(out.p, 0xff, blocks * per * nreg * 4) == CUDA_SUCCESS);
  REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
  auto r = out.get<uint32_t>(blocks * per * nreg);
  for (unsigned bz = 0; bz < 2; ++bz)
    for (unsigned by = 0; by < 2; ++by)
      for (unsigned bx = 0; bx < 3; ++bx)
        for (unsigned tz = 0; tz < 2; ++tz)
          for (unsigned ty = 0; ty < 5; ++ty)
            for (unsigned tx = 0; tx < 8; ++tx) {
              unsigned blk = (bz * 2 + by) * 3 + bx, t = (tz * 5 + ty) * 8 + tx;
              const uint32_t *v = &r[(blk * per + t) * nreg];
              unsigned lane = t % 32;
              INFO("block ", bx, ",", by, ",", bz, " thread ", tx, ",", ty, ",", tz);
              const uint32_t want[] = {tx, ty, tz, 8, 5, 2, bx, by, bz, 3, 2, 2, lane};
              for (unsigned k = 0; k < 13; ++k) {
                INFO(regs[k]);
                CHECK(v[k] == want[k]);
              }
              // %warpid is a hardware slot: same for a warp, below %nwarpid.
              const uint32_t *first = &r[(blk * per + t - lane) * nreg];
              CHECK(v[13] == first[13]);
              CHECK(v[13] < v[14]);
              CHECK(v[15] == (1u << lane) - 1);
              CHECK(v[16] == uint32_t((2ull << lane) - 1));
              CHECK(v[17] == 1u << lane);
              CHECK(v[18] == ~((1u << lane) - 1));
              CHECK(v[19] == uint32_t(~((2ull << lane) - 1)));
            }
  // Warps of one block occupy distinct %warpid slots.
  for (unsigned blk = 0; blk < blocks; ++blk) {
    std::set<uint32_t> ids;
    for (unsigned w = 0; w < 3; ++w)
      ids.insert(r[(blk * per + w * 32) * nreg + 13]);
    CHECK(ids.size() == 3);
  }
}
