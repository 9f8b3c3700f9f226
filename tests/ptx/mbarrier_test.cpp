// mbarrier.*: state tokens, pending counts, parity waits, arrive_drop,
// transaction counts, cp.async.mbarrier.arrive, waits that let the block's
// other threads arrive, and a wait nobody completes (an error, not a hang).
#include "harness.h"
#include <chrono>

using namespace ptxg;

namespace {

// One thread walks an mbarrier through three phases; each step's result is
// one word of out[]. Where the only thread waits for a phase it cannot
// complete, the wait reports "not complete" (as a timed-out try_wait does).
const char *kSingle = R"(
.visible .entry k(.param .u64 pout)
{
  .reg .b32 %r<24>;
  .reg .b64 %rl<16>;
  .reg .pred %p<16>;
  .shared .align 8 .b64 bar;
  ld.param.u64 %rl1, [pout];
  mov.u32 %r1, bar;
  mbarrier.init.shared.b64 [%r1], 3;
  mbarrier.arrive.shared.b64 %rl2, [%r1];
  mbarrier.pending_count.b64 %r2, %rl2;
  st.global.u32 [%rl1], %r2;
  mbarrier.test_wait.shared.b64 %p1, [%r1], %rl2;
  selp.u32 %r3, 1, 0, %p1;
  st.global.u32 [%rl1+4], %r3;
  mbarrier.arrive.noComplete.shared.b64 %rl3, [%r1], 1;
  mbarrier.pending_count.b64 %r4, %rl3;
  st.global.u32 [%rl1+8], %r4;
  mbarrier.test_wait.parity.shared.b64 %p2, [%r1], 0;
  selp.u32 %r5, 1, 0, %p2;
  st.global.u32 [%rl1+12], %r5;
  mbarrier.arrive.shared.b64 %rl4, [%r1];
  mbarrier.pending_count.b64 %r6, %rl4;
  st.global.u32 [%rl1+16], %r6;
  mbarrier.test_wait.shared.b64 %p3, [%r1], %rl2;
  selp.u32 %r7, 1, 0, %p3;
  st.global.u32 [%rl1+20], %r7;
  mbarrier.try_wait.shared::cta.b64 %p4, [%r1], %rl4;
  selp.u32 %r8, 1, 0, %p4;
  st.global.u32 [%rl1+24], %r8;
  mbarrier.test_wait.parity.shared.b64 %p5, [%r1], 0;
  selp.u32 %r9, 1, 0, %p5;
  st.global.u32 [%rl1+28], %r9;
  mbarrier.try_wait.parity.shared::cta.b64 %p6, [%r1], 1, 1000;
  selp.u32 %r10, 1, 0, %p6;
  st.global.u32 [%rl1+32], %r10;
  // phase 1: arrive_drop leaves 2 expected arrivals for later phases
  mbarrier.arrive_drop.shared.b64 %rl5, [%r1];
  mbarrier.pending_count.b64 %r11, %rl5;
  st.global.u32 [%rl1+36], %r11;
  mbarrier.arrive.shared::cta.b64 %rl6, [%r1], 2;
  mbarrier.try_wait.parity.shared::cta.b64 %p7, [%r1], 1;
  selp.u32 %r12, 1, 0, %p7;
  st.global.u32 [%rl1+40], %r12;
  // phase 2: both arrivals made, 64 transaction bytes outstanding
  mbarrier.arrive.expect_tx.shared::cta.b64 %rl7, [%r1], 64;
  mbarrier.arrive.shared.b64 %rl8, [%r1];
  mbarrier.test_wait.parity.shared.b64 %p8, [%r1], 0;
  selp.u32 %r13, 1, 0, %p8;
  st.global.u32 [%rl1+44], %r13;
  mbarrier.complete_tx.shared::cta.b64 [%r1], 64;
  mbarrier.test_wait.parity.shared.b64 %p9, [%r1], 0;
  selp.u32 %r14, 1, 0, %p9;
  st.global.u32 [%rl1+48], %r14;
  mbarrier.pending_count.b64 %r15, %rl8;
  st.global.u32 [%rl1+52], %r15;
  // phase 3: cp.async.mbarrier.arrive raises the count before its arrival
  // (no change); .noinc is one arrival
  cp.async.mbarrier.arrive.shared.b64 [%r1];
  mbarrier.arrive.shared.b64 %rl9, [%r1];
  mbarrier.test_wait.parity.shared.b64 %p10, [%r1], 1;
  selp.u32 %r16, 1, 0, %p10;
  st.global.u32 [%rl1+56], %r16;
  cp.async.mbarrier.arrive.noinc.shared.b64 [%r1];
  mbarrier.test_wait.parity.shared.b64 %p11, [%r1], 1;
  selp.u32 %r17, 1, 0, %p11;
  st.global.u32 [%rl1+60], %r17;
  mbarrier.inval.shared.b64 [%r1];
  ret;
}
)";

// 128 threads, 5 rounds, two mbarriers: threads 0-63 store, arrive on A
// (0-31 with count 2, 32-63 with 1: 96 arrivals) and wait on B; threads
// 64-127 wait on A, read what 0-63 stored, store and arrive on B. The low
// threads run first, so their B wait must let the high ones arrive.
const char *kBlock = R"(
.visible .entry k(.param .u64 pout)
{
  .reg .b32 %r<24>;
  .reg .b64 %rl<16>;
  .reg .pred %p<8>;
  .shared .align 8 .b64 barA;
  .shared .align 8 .b64 barB;
  .shared .align 4 .b32 dataA[64];
  .shared .align 4 .b32 dataB[64];
  ld.param.u64 %rl1, [pout];
  mov.u32 %r1, barA;
  mov.u32 %r12, barB;
  mov.u32 %r3, %tid.x;
  setp.ne.u32 %p1, %r3, 0;
  @%p1 bra INITED;
  mbarrier.init.shared.b64 [%r1], 96;
  mbarrier.init.shared.b64 [%r12], 64;
INITED:
  bar.sync 0;
  mov.u32 %r4, 0;    // round
  mov.u32 %r5, 0;    // sum
  and.b32 %r6, %r3, 63;
  mul.lo.u32 %r6, %r6, 7;
  and.b32 %r6, %r6, 63;
  shl.b32 %r6, %r6, 2;  // 4 * ((tid * 7) % 64)
  and.b32 %r7, %r3, 63;
  shl.b32 %r7, %r7, 2;  // 4 * (tid % 64)
  setp.lt.u32 %p2, %r3, 64;
  setp.lt.u32 %p3, %r3, 32;
  selp.u32 %r8, 2, 1, %p3;
ROUND:
  and.b32 %r10, %r4, 1;
  @!%p2 bra HIGH;
  mad.lo.u32 %r9, %r3, 10, %r4;
  mov.u32 %r13, dataA;
  add.u32 %r13, %r13, %r7;
  st.shared.u32 [%r13], %r9;
  mbarrier.arrive.shared::cta.b64 %rl2, [%r1], %r8;
SPINB:
  mbarrier.test_wait.parity.shared.b64 %p4, [%r12], %r10;
  @!%p4 bra SPINB;
  mov.u32 %r14, dataB;
  add.u32 %r14, %r14, %r6;
  ld.shared.u32 %r11, [%r14];
  add.u32 %r5, %r5, %r11;
  bra.uni NEXT;
HIGH:
  mbarrier.try_wait.parity.shared::cta.b64 %p4, [%r1], %r10;
  @!%p4 bra HIGH;
  mov.u32 %r14, dataA;
  add.u32 %r14, %r14, %r6;
  ld.shared.u32 %r11, [%r14];
  add.u32 %r5, %r5, %r11;
  mad.lo.u32 %r9, %r3, 5, %r4;
  mov.u32 %r13, dataB;
  add.u32 %r13, %r13, %r7;
  st.shared.u32 [%r13], %r9;
  mbarrier.arrive.shared.b64 %rl3, [%r12];
NEXT:
  bar.sync 0;
  add.u32 %r4, %r4, 1;
  setp.lt.u32 %p5, %r4, 5;
  @%p5 bra ROUND;
  mul.wide.u32 %rl3, %r3, 4;
  add.u64 %rl4, %rl1, %rl3;
  st.global.u32 [%rl4], %r5;
  ret;
}
)";

// A phase that needs one arrival more than the block makes.
const char *kDeadlock = R"(
.visible .entry k(.param .u64 pout)
{
  .reg .b32 %r<8>;
  .reg .b64 %rl<4>;
  .reg .pred %p<4>;
  .shared .align 8 .b64 bar;
  mov.u32 %r1, bar;
  mov.u32 %r2, %tid.x;
  setp.ne.u32 %p1, %r2, 0;
  @%p1 bra GO;
  mbarrier.init.shared.b64 [%r1], 33;
GO:
  bar.sync 0;
  mbarrier.arrive.shared.b64 %rl1, [%r1];
SPIN:
  mbarrier.try_wait.shared.b64 %p2, [%r1], %rl1;
  @!%p2 bra SPIN;
  ret;
}
)";

} // namespace

TEST_CASE("mbarrier: state tokens, pending counts, parity, arrive_drop, tx counts") {
  useContext();
  Module m(std::string(kHeader) + kSingle);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  DevBuf out(16 * 4);
  Dims d;
  REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
  auto r = out.get<uint32_t>(16);
  // A token is the object after the arrival with the phase before it: its
  // pending count is what is still missing.
  const uint32_t want[16] = {2, 0, 1, 0, 0, 1, 1, 1, 0, 2, 1, 0, 1, 0, 0, 1};
  for (int i = 0; i < 16; ++i) {
    INFO("word ", i);
    CHECK(r[i] == want[i]);
  }
}

TEST_CASE("mbarrier: waits let the block's other threads arrive (5 rounds, two barriers, parity spins)") {
  useContext();
  Module m(std::string(kHeader) + kBlock);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  DevBuf out(128 * 4);
  Dims d;
  d.bx = 128;
  REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
  auto r = out.get<uint32_t>(128);
  for (uint32_t t = 0; t < 128; ++t) {
    uint32_t want = 0, j = t % 64 * 7 % 64; // the word read, stored by thread j (A) or 64 + j (B)
    for (uint32_t k = 0; k < 5; ++k)
      want += t < 64 ? (64 + j) * 5 + k : j * 10 + k;
    INFO("thread ", t);
    CHECK(r[t] == want);
  }
}

TEST_CASE("mbarrier: a wait nobody can complete fails the launch instead of hanging") {
  useContext();
  CUdevice dev = 0;
  REQUIRE(cuDeviceGet(&dev, 0) == CUDA_SUCCESS);
  CUcontext ctx = nullptr;
  REQUIRE(cuCtxCreate(&ctx, nullptr, 0, dev) == CUDA_SUCCESS);
  {
    Module m(std::string(kHeader) + kDeadlock);
    REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
    CUfunction fn = m.fn();
    CUdeviceptr dummy = 0;
    void *args[] = {&dummy};
    auto t0 = std::chrono::steady_clock::now();
    CUresult l = cuLaunchKernel(fn, 2, 1, 1, 32, 1, 1, 0, nullptr, args, nullptr);
    CHECK((l == CUDA_SUCCESS || l == CUDA_ERROR_LAUNCH_FAILED));
    CHECK(cuCtxSynchronize() == CUDA_ERROR_LAUNCH_FAILED);
    CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20));
  }
  CHECK(cuCtxDestroy(ctx) == CUDA_SUCCESS);
}
