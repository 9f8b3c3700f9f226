// Calls: recursive and indirect .func calls reading special registers (kept
// out of line by the CPU JIT), a call with a result to an external function
// defined without one in another linked unit, and what must stay refused.
#include "harness.h"
#include <cstdio>
#include <unistd.h>

using namespace ptxg;

namespace {

/// rec(d) recurses d levels and, at the bottom, writes the thread's special
/// registers to out[g * 12 ...] (g = the global thread index); it returns
/// d * tid.x. The kernel calls it with d = tid.x % 5 and stores the result.
const char *kRecursive = R"(
.func (.param .b32 rv) rec(.param .b32 d, .param .b64 o)
{
  .reg .b32 %r<24>;
  .reg .b64 %rl<4>;
  .reg .pred %p<2>;
  ld.param.b32 %r1, [d];
  ld.param.b64 %rl1, [o];
  setp.eq.u32 %p1, %r1, 0;
  @%p1 bra BOTTOM;
  sub.u32 %r2, %r1, 1;
  {
    .param .b32 a0;
    .param .b64 a1;
    .param .b32 r0;
    st.param.b32 [a0], %r2;
    st.param.b64 [a1], %rl1;
    call.uni (r0), rec, (a0, a1);
    ld.param.b32 %r3, [r0];
  }
  mov.u32 %r4, %tid.x;
  add.u32 %r3, %r3, %r4;
  st.param.b32 [rv], %r3;
  ret;
BOTTOM:
  mov.u32 %r5, %tid.x;
  mov.u32 %r6, %tid.y;
  mov.u32 %r7, %ctaid.x;
  mov.u32 %r8, %ntid.x;
  mov.u32 %r9, %nctaid.x;
  mov.u32 %r10, %laneid;
  mov.u32 %r11, %lanemask_lt;
  mov.u32 %r12, %lanemask_ge;
  mov.u32 %r13, %dynamic_smem_size;
  mov.u32 %r14, %envreg1;
  mov.u32 %r15, %ntid.y;
  st.global.u32 [%rl1], %r5;
  st.global.u32 [%rl1+4], %r6;
  st.global.u32 [%rl1+8], %r7;
  st.global.u32 [%rl1+12], %r8;
  st.global.u32 [%rl1+16], %r9;
  st.global.u32 [%rl1+20], %r10;
  st.global.u32 [%rl1+24], %r11;
  st.global.u32 [%rl1+28], %r12;
  st.global.u32 [%rl1+32], %r13;
  st.global.u32 [%rl1+36], %r14;
  st.global.u32 [%rl1+40], %r15;
  mov.u32 %r16, 0;
  st.param.b32 [rv], %r16;
  ret;
}

.visible .entry k(.param .u64 pout, .param .u64 pres)
{
  .reg .b32 %r<16>;
  .reg .b64 %rl<8>;
  mov.u32 %r1, %tid.x;
  mov.u32 %r2, %tid.y;
  mov.u32 %r3, %ntid.x;
  mad.lo.u32 %r4, %r2, %r3, %r1;
  mov.u32 %r5, %ntid.y;
  mul.lo.u32 %r6, %r3, %r5;
  mov.u32 %r7, %ctaid.x;
  mad.lo.u32 %r8, %r7, %r6, %r4;
  ld.param.u64 %rl1, [pout];
  ld.param.u64 %rl2, [pres];
  mul.wide.u32 %rl3, %r8, 48;
  add.u64 %rl4, %rl1, %rl3;
  rem.u32 %r9, %r1, 5;
  {
    .param .b32 a0;
    .param .b64 a1;
    .param .b32 r0;
    st.param.b32 [a0], %r9;
    st.param.b64 [a1], %rl4;
    call.uni (r0), rec, (a0, a1);
    ld.param.b32 %r10, [r0];
  }
  mul.wide.u32 %rl5, %r8, 4;
  add.u64 %rl6, %rl2, %rl5;
  st.global.u32 [%rl6], %r10;
  ret;
}
)";

/// An indirect call through a prototype to a .func that reads %tid.x and
/// %ctaid.x: out[g] = f(g) with f chosen by g's parity.
const char *kIndirect = R"(
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
.visible .entry k(.param .u64 pout)
{
  .reg .b32 %r<8>;
  .reg .b64 %rl<8>;
  .reg .pred %p<2>;
  mov.u32 %r1, %tid.x;
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mad.lo.u32 %r4, %r2, %r3, %r1;
  and.b32 %r5, %r4, 1;
  setp.eq.u32 %p1, %r5, 0;
  mov.u64 %rl1, f0;
  mov.u64 %rl2, f1;
  selp.b64 %rl3, %rl1, %rl2, %p1;
  {
    .param .b32 a0;
    .param .b32 r0;
    st.param.b32 [a0], %r4;
    proto : .callprototype (.param .b32 _) _ (.param .b32 _);
    call (r0), %rl3, (a0), proto;
    ld.param.b32 %r6, [r0];
  }
  ld.param.u64 %rl4, [pout];
  mul.wide.u32 %rl5, %r4, 4;
  add.u64 %rl6, %rl4, %rl5;
  st.global.u32 [%rl6], %r6;
  ret;
}
)";

/// A warp shuffle in a recursive function: cannot run one thread at a time.
const char *kRecursiveShfl = R"(
.func (.param .b32 rv) shuffled(.param .b32 d)
{
  .reg .b32 %r<8>;
  .reg .pred %p<2>;
  ld.param.b32 %r1, [d];
  setp.eq.u32 %p1, %r1, 0;
  @%p1 bra DONE;
  sub.u32 %r2, %r1, 1;
  {
    .param .b32 a0;
    .param .b32 r0;
    st.param.b32 [a0], %r2;
    call.uni (r0), shuffled, (a0);
    ld.param.b32 %r1, [r0];
  }
DONE:
  shfl.sync.bfly.b32 %r3, %r1, 1, 31, -1;
  st.param.b32 [rv], %r3;
  ret;
}
.visible .entry k(.param .u64 pout)
{
  .reg .b32 %r<4>;
  .reg .b64 %rl<4>;
  mov.u32 %r1, %tid.x;
  {
    .param .b32 a0;
    .param .b32 r0;
    st.param.b32 [a0], %r1;
    call.uni (r0), shuffled, (a0);
    ld.param.b32 %r2, [r0];
  }
  ld.param.u64 %rl1, [pout];
  st.global.u32 [%rl1], %r2;
  ret;
}
)";

/// numba's C-ABI shape: one unit declares `consume` with a .b64 result and
/// takes it; the unit that defines `consume` gives none. ptxas compiles each
/// unit against its own declaration and the linker compares no results.
const char *kCallerUnit = R"(
.extern .func (.param .b64 func_retval0) consume(.param .b64 p);
.visible .entry k(.param .u64 pout)
{
  .reg .b32 %r<4>;
  .reg .b64 %rl<8>;
  mov.u32 %r1, %tid.x;
  ld.param.u64 %rl1, [pout];
  mul.wide.u32 %rl2, %r1, 4;
  add.u64 %rl3, %rl1, %rl2;
  {
    .param .b64 param0;
    st.param.b64 [param0], %rl3;
    .param .b64 retval0;
    call.uni (retval0), consume, (param0);
    ld.param.b64 %rl4, [retval0];
  }
  ret;
}
)";
const char *kCalleeUnit = R"(
.visible .func consume(.param .b64 p)
{
  .reg .b32 %r<2>;
  .reg .b64 %rl<2>;
  ld.param.b64 %rl1, [p];
  mov.u32 %r1, 42;
  st.global.u32 [%rl1], %r1;
  ret;
}
)";

/// Loads `ptx` and launches k(pout) on one warp, expecting it to fail: the
/// error and its message, from the load's log or (kernels compile at their
/// first launch) from what the launch wrote to stderr.
std::pair<CUresult, std::string> failingLaunch(const std::string &ptx) {
  Module m(ptx);
  if (m.status != CUDA_SUCCESS)
    return {m.status, m.log};
  DevBuf out(32 * 4);
  Dims d;
  d.bx = 32;
  std::fflush(stderr);
  FILE *tmp = std::tmpfile();
  REQUIRE(tmp);
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  CUfunction fn = nullptr;
  CUresult st = cuModuleGetFunction(&fn, m.mod, "k");
  if (st == CUDA_SUCCESS)
    st = launch(fn, d, {out.p});
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  std::string text;
  std::rewind(tmp);
  for (int c; (c = std::fgetc(tmp)) != EOF;)
    text += char(c);
  std::fclose(tmp);
  return {st, text};
}

} // namespace

TEST_CASE("recursive .func reads the calling thread's special registers") {
  useContext();
  Module m(std::string(kHeader) + kRecursive);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  constexpr unsigned bx = 40, by = 2, blocks = 3, n = bx * by * blocks;
  DevBuf out(n * 48), res(n * 4);
  Dims d;
  d.gx = blocks;
  d.bx = bx;
  d.by = by;
  d.shared = 96; // %dynamic_smem_size
  REQUIRE(launch(m.fn(), d, {out.p, res.p}) == CUDA_SUCCESS);
  auto o = out.get<uint32_t>(n * 12);
  auto r = res.get<uint32_t>(n);
  for (unsigned g = 0; g < n; ++g) {
    unsigned t = g % (bx * by), tx = t % bx, ty = t / bx, b = g / (bx * by), lane = t % 32;
    const uint32_t *v = &o[g * 12];
    INFO("thread ", g);
    CHECK(v[0] == tx);
    CHECK(v[1] == ty);
    CHECK(v[2] == b);
    CHECK(v[3] == bx);
    CHECK(v[4] == blocks);
    CHECK(v[5] == lane);
    CHECK(v[6] == (1u << lane) - 1);
    CHECK(v[7] == ~((1u << lane) - 1));
    CHECK(v[8] == 96);
    CHECK(v[9] == 0); // %envreg1 outside a cooperative launch
    CHECK(v[10] == by);
    CHECK(r[g] == (tx % 5) * tx);
  }
}

TEST_CASE("indirect call through a prototype to .funcs reading special registers") {
  useContext();
  Module m(std::string(kHeader) + kIndirect);
  REQUIRE_MESSAGE(m.status == CUDA_SUCCESS, m.log);
  constexpr unsigned bx = 48, blocks = 2, n = bx * blocks;
  DevBuf out(n * 4);
  Dims d;
  d.gx = blocks;
  d.bx = bx;
  REQUIRE(launch(m.fn(), d, {out.p}) == CUDA_SUCCESS);
  auto o = out.get<uint32_t>(n);
  for (unsigned g = 0; g < n; ++g) {
    unsigned tx = g % bx, b = g / bx;
    CHECK_MESSAGE(o[g] == (g % 2 == 0 ? g + tx * 3 : g + b * 1000), "thread ", g);
  }
}

TEST_CASE("a warp collective in a recursive .func: NOT_SUPPORTED naming the function") {
  useContext();
  auto [st, log] = failingLaunch(std::string(kHeader) + kRecursiveShfl);
  CHECK(st == CUDA_ERROR_NOT_SUPPORTED);
  INFO("log: ", log);
  CHECK(log.find("barrier or warp collective in function shuffled") != std::string::npos);
}

TEST_CASE("call with a result to an external .func defined without one (linked units)") {
  useContext();
  char err[4096] = "";
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[] = {err, reinterpret_cast<void *>(sizeof err)};
  CUlinkState link = nullptr;
  REQUIRE(cuLinkCreate(2, opts, vals, &link) == CUDA_SUCCESS);
  std::string a = std::string(kHeader) + kCallerUnit, b = std::string(kHeader) + kCalleeUnit;
  REQUIRE_MESSAGE(cuLinkAddData(link, CU_JIT_INPUT_PTX, a.data(), a.size() + 1, "caller.ptx", 0, nullptr,
                                nullptr) == CUDA_SUCCESS,
                  err);
  REQUIRE_MESSAGE(cuLinkAddData(link, CU_JIT_INPUT_PTX, b.data(), b.size() + 1, "callee.ptx", 0, nullptr,
                                nullptr) == CUDA_SUCCESS,
                  err);
  void *image = nullptr;
  size_t size = 0;
  REQUIRE_MESSAGE(cuLinkComplete(link, &image, &size) == CUDA_SUCCESS, err);
  CUmodule mod = nullptr;
  char log[4096] = "";
  void *lvals[] = {log, reinterpret_cast<void *>(sizeof log)};
  CUresult st = cuModuleLoadDataEx(&mod, image, 2, opts, lvals);
  REQUIRE(cuLinkDestroy(link) == CUDA_SUCCESS);
  REQUIRE_MESSAGE(st == CUDA_SUCCESS, log);
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod, "k") == CUDA_SUCCESS);
  DevBuf out(64 * 4);
  Dims d;
  d.bx = 64;
  CHECK(launch(fn, d, {out.p}) == CUDA_SUCCESS);
  for (uint32_t v : out.get<uint32_t>(64))
    CHECK(v == 42);
  CHECK(cuModuleUnload(mod) == CUDA_SUCCESS);
}

TEST_CASE("a call's results must still match an internal .func of the same module") {
  useContext();
  std::string ptx = std::string(kHeader) + R"(
.func quiet(.param .b32 a)
{
  ret;
}
.visible .entry k(.param .u64 pout)
{
  .reg .b32 %r<2>;
  {
    .param .b32 a0;
    .param .b32 r0;
    st.param.b32 [a0], 1;
    call.uni (r0), quiet, (a0);
    ld.param.b32 %r1, [r0];
  }
  ret;
}
)";
  auto [st, log] = failingLaunch(ptx);
  CHECK(st == CUDA_ERROR_INVALID_PTX);
  INFO("log: ", log);
  CHECK(log.find("call to 'quiet' with 1 arguments and 1 results, expected 1 and 0") != std::string::npos);
}
