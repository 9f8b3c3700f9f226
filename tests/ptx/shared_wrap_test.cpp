// 32-bit shared addresses: register + offset wraps at 2^32, as on a GPU.
#include "harness.h"

using namespace ptxg;

// cuBLAS's transpose kernels (CuPy's F->C copies) store through
// [%r + 8320] where %r = sm + 4 * (negative index): only the 32-bit sum
// lands in the array.
TEST_CASE("shared [%r + imm]: a 32-bit address register wraps with its offset") {
  useContext();
  std::string ptx = std::string(kHeader) + R"(
.visible .entry k(.param .u64 pout)
{
  .shared .align 4 .b8 sm[1024];
  .reg .b32 %r<12>;
  .reg .b64 %rl<4>;
  mov.u32 %r1, %tid.x;
  mov.u32 %r2, sm;
  // slot t through a "negative" register: sm + 4*(t - 256), offset +1024
  add.s32 %r3, %r1, -256;
  shl.b32 %r4, %r3, 2;
  add.s32 %r5, %r2, %r4;
  mul.lo.u32 %r6, %r1, 3;
  st.shared.u32 [%r5+1024], %r6;
  bar.sync 0;
  // read back thread (255 - t)'s slot the same way, offset +1020 - 4t
  sub.s32 %r7, 0, %r1;
  shl.b32 %r8, %r7, 2;
  add.s32 %r9, %r2, -1024;
  add.s32 %r9, %r9, %r8;
  ld.shared.u32 %r10, [%r9+2044];
  ld.param.u64 %rl1, [pout];
  mul.wide.u32 %rl2, %r1, 4;
  add.u64 %rl3, %rl1, %rl2;
  st.global.u32 [%rl3], %r10;
  ret;
}
)";
  Module m(ptx);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  const unsigned n = 256;
  DevBuf out(n * 4);
  Dims d;
  d.bx = n;
  REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
  auto r = out.get<uint32_t>(n);
  for (unsigned t = 0; t < n; ++t)
    CHECK(r[t] == (n - 1 - t) * 3);
}
