// Indirect calls whose .callprototype passes an aggregate by value (an
// unnamed array parameter, `.param .align 4 .b8 _[16]`): nvcc emits these for
// virtual functions taking a struct (NVIDIA's newdelete sample).
#include "harness.h"

using namespace ptxg;

namespace {

/// k(out): out[t] = pick[t % 2](s) with s = {t, 10, 100, 1000}: first
/// returns the sum of the four fields, second their weighted sum.
const char *kAggregate = R"(
.version 8.0
.target sm_75
.address_size 64

.func (.param .b32 rv) first(.param .align 4 .b8 s[16])
{
  .reg .b32 %r<8>;
  ld.param.b32 %r1, [s];
  ld.param.b32 %r2, [s+4];
  ld.param.b32 %r3, [s+8];
  ld.param.b32 %r4, [s+12];
  add.s32 %r5, %r1, %r2;
  add.s32 %r5, %r5, %r3;
  add.s32 %r5, %r5, %r4;
  st.param.b32 [rv], %r5;
  ret;
}

.func (.param .b32 rv) second(.param .align 4 .b8 s[16])
{
  .reg .b32 %r<8>;
  ld.param.b32 %r1, [s];
  ld.param.b32 %r2, [s+4];
  ld.param.b32 %r3, [s+12];
  mul.lo.s32 %r4, %r1, 7;
  add.s32 %r4, %r4, %r2;
  sub.s32 %r4, %r4, %r3;
  st.param.b32 [rv], %r4;
  ret;
}

.visible .entry k(.param .u64 out)
{
  .reg .pred %p<2>;
  .reg .b32 %r<8>;
  .reg .b64 %rd<6>;
  ld.param.u64 %rd1, [out];
  mov.u32 %r1, %tid.x;
  and.b32 %r2, %r1, 1;
  setp.eq.u32 %p1, %r2, 0;
  mov.u64 %rd2, first;
  mov.u64 %rd3, second;
  selp.b64 %rd4, %rd2, %rd3, %p1;
  mov.u32 %r3, 10;
  mov.u32 %r4, 100;
  mov.u32 %r5, 1000;
  {
  .param .align 4 .b8 a0[16];
  st.param.b32 [a0], %r1;
  st.param.b32 [a0+4], %r3;
  st.param.b32 [a0+8], %r4;
  st.param.b32 [a0+12], %r5;
  .param .b32 r0;
  proto : .callprototype (.param .b32 _) _ (.param .align 4 .b8 _[16]);
  call (r0), %rd4, (a0), proto;
  ld.param.b32 %r6, [r0];
  }
  mul.wide.u32 %rd5, %r1, 4;
  add.s64 %rd5, %rd1, %rd5;
  st.global.u32 [%rd5], %r6;
  ret;
}
)";

} // namespace

TEST_CASE("indirect call with an aggregate parameter in its .callprototype") {
  useContext();
  Module m(kAggregate);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  constexpr unsigned n = 64;
  DevBuf out(n * 4);
  Dims d;
  d.bx = n;
  REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
  auto o = out.get<int32_t>(n);
  for (unsigned t = 0; t < n; ++t) {
    int s = int(t);
    int want = t % 2 == 0 ? s + 10 + 100 + 1000 : s * 7 + 10 - 1000;
    INFO("thread ", t);
    CHECK(o[t] == want);
  }
}
