// Function addresses in module variables: `.global .u64 t[3] = {f0, f1, f2};`
// (and `.const`, the byte-mask form of a `.b8` array) must be callable
// function addresses before any kernel runs, equal to what `mov` of the
// function gives in a kernel, and stay callable when copied around. A
// kernel's address in a table (PTX allows kernel names in initialisers, for
// device-side launches) is its name, as `mov` of a kernel gives it.
#include "harness.h"

using namespace ptxg;

namespace {

const char *kTables = R"(
.func (.param .b32 rv) f0(.param .b32 v)
{
  .reg .b32 %r<4>;
  ld.param.b32 %r1, [v];
  mov.u32 %r2, %tid.x;
  mad.lo.u32 %r3, %r2, 3, %r1;
  st.param.b32 [rv], %r3;
  ret;
}
.func (.param .b32 rv) f1(.param .b32 v)
{
  .reg .b32 %r<4>;
  ld.param.b32 %r1, [v];
  mov.u32 %r2, %ctaid.x;
  mad.lo.u32 %r3, %r2, 1000, %r1;
  st.param.b32 [rv], %r3;
  ret;
}
.visible .func (.param .b32 rv) f2(.param .b32 v)
{
  .reg .b32 %r<4>;
  ld.param.b32 %r1, [v];
  mul.lo.u32 %r2, %r1, %r1;
  st.param.b32 [rv], %r2;
  ret;
}
.global .align 8 .u64 t[3] = {f0, f1, f2};
.const .align 8 .u64 ct[2] = {f2, f0};
.global .align 8 .b8 bt[16] = {0xFF(f1), 0xFF00(f1), 0xFF0000(f1), 0xFF000000(f1), 0xFF00000000(f1),
  0xFF0000000000(f1), 0xFF000000000000(f1), 0xFF00000000000000(f1), 7, 0, 0, 0, 0, 0, 0, 0};
.global .align 8 .u64 pt = t;
.global .align 8 .u64 kt[2] = {addrs, 0};

// out[g] = table[g % n](g), table = t (which 0), ct (1) or bt (2)
.visible .entry k(.param .u64 pout, .param .u64 pwhich)
{
  .reg .b32 %r<12>;
  .reg .b64 %rl<12>;
  .reg .pred %p<4>;
  mov.u32 %r1, %tid.x;
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mad.lo.u32 %r4, %r2, %r3, %r1;
  ld.param.u64 %rl1, [pwhich];
  setp.eq.u64 %p1, %rl1, 1;
  setp.eq.u64 %p2, %rl1, 2;
  @%p1 bra CONST;
  @%p2 bra BYTES;
  rem.u32 %r5, %r4, 3;
  mul.wide.u32 %rl2, %r5, 8;
  ld.global.u64 %rl9, [pt];
  add.u64 %rl3, %rl9, %rl2;
  ld.global.u64 %rl4, [%rl3];
  bra CALL;
CONST:
  rem.u32 %r5, %r4, 2;
  mul.wide.u32 %rl2, %r5, 8;
  mov.u64 %rl3, ct;
  add.u64 %rl3, %rl3, %rl2;
  ld.const.u64 %rl4, [%rl3];
  bra CALL;
BYTES:
  ld.global.u64 %rl4, [bt];
CALL:
  {
    .param .b32 a0;
    .param .b32 r0;
    st.param.b32 [a0], %r4;
    proto : .callprototype (.param .b32 _) _ (.param .b32 _);
    call (r0), %rl4, (a0), proto;
    ld.param.b32 %r6, [r0];
  }
  ld.param.u64 %rl5, [pout];
  mul.wide.u32 %rl6, %r4, 4;
  add.u64 %rl7, %rl5, %rl6;
  st.global.u32 [%rl7], %r6;
  ret;
}

// out[0..2] = mov of f0, f1, f2 (one function, one address)
.visible .entry addrs(.param .u64 pout)
{
  .reg .b64 %rl<6>;
  ld.param.u64 %rl1, [pout];
  mov.u64 %rl2, f0;
  st.global.u64 [%rl1], %rl2;
  mov.u64 %rl3, f1;
  st.global.u64 [%rl1+8], %rl3;
  mov.u64 %rl4, f2;
  st.global.u64 [%rl1+16], %rl4;
  ret;
}

// out[0] = the 8 bytes at kt[0] (a kernel's address: its name)
.visible .entry kname(.param .u64 pout)
{
  .reg .b64 %rl<4>;
  ld.param.u64 %rl1, [pout];
  ld.global.u64 %rl2, [kt];
  ld.u64 %rl3, [%rl2];
  st.global.u64 [%rl1], %rl3;
  ret;
}
)";

uint32_t model(unsigned fn, uint32_t g, unsigned tx, unsigned bx) {
  switch (fn) {
  case 0:
    return g + tx * 3;
  case 1:
    return g + bx * 1000;
  default:
    return g * g;
  }
}

std::vector<uint64_t> readGlobal(CUmodule mod, const char *name, size_t n) {
  CUdeviceptr p = 0;
  size_t bytes = 0;
  REQUIRE(cuModuleGetGlobal(&p, &bytes, mod, name) == CUDA_SUCCESS);
  REQUIRE(bytes >= n * 8);
  std::vector<uint64_t> v(n);
  REQUIRE(cuMemcpyDtoH(v.data(), p, n * 8) == CUDA_SUCCESS);
  return v;
}

void run(const Module &m, unsigned which, const unsigned *fnOf, unsigned n) {
  constexpr unsigned bx = 48, blocks = 2, threads = bx * blocks;
  DevBuf out(threads * 4);
  CUfunction fn = m.fn("k");
  uint64_t which64 = which;
  void *args[] = {&out.p, &which64};
  REQUIRE(cuLaunchKernel(fn, blocks, 1, 1, bx, 1, 1, 0, nullptr, args, nullptr) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
  auto o = out.get<uint32_t>(threads);
  for (unsigned g = 0; g < threads; ++g)
    CHECK_MESSAGE(o[g] == model(fnOf[g % n], g, g % bx, g / bx), "table ", which, " thread ", g);
}

} // namespace

TEST_CASE("function addresses in .global/.const initialisers are callable and equal to mov's") {
  useContext();
  Module m(std::string(kHeader) + kTables);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  // Before any kernel ran, as the host sees them.
  auto t = readGlobal(m.mod, "t", 3);
  auto ct = readGlobal(m.mod, "ct", 2);
  auto bt = readGlobal(m.mod, "bt", 2);
  INFO("t = ", hex(t[0]), " ", hex(t[1]), " ", hex(t[2]));
  CHECK(t[0] != 0);
  CHECK(t[1] != 0);
  CHECK(t[2] != 0);
  CHECK(t[0] != t[1]);
  CHECK(t[1] != t[2]);
  CHECK(ct[0] == t[2]);
  CHECK(ct[1] == t[0]);
  CHECK(bt[0] == t[1]); // byte-mask form
  CHECK(bt[1] == 7);

  const unsigned tFns[] = {0, 1, 2}, ctFns[] = {2, 0}, btFns[] = {1};
  run(m, 0, tFns, 3);
  run(m, 1, ctFns, 2);
  run(m, 2, btFns, 1);

  DevBuf addrs(24);
  REQUIRE(launch(m.fn("addrs"), Dims{}, {addrs.p}) == CUDA_SUCCESS);
  auto a = addrs.get<uint64_t>(3);
  CHECK(a[0] == t[0]);
  CHECK(a[1] == t[1]);
  CHECK(a[2] == t[2]);

  // A kernel's address in a table: its NUL-terminated name, which the
  // device runtime's launches resolve.
  DevBuf name(8);
  REQUIRE(launch(m.fn("kname"), Dims{}, {name.p}) == CUDA_SUCCESS);
  auto text = name.get<char>(8);
  CHECK(std::string(text.data(), 6) == std::string("addrs\0", 6));

  // Written back reversed from the host: still callable, in the new order.
  CUdeviceptr tp = 0;
  REQUIRE(cuModuleGetGlobal(&tp, nullptr, m.mod, "t") == CUDA_SUCCESS);
  const uint64_t rev[3] = {t[2], t[1], t[0]};
  REQUIRE(cuMemcpyHtoD(tp, rev, sizeof rev) == CUDA_SUCCESS);
  const unsigned revFns[] = {2, 1, 0};
  run(m, 0, revFns, 3);
}

TEST_CASE("a variable holding another variable's address, without function tables, is unchanged") {
  useContext();
  Module m(std::string(kHeader) + R"(
.global .align 8 .u64 v = 5;
.global .align 8 .u64 pv = v;
.visible .entry k(.param .u64 pout)
{
  .reg .b64 %rl<4>;
  ld.param.u64 %rl1, [pout];
  ld.global.u64 %rl2, [pv];
  ld.u64 %rl3, [%rl2];
  st.global.u64 [%rl1], %rl3;
  ret;
}
)");
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  DevBuf out(8);
  REQUIRE(launch(m.fn(), Dims{}, {out.p}) == CUDA_SUCCESS);
  CHECK(out.get<uint64_t>(1)[0] == 5);
}
