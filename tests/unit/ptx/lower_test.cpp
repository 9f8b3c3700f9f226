// lower() on hand-written PTX: the per-thread form of KERNEL_IR.md.
#include "tests/unit/ptx/lower_util.h"
#include <doctest.h>
#include <llvm/IR/Function.h>

using namespace cuvirt;

namespace {
constexpr std::string_view kHeader = ".version 8.5\n.target sm_80\n.address_size 64\n";
std::string mod(std::string_view body) { return std::string(kHeader) + std::string(body); }

std::string ir(std::string_view body) {
  llvm::LLVMContext ctx;
  std::string log;
  bool ok = false;
  std::string text = lowerToText(mod(body), ctx, log, &ok);
  INFO(log);
  REQUIRE(ok);
  return text;
}
std::string failure(std::string_view body) {
  llvm::LLVMContext ctx;
  std::string log;
  bool ok = true;
  lowerToText(mod(body), ctx, log, &ok);
  CHECK_FALSE(ok);
  return log;
}
bool has(const std::string &text, std::string_view s) { return text.find(s) != std::string::npos; }
} // namespace

TEST_CASE("kernel signature, parameters through kernelParams, special registers") {
  auto t = ir(R"(
.visible .entry k(.param .u64 out, .param .u32 n)
{
  .reg .b32 %r<5>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [out];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %tid.x;
  mov.u32 %r3, %ctaid.y;
  mad.lo.s32 %r4, %r3, %r1, %r2;
  cvta.to.global.u64 %rd2, %rd1;
  mul.wide.s32 %rd3, %r4, 4;
  add.s64 %rd2, %rd2, %rd3;
  st.global.u32 [%rd2], %r4;
  ret;
}
)");
  CHECK(has(t, "define void @k(ptr %params)"));
  CHECK(has(t, "\"cuvirt-kernel\""));
  CHECK(has(t, "call i32 @cuvirt.tid.x()"));
  CHECK(has(t, "call i32 @cuvirt.ctaid.y()"));
  CHECK(has(t, "getelementptr ptr, ptr %params, i64 1"));
  CHECK(has(t, "store i32"));
}

TEST_CASE("shared memory: static layout offsets and dynamic base") {
  auto t = ir(R"(
.extern .shared .align 16 .b8 dyn[];
.visible .entry k()
{
  .reg .b32 %r<6>;
  .shared .align 4 .b8 a[12];
  .shared .align 8 .b8 b[16];
  mov.u32 %r1, b;
  st.shared.u32 [%r1+4], 7;
  ld.shared.u32 %r2, [a+8];
  mov.u32 %r3, dyn;
  st.shared.u32 [%r3], %r2;
  st.shared.u32 [dyn+4], %r2;
  bar.sync 0;
  barrier.sync 1, 64;
  ret;
}
)");
  CHECK(has(t, "call ptr @cuvirt.shared.base()"));
  CHECK(has(t, "call ptr @cuvirt.dynshared.base()"));
  // b at 16: after a (12 bytes), aligned to 8 (a 32-bit shared address plus
  // its offset, wrapping at 2^32 as on a GPU, then widened)
  CHECK(has(t, "add i32 16, 4")); // [%r1+4] with %r1 = b
  CHECK(has(t, "call void @cuvirt.barrier(i32 0, i32 0)"));
  CHECK(has(t, "call void @cuvirt.barrier(i32 1, i32 64)"));
}

TEST_CASE("globals: external [N x i8] with alignment") {
  auto t = ir(R"(
.global .align 8 .b8 g[24] = {1};
.const .align 4 .f32 c[4];
.extern .global .align 4 .u32 e;
.visible .entry k()
{
  .reg .b64 %rd<3>;
  .reg .f32 %f<2>;
  mov.u64 %rd1, g;
  ld.const.f32 %f1, [c+4];
  st.global.f32 [e], %f1;
  ret;
}
)");
  CHECK(has(t, "@g = external global [24 x i8], align 8"));
  CHECK(has(t, "@c = external constant [16 x i8], align 4"));
  CHECK(has(t, "@e = external global [4 x i8], align 4"));
}

TEST_CASE("functions: params, return values, direct and indirect calls") {
  auto t = ir(R"(
.func (.param .b32 r) add1(.param .b32 x)
{
  .reg .b32 %r<3>;
  ld.param.b32 %r1, [x];
  add.s32 %r2, %r1, 1;
  st.param.b32 [r], %r2;
  ret;
}
.func (.param .align 8 .b8 s[16]) pair(.param .b64 a)
{
  .reg .b64 %rd<2>;
  ld.param.b64 %rd1, [a];
  st.param.b64 [s], %rd1;
  st.param.b64 [s+8], %rd1;
  ret;
}
.extern .func (.param .b32 func_retval0) vprintf(.param .b64 p0, .param .b64 p1);
.visible .entry k(.param .u64 fp)
{
  .reg .b32 %r<4>;
  .reg .b64 %rd<4>;
  {
  .param .b32 param0;
  st.param.b32 [param0+0], 41;
  .param .b32 retval0;
  call.uni (retval0), add1, (param0);
  ld.param.b32 %r1, [retval0+0];
  }
  {
  .param .b64 param0;
  st.param.b64 [param0+0], 5;
  .param .align 8 .b8 retval0[16];
  call.uni (retval0), pair, (param0);
  ld.param.b64 %rd1, [retval0+8];
  }
  ld.param.u64 %rd2, [fp];
  {
  .param .b32 param0;
  st.param.b32 [param0+0], %r1;
  .param .b32 retval0;
  prototype_0 : .callprototype (.param .b32 _) _ (.param .b32 _);
  call (retval0), %rd2, (param0), prototype_0;
  ld.param.b32 %r2, [retval0+0];
  }
  {
  .param .b64 param0;
  st.param.b64 [param0+0], 0;
  .param .b64 param1;
  st.param.b64 [param1+0], 0;
  .param .b32 retval0;
  call.uni (retval0), vprintf, (param0, param1);
  }
  ret;
}
)");
  CHECK(has(t, "define internal i32 @add1.ptx(i32"));
  CHECK(has(t, "define internal [16 x i8] @pair.ptx(i64"));
  CHECK(has(t, "declare i32 @vprintf(i64, i64)"));
  CHECK(has(t, "call i32 @add1.ptx("));
  CHECK(has(t, "call i32 @vprintf("));
  CHECK(has(t, "inttoptr i64"));
}

TEST_CASE("brx.idx jump tables and predicated instructions") {
  auto t = ir(R"(
.visible .entry k(.param .u32 i)
{
  .reg .pred %p<3>;
  .reg .b32 %r<4>;
  ld.param.u32 %r1, [i];
  $L_brx_0: .branchtargets $L0, $L1, $L2;
  brx.idx %r1, $L_brx_0;
$L0:
  mov.u32 %r2, 10;
  bra.uni $Lend;
$L1:
  setp.lt.u32 %p1, %r1, 5;
  @%p1 mov.u32 %r2, 20;
  @!%p1 bra $Lend;
$L2:
  mov.u32 %r2, 30;
$Lend:
  ret;
}
)");
  CHECK(has(t, "switch i32"));
  CHECK(has(t, "i32 2, label %\"$L2\""));
}

TEST_CASE("warp collectives and atomics use the contract calls and scopes") {
  auto t = ir(R"(
.visible .entry k(.param .u64 p)
{
  .reg .pred %p<3>;
  .reg .b32 %r<12>;
  .reg .b64 %rd<4>;
  .reg .f32 %f<3>;
  ld.param.u64 %rd1, [p];
  mov.u32 %r1, %laneid;
  shfl.sync.bfly.b32 %r2|%p1, %r1, 1, 31, -1;
  shfl.sync.idx.b32 %r3, %r1, 0, 31, -1;
  setp.ne.s32 %p2, %r1, 0;
  vote.sync.ballot.b32 %r4, %p2, -1;
  vote.sync.all.pred %p1, !%p2, -1;
  match.any.sync.b64 %r5, %rd1, -1;
  redux.sync.min.u32 %r6, %r1, -1;
  activemask.b32 %r7;
  atom.global.add.u32 %r8, [%rd1], 1;
  atom.shared.cta.cas.b64 %rd2, [%r1], %rd1, 0;
  atom.acq_rel.sys.global.inc.u32 %r9, [%rd1], 9;
  red.global.gpu.add.f32 [%rd1], %f1;
  atom.global.exch.b32 %r10, [%rd1], 3;
  bar.red.popc.u32 %r11, 0, %p2;
  membar.gl;
  fence.sc.cta;
  nanosleep.u32 100;
  elect.sync %r1|%p1, 0xF0;
  ret;
}
)");
  CHECK(has(t, "call { i32, i1 } @cuvirt.shfl.bfly(i32 -1, i32"));
  CHECK(has(t, "@cuvirt.shfl.idx("));
  CHECK(has(t, "call i32 @cuvirt.vote.ballot(i32 -1, i1"));
  CHECK(has(t, "call i1 @cuvirt.vote.all("));
  CHECK(has(t, "call i32 @cuvirt.match.any.i64(i32 -1, i64"));
  CHECK(has(t, "call i32 @cuvirt.redux.umin("));
  CHECK(has(t, "call i32 @cuvirt.activemask()"));
  CHECK(has(t, "atomicrmw add ptr"));
  CHECK(has(t, "syncscope(\"device\") monotonic"));
  CHECK(has(t, "cmpxchg ptr"));
  CHECK(has(t, "syncscope(\"block\") monotonic monotonic"));
  CHECK(has(t, "atomicrmw uinc_wrap ptr"));
  CHECK(has(t, "acq_rel"));
  CHECK(has(t, "atomicrmw fadd ptr"));
  CHECK(has(t, "atomicrmw xchg ptr"));
  CHECK(has(t, "call i32 @cuvirt.barrier.red.popc(i32 0, i32 0, i1"));
  CHECK(has(t, "call void @cuvirt.fence(i32 1)"));
  CHECK(has(t, "call void @cuvirt.fence(i32 0)"));
  CHECK(has(t, "call void @cuvirt.nanosleep(i32 100)"));
  CHECK(has(t, "call i32 @llvm.cttz.i32(i32 240, i1 true)"));
}

TEST_CASE("mma becomes one cuvirt.warp.matrix collective; wgmma cuvirt.unsupported naming it") {
  auto t = ir(R"(
.visible .entry k()
{
  .reg .b32 %r<12>;
  .reg .f32 %f<8>;
  .reg .b64 %rd<4>;
  .reg .pred %p<2>;
  mma.sync.aligned.m16n8k8.row.col.f32.f16.f16.f32 {%f0,%f1,%f2,%f3}, {%r0,%r1}, {%r2}, {%f4,%f5,%f6,%f7};
  wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16 {%f0,%f1,%f2,%f3}, %rd1, %rd2, %p1, 1, 1, 0, 0;
  ret;
}
)");
  // desc: kMma | m16 << 4 | n8 << 10 | k8 << 16; types: f16, f16, f32, f32 (matrix_abi.h)
  CHECK(has(t, "alloca [200 x i8]"));
  CHECK(has(t, "call void @cuvirt.warp.matrix(i32 -1, i64 %"));
  CHECK(has(t, ", i32 532737, i32 17425)"));
  CHECK(has(t, "call void @cuvirt.unsupported(ptr"));
  CHECK(has(t, "wgmma.mma_async.sync.aligned.m64n8k16.f32.f16.f16"));
}

TEST_CASE("texture and surface instructions become cuvirt.tex/txq/suld/sust/suq calls on the handle") {
  auto t = ir(R"(
.visible .entry k(.param .u64 p)
{
  .reg .b32 %r<12>;
  .reg .f32 %f<8>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [p];
  tex.2d.v4.f32.f32 {%f0,%f1,%f2,%f3}, [%rd1, {%f4,%f5}];
  tex.level.a2d.v4.s32.f32 {%r0,%r1,%r2,%r3}, [%rd1, {%r4,%f4,%f5,%f5}], %f6;
  tld4.g.2d.v4.f32.f32 {%f0,%f1,%f2,%f3}, [%rd1, {%f4,%f5}];
  txq.width.b32 %r5, [%rd1];
  suld.b.3d.v2.b32.zero {%r6,%r7}, [%rd1, {%r0,%r1,%r2,%r2}];
  sust.b.1d.b16.trap [%rd1, {%r0}], {%r6};
  suq.height.b32 %r8, [%rd1];
  ret;
}
)");
  CHECK(!has(t, "cuvirt.unsupported"));
  CHECK(has(t, "call void @cuvirt.tex(ptr"));
  CHECK(has(t, "i32 1, i32")); // op word of tex.2d.f32.f32: geometry 2d, nothing else
  CHECK(has(t, "call i32 @cuvirt.txq(i64"));
  CHECK(has(t, "call void @cuvirt.suld(ptr"));
  CHECK(has(t, "call void @cuvirt.sust(ptr"));
  CHECK(has(t, "call i32 @cuvirt.suq(i64"));
}

TEST_CASE("lowering errors: unknown opcodes and undefined names with line:col") {
  auto log = failure(".visible .entry k() {\n  .reg .b32 %r<2>;\n  frobnicate.u32 %r1, %r0;\n  ret;\n}\n");
  CHECK(has(log, "6:3:"));
  CHECK(has(log, "frobnicate.u32"));
  log = failure(".visible .entry k() {\n  .reg .b32 %r<2>;\n  add.u32 %r1, %r0, %nothere;\n}\n");
  CHECK(has(log, "undefined identifier '%nothere'"));
  log = failure(".visible .entry k() {\n  bra $Lmissing;\n}\n");
  CHECK(has(log, "undefined label"));
  log = failure(".visible .entry k() {\n  .reg .b32 %r<2>;\n  add.u32 %r1, %r5, 1;\n}\n");
  CHECK(has(log, "undefined identifier '%r5'")); // outside the declared range
  log = failure(".func f(.param .b32 a) { ret; }\n.visible .entry k() {\n  call.uni f, ();\n}\n");
  CHECK(has(log, "arguments"));
}

TEST_CASE("PTX 7.8+ qualifiers with :: and cache hints") {
  auto t = ir(R"(
.visible .entry k(.param .u64 p)
{
  .reg .b32 %r<4>;
  .reg .b64 %rd<4>;
  .shared .align 16 .b8 buf[64];
  ld.param.u64 %rd1, [p];
  createpolicy.fractional.L2::evict_last.b64 %rd2, 1.0;
  ld.global.nc.L1::no_allocate.L2::256B.v2.u32 {%r1, %r2}, [%rd1];
  ld.global.L2::cache_hint.u32 %r3, [%rd1+8], %rd2;
  mov.u32 %r0, buf;
  cp.async.cg.shared.global.L2::128B [%r0], [%rd1], 16;
  cp.async.ca.shared.global [%r0+16], [%rd1+16], 8, 4;
  cp.async.commit_group;
  cp.async.wait_group 0;
  st.shared::cta.u32 [%r0+32], %r3;
  fence.proxy.async.shared::cta;
  ret;
}
)");
  CHECK(has(t, "llvm.memcpy"));
  CHECK(has(t, "llvm.memset"));
}

TEST_CASE("shared offsets agree between a kernel and the functions it calls") {
  auto t = ir(R"(
.shared .align 4 .b8 first[8];
.shared .align 4 .b8 common[16];
.func f() { .reg .b32 %r<2>; mov.u32 %r1, common; st.shared.u32 [%r1], 1; ret; }
.visible .entry k() {
  .reg .b32 %r<3>;
  mov.u32 %r1, first;
  st.shared.u32 [%r1], 2;
  call.uni f;
  ret;
}
)");
  CHECK(has(t, "add i32 16, 0")); // first after the 16-byte common region
  CHECK(has(t, "add i32 0, 0"));  // common at 0 in f
}
