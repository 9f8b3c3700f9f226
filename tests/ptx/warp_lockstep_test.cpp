// Legacy warp-synchronous code: ld/st.volatile.shared steps between the lanes
// of a warp without bar.warp.sync. The CPU device makes each volatile shared
// access a synchronisation point of the warp's lanes that are there, and lets
// lanes at an earlier point go first (docs/ARCHITECTURE.md).
#include "harness.h"
#include <numeric>

using namespace ptxg;

namespace {

// One step of a guarded warp scan: lanes >= d add s[t - d] (bytes: -4d).
std::string scanStep(int d) {
  char buf[512];
  std::snprintf(buf, sizeof buf, R"(
  setp.lt.u32 %%p1, %%r2, %d;
  @%%p1 bra SKIP%d;
  ld.volatile.shared.u32 %%r7, [%%r6+%d];
  ld.volatile.shared.u32 %%r8, [%%r6];
  add.u32 %%r8, %%r8, %%r7;
  st.volatile.shared.u32 [%%r6], %%r8;
SKIP%d:)",
                d, d, -4 * d, d);
  return buf;
}

// Inclusive scan of each warp's values (7t + 1) & 15, through shared memory.
std::string scanPtx() {
  std::string body;
  for (int d = 1; d < 32; d *= 2)
    body += scanStep(d);
  return std::string(kHeader) + R"(
.visible .entry k(.param .u64 pout)
{
  .shared .align 4 .b8 s[4096];
  .reg .b32 %r<12>;
  .reg .b64 %rl<4>;
  .reg .pred %p<2>;
  mov.u32 %r1, %tid.x;
  and.b32 %r2, %r1, 31;
  mad.lo.u32 %r3, %r1, 7, 1;
  and.b32 %r3, %r3, 15;
  mov.u32 %r4, s;
  shl.b32 %r5, %r1, 2;
  add.u32 %r6, %r4, %r5;
  st.volatile.shared.u32 [%r6], %r3;)" +
         body + R"(
  ld.volatile.shared.u32 %r9, [%r6];
  mov.u32 %r10, %ctaid.x;
  mov.u32 %r11, %ntid.x;
  mad.lo.u32 %r10, %r10, %r11, %r1;
  ld.param.u64 %rl1, [pout];
  mul.wide.u32 %rl2, %r10, 4;
  add.u64 %rl3, %rl1, %rl2;
  st.global.u32 [%rl3], %r9;
  ret;
}
)";
}

} // namespace

TEST_CASE("ld/st.volatile.shared: a guarded warp scan sees every lane's previous step") {
  useContext();
  Module m(scanPtx());
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  // 80 threads: a partial last warp (lanes 0-15 only).
  for (unsigned bs : {32u, 64u, 80u, 256u}) {
    const unsigned blocks = 2, n = blocks * bs;
    DevBuf out(n * 4);
    Dims d;
    d.gx = blocks;
    d.bx = bs;
    REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
    auto r = out.get<uint32_t>(n);
    for (unsigned b = 0; b < blocks; ++b) {
      uint32_t acc = 0;
      for (unsigned t = 0; t < bs; ++t) {
        acc = (t % 32 == 0 ? 0 : acc) + ((7 * t + 1) & 15);
        INFO("block size " << bs << " block " << b << " thread " << t);
        CHECK(r[b * bs + t] == acc);
      }
    }
  }
}

// warpReduce as nvcc -G emits it: generic ld/st.volatile through cvta.shared,
// in warp 0 only (the other warps have exited).
TEST_CASE("generic volatile accesses to shared memory: warpReduce in warp 0 after a barrier") {
  useContext();
  std::string steps;
  for (int d = 32; d >= 1; d /= 2)
    steps += "  ld.volatile.u32 %r7, [%rl2+" + std::to_string(4 * d) +
             "];\n"
             "  ld.volatile.u32 %r8, [%rl2];\n"
             "  add.u32 %r8, %r8, %r7;\n"
             "  st.volatile.u32 [%rl2], %r8;\n";
  std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 pout)
{
  .shared .align 4 .b8 s[1024];
  .reg .b32 %r<12>;
  .reg .b64 %rl<8>;
  .reg .pred %p<2>;
  mov.u32 %r1, %tid.x;
  mad.lo.u32 %r3, %r1, 5, 3;
  mov.u32 %r4, s;
  cvt.u64.u32 %rl1, %r4;
  cvta.shared.u64 %rl1, %rl1;
  mul.wide.u32 %rl3, %r1, 4;
  add.u64 %rl2, %rl1, %rl3;
  st.u32 [%rl2], %r3;
  bar.sync 0;
  setp.ge.u32 %p1, %r1, 32;
  @%p1 bra DONE;
)" + steps + R"(
  setp.ne.u32 %p1, %r1, 0;
  @%p1 bra DONE;
  ld.volatile.u32 %r9, [%rl2];
  ld.param.u64 %rl4, [pout];
  mov.u32 %r10, %ctaid.x;
  mul.wide.u32 %rl5, %r10, 4;
  add.u64 %rl6, %rl4, %rl5;
  st.global.u32 [%rl6], %r9;
DONE:
  ret;
}
)";
  Module m(ptx);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  for (unsigned bs : {64u, 256u}) {
    const unsigned blocks = 3;
    DevBuf out(blocks * 4);
    Dims d;
    d.gx = blocks;
    d.bx = bs;
    REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
    auto r = out.get<uint32_t>(blocks);
    uint32_t want = 0;
    for (unsigned t = 0; t < 64; ++t)
      want += 5 * t + 3;
    for (unsigned b = 0; b < blocks; ++b) {
      INFO("block size " << bs << " block " << b);
      CHECK(r[b] == want);
    }
  }
}

// Lane 0 clears its warp's flag, lanes whose predicate holds set it, all read
// it: lanes that skipped a branch wait for the lanes inside it.
TEST_CASE("volatile shared flag vote: diverged lanes meet again in program order") {
  useContext();
  std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 ppred, .param .u64 pout)
{
  .shared .align 4 .b8 flag[32];
  .reg .b32 %r<12>;
  .reg .b64 %rl<8>;
  .reg .pred %p<2>;
  mov.u32 %r1, %tid.x;
  and.b32 %r2, %r1, 31;
  shr.u32 %r3, %r1, 5;
  mov.u32 %r4, flag;
  shl.b32 %r5, %r3, 2;
  add.u32 %r6, %r4, %r5;
  setp.ne.u32 %p1, %r2, 0;
  @%p1 bra CLEARED;
  mov.u32 %r7, 0;
  st.volatile.shared.u32 [%r6], %r7;
CLEARED:
  mov.u32 %r8, %ctaid.x;
  mov.u32 %r9, %ntid.x;
  mad.lo.u32 %r8, %r8, %r9, %r1;
  mul.wide.u32 %rl1, %r8, 4;
  ld.param.u64 %rl2, [ppred];
  add.u64 %rl3, %rl2, %rl1;
  ld.global.u32 %r10, [%rl3];
  setp.eq.u32 %p1, %r10, 0;
  @%p1 bra VOTED;
  mov.u32 %r7, 1;
  st.volatile.shared.u32 [%r6], %r7;
VOTED:
  ld.volatile.shared.u32 %r11, [%r6];
  ld.param.u64 %rl4, [pout];
  add.u64 %rl5, %rl4, %rl1;
  st.global.u32 [%rl5], %r11;
  ret;
}
)";
  Module m(ptx);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  const unsigned blocks = 2, bs = 256, n = blocks * bs;
  std::vector<uint32_t> pred(n, 0);
  for (unsigned w = 0; w < n / 32; ++w) {
    if (w % 3 == 1)
      pred[w * 32 + (w * 7) % 32] = 1; // one lane (lane 0 in some warps)
    if (w % 3 == 2)
      for (unsigned l = 1; l < 32; l += 5)
        pred[w * 32 + l] = 1;
  }
  DevBuf dp(n * 4), out(n * 4);
  dp.put(pred);
  Dims d;
  d.gx = blocks;
  d.bx = bs;
  REQUIRE(launch(m.fn(), d, {dp.p, out.p}) == CUDA_SUCCESS);
  auto r = out.get<uint32_t>(n);
  for (unsigned w = 0; w < n / 32; ++w) {
    uint32_t any = 0;
    for (unsigned l = 0; l < 32; ++l)
      any |= pred[w * 32 + l];
    for (unsigned l = 0; l < 32; ++l) {
      INFO("warp " << w << " lane " << l);
      CHECK(r[w * 32 + l] == any);
    }
  }
}
