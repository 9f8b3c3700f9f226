// Lockstep points (blockify's insertLockstepPoints): volatile shared accesses
// of legacy warp-synchronous code become warp synchronisation points, and
// nothing else does. Checked on the block IR of small PTX kernels.
#include "translate/cpu/jit/block_runtime.h"
#include "translate/cpu/jit/dump.h"
#include <doctest.h>
#include <regex>
#include <string>

namespace {

constexpr const char *kHeader = ".version 8.0\n.target sm_80\n.address_size 64\n";

std::string blockIr(const std::string &ptx) {
  std::string log;
  auto ir = cuvirt::cpu::jit::dumpPtx(ptx, cuvirt::cpu::jit::DumpStage::BlockIR, log);
  INFO(log);
  REQUIRE(ir.ok());
  return *ir;
}

// Resume points of kernel k of kind `kind` in its descriptor's kinds array
// (-1 when the kernel has no resume points beyond its entry).
int resumePointsOfKind(const std::string &ir, int kind) {
  std::smatch m;
  if (!std::regex_search(ir, m, std::regex(R"(@k\.kinds = private constant \[\d+ x i32\] \[([^\]]*)\])")))
    return -1;
  const std::string list = m[1].str();
  const std::regex item("i32 " + std::to_string(kind) + R"((,|$))");
  return int(std::distance(std::sregex_iterator(list.begin(), list.end(), item), std::sregex_iterator()));
}

} // namespace

TEST_CASE("lockstep points: volatile shared warp steps get them, loads after loads share one") {
#ifndef CPUJIT_HAVE_FRONTEND
  MESSAGE("SKIPPED: needs the PTX front end (cuvirt_ptx_llvm)");
#else
  // A guarded warp scan step: ld [t-d], ld [t] (no new point: nothing was
  // written since the last one), st [t] (a point), and one where the guard's
  // paths meet (the lanes that skipped wait there). Plus the first store; the
  // last load follows the second meeting point: 1 + 2 * 3 points.
  const std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 pout)
{
  .shared .align 4 .b8 s[4096];
  .reg .b32 %r<12>;
  .reg .b64 %rl<4>;
  .reg .pred %p<2>;
  mov.u32 %r1, %tid.x;
  and.b32 %r2, %r1, 31;
  mov.u32 %r4, s;
  shl.b32 %r5, %r1, 2;
  add.u32 %r6, %r4, %r5;
  st.volatile.shared.u32 [%r6], %r1;
  setp.lt.u32 %p1, %r2, 1;
  @%p1 bra SKIP1;
  ld.volatile.shared.u32 %r7, [%r6+-4];
  ld.volatile.shared.u32 %r8, [%r6];
  add.u32 %r8, %r8, %r7;
  st.volatile.shared.u32 [%r6], %r8;
SKIP1:
  setp.lt.u32 %p1, %r2, 2;
  @%p1 bra SKIP2;
  ld.volatile.shared.u32 %r7, [%r6+-8];
  ld.volatile.shared.u32 %r8, [%r6];
  add.u32 %r8, %r8, %r7;
  st.volatile.shared.u32 [%r6], %r8;
SKIP2:
  ld.volatile.shared.u32 %r9, [%r6];
  ld.param.u64 %rl1, [pout];
  mul.wide.u32 %rl2, %r1, 4;
  add.u64 %rl3, %rl1, %rl2;
  st.global.u32 [%rl3], %r9;
  ret;
}
)";
  const std::string ir = blockIr(ptx);
  CHECK(resumePointsOfKind(ir, cuvirt::cpu::jit::kLockstep) == 7);
#endif
}

TEST_CASE("lockstep points: none in kernels without volatile shared accesses") {
#ifndef CPUJIT_HAVE_FRONTEND
  MESSAGE("SKIPPED: needs the PTX front end (cuvirt_ptx_llvm)");
#else
  // Plain shared memory with a barrier and a shuffle, and a spin wait on a
  // volatile global flag (which keeps its back-off and gets no point).
  const std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 pout, .param .u64 pflag)
{
  .shared .align 4 .b8 s[1024];
  .reg .b32 %r<12>;
  .reg .b64 %rl<6>;
  .reg .pred %p<2>;
  ld.param.u64 %rl4, [pflag];
WAIT:
  ld.volatile.global.u32 %r10, [%rl4];
  setp.eq.u32 %p1, %r10, 0;
  @%p1 bra WAIT;
  mov.u32 %r1, %tid.x;
  mov.u32 %r4, s;
  shl.b32 %r5, %r1, 2;
  add.u32 %r6, %r4, %r5;
  st.shared.u32 [%r6], %r1;
  bar.sync 0;
  ld.shared.u32 %r7, [%r6+4];
  shfl.sync.down.b32 %r8, %r7, 1, 31, -1;
  st.shared.u32 [%r6], %r8;
  ld.param.u64 %rl1, [pout];
  mul.wide.u32 %rl2, %r1, 4;
  add.u64 %rl3, %rl1, %rl2;
  st.global.u32 [%rl3], %r8;
  ret;
}
)";
  const std::string ir = blockIr(ptx);
  CHECK(ir.find("cuvirt.jit.lockstep") == std::string::npos);
  CHECK(resumePointsOfKind(ir, cuvirt::cpu::jit::kLockstep) == 0);
  CHECK(resumePointsOfKind(ir, cuvirt::cpu::jit::kBarrier) == 1);
  CHECK(ir.find("cuvirt_cpu_jit_spin_wait") != std::string::npos);
#endif
}
