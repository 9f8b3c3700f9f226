// Runs lowered kernels for one thread with ORC, the cuvirt.* calls bound to
// small host functions, and checks results against PTX semantics computed by
// hand. This is what catches wrong (but verifying) IR.
#include "tests/unit/ptx/corpus_files.h"
#include "tests/unit/ptx/lower_util.h"
#include <cmath>
#include <cstring>
#include <doctest.h>
#include <fstream>
#include <llvm/ExecutionEngine/Orc/AbsoluteSymbols.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/TargetSelect.h>
#include <map>
#include <memory>
#include <sstream>
#include <vector>

using namespace cuvirt;

namespace {

std::uint32_t gTid = 0;
std::uint8_t gShared[1024];
std::uint8_t gDynShared[1024];
int gTraps = 0;
extern "C" {
std::uint32_t hostTid() { return gTid; }
std::uint32_t hostOne() { return 1; }
std::uint32_t hostZero() { return 0; }
void *hostShared() { return gShared; }
void *hostDynShared() { return gDynShared; }
void hostBarrier(std::uint32_t, std::uint32_t) {}
void hostTrap() { ++gTraps; }
void hostFence(std::uint32_t) {}
}

/// Lowers and runs kernel `name` with the given parameter pointers; returns false on failure.
bool run(std::string_view body, const char *name, std::vector<void *> params, std::string &log,
         std::vector<std::pair<std::string, void *>> globals = {}) {
  static bool init = [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    return true;
  }();
  (void)init;
  auto ctx = std::make_unique<llvm::LLVMContext>();
  ptx::TargetHooks hooks;
  std::string text = body.rfind(".version", 0) == 0 || body.rfind("//", 0) == 0
                         ? std::string(body)
                         : ".version 8.5\n.target sm_80\n.address_size 64\n" + std::string(body);
  auto lowered = ptx::lower(text, *ctx, hooks, log);
  if (!lowered.ok())
    return false;
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit) {
    log += llvm::toString(jit.takeError());
    return false;
  }
  auto &J = **jit;
  auto mod = std::move(lowered->module);
  mod->setDataLayout(J.getDataLayout());
  mod->setTargetTriple(J.getTargetTriple());
  llvm::orc::MangleAndInterner mangle(J.getExecutionSession(), J.getDataLayout());
  llvm::orc::SymbolMap syms;
  auto bind = [&](const std::string &n, void *p) {
    syms[mangle(n)] = {llvm::orc::ExecutorAddr::fromPtr(p), llvm::JITSymbolFlags::Exported};
  };
  bind("cuvirt.tid.x", (void *)&hostTid);
  for (const char *n : {"cuvirt.ntid.x", "cuvirt.ntid.y", "cuvirt.ntid.z", "cuvirt.nctaid.x",
                        "cuvirt.nctaid.y", "cuvirt.nctaid.z"})
    bind(n, (void *)&hostOne);
  for (const char *n : {"cuvirt.tid.y", "cuvirt.tid.z", "cuvirt.ctaid.x", "cuvirt.ctaid.y", "cuvirt.ctaid.z",
                        "cuvirt.laneid", "cuvirt.warpid"})
    bind(n, (void *)&hostZero);
  bind("cuvirt.shared.base", (void *)&hostShared);
  bind("cuvirt.dynshared.base", (void *)&hostDynShared);
  bind("cuvirt.barrier", (void *)&hostBarrier);
  bind("cuvirt.trap", (void *)&hostTrap);
  bind("cuvirt.fence", (void *)&hostFence);
  for (auto &[n, p] : globals)
    bind(n, p);
  // module variables: allocated and initialised from ModuleInfo, as the runtime does
  static std::vector<std::unique_ptr<std::uint8_t[]>> storage;
  std::map<std::string, std::uint8_t *> addr;
  for (auto &g : lowered->info.globals) {
    if (g.isExtern)
      continue;
    storage.push_back(std::make_unique<std::uint8_t[]>(g.size + 16));
    std::uint8_t *mem = storage.back().get();
    std::memset(mem, 0, g.size);
    std::memcpy(mem, g.init.data(), std::min<std::size_t>(g.init.size(), g.size));
    addr[g.name] = mem;
    bind(g.name, mem);
  }
  for (auto &g : lowered->info.globals)
    for (auto &r : g.relocations)
      if (addr.count(g.name) && addr.count(r.symbol)) {
        std::uint64_t v = reinterpret_cast<std::uint64_t>(addr[r.symbol]) + std::uint64_t(r.addend);
        std::memcpy(addr[g.name] + r.offset, &v, 8);
      }
  if (auto e = J.getMainJITDylib().define(llvm::orc::absoluteSymbols(std::move(syms)))) {
    log += llvm::toString(std::move(e));
    return false;
  }
  if (auto e = J.addIRModule(llvm::orc::ThreadSafeModule(std::move(mod), std::move(ctx)))) {
    log += llvm::toString(std::move(e));
    return false;
  }
  auto sym = J.lookup(name);
  if (!sym) {
    log += llvm::toString(sym.takeError());
    return false;
  }
  sym->toPtr<void (*)(void **)>()(params.data());
  return true;
}

/// A kernel `k(.param .u64 out)` whose body stores results to out[0..].
template <class T> std::vector<T> runOut(std::string_view body, std::size_t n) {
  std::vector<T> out(n, T(0x5A));
  void *outPtr = out.data();
  std::string src = ".visible .entry k(.param .u64 out)\n{\n .reg .pred %p<8>;\n .reg .b16 %h<8>;\n"
                    " .reg .b32 %r<40>;\n .reg .b64 %rd<20>;\n .reg .f32 %f<20>;\n .reg .f64 %fd<8>;\n"
                    " ld.param.u64 %rd0, [out];\n" +
                    std::string(body) + "\n ret;\n}\n";
  std::string log;
  bool ok = run(src, "k", {&outPtr}, log);
  INFO(log);
  REQUIRE(ok);
  return out;
}

} // namespace

TEST_CASE("exec: bit manipulation (prmt, bfe, bfi, lop3, shf, bfind, fns, clz, brev, popc)") {
  auto o = runOut<std::uint32_t>(R"(
  prmt.b32 %r1, 0x03020100, 0x07060504, 0x0123;   st.global.u32 [%rd0], %r1;
  prmt.b32 %r1, 0x03020180, 0x07060504, 0x4448;   st.global.u32 [%rd0+4], %r1;
  prmt.b32.f4e %r1, 0x03020100, 0x07060504, 1;    st.global.u32 [%rd0+8], %r1;
  prmt.b32.b4e %r1, 0x03020100, 0x07060504, 1;    st.global.u32 [%rd0+12], %r1;
  prmt.b32.ecl %r1, 0x03020100, 0x07060504, 2;    st.global.u32 [%rd0+16], %r1;
  prmt.b32.ecr %r1, 0x03020100, 0x07060504, 2;    st.global.u32 [%rd0+20], %r1;
  prmt.b32.rc16 %r1, 0x03020100, 0x07060504, 1;   st.global.u32 [%rd0+24], %r1;
  bfe.u32 %r1, 0xF0F0F0F0, 4, 8;                  st.global.u32 [%rd0+28], %r1;
  bfe.s32 %r1, 0x00000F00, 8, 4;                  st.global.u32 [%rd0+32], %r1;
  bfe.u32 %r1, 0xFFFFFFFF, 40, 8;                 st.global.u32 [%rd0+36], %r1;
  bfi.b32 %r1, 0xFF, 0, 4, 4;                     st.global.u32 [%rd0+40], %r1;
  lop3.b32 %r1, 12, 10, 6, 0xE8;                  st.global.u32 [%rd0+44], %r1;
  shf.l.wrap.b32 %r1, 0x80000000, 1, 33;          st.global.u32 [%rd0+48], %r1;
  shf.r.clamp.b32 %r1, 2, 1, 40;                  st.global.u32 [%rd0+52], %r1;
  bfind.u32 %r1, 0x00010000;                      st.global.u32 [%rd0+56], %r1;
  bfind.shiftamt.u32 %r1, 0x00010000;             st.global.u32 [%rd0+60], %r1;
  bfind.u32 %r1, 0;                               st.global.u32 [%rd0+64], %r1;
  bfind.s32 %r1, -2;                              st.global.u32 [%rd0+68], %r1;
  fns.b32 %r1, 22, 0, 3;                          st.global.u32 [%rd0+72], %r1;
  fns.b32 %r1, 22, 4, -2;                         st.global.u32 [%rd0+76], %r1;
  fns.b32 %r1, 22, 0, 4;                          st.global.u32 [%rd0+80], %r1;
  clz.b32 %r1, 1;                                 st.global.u32 [%rd0+84], %r1;
  brev.b32 %r1, 1;                                st.global.u32 [%rd0+88], %r1;
  mov.b64 %rd1, 0xF0F0F0F0F0F0F0F0;
  popc.b64 %r1, %rd1;                             st.global.u32 [%rd0+92], %r1;
  dp4a.s32.s32 %r1, 0x01020304, 0xFF010101, 10;   st.global.u32 [%rd0+96], %r1;
  cnot.b32 %r1, 0;                                st.global.u32 [%rd0+100], %r1;
  vabsdiff4.u32.u32.u32.add %r1, 0x01050A00, 0x03010A05, 1; st.global.u32 [%rd0+104], %r1;
  bmsk.clamp.b32 %r1, 4, 8;                       st.global.u32 [%rd0+108], %r1;
  bmsk.wrap.b32 %r1, 36, 36;                      st.global.u32 [%rd0+112], %r1;
  szext.clamp.s32 %r1, 0x000000F0, 8;             st.global.u32 [%rd0+116], %r1;
  szext.wrap.u32 %r1, 0xFFFFFFF0, 36;             st.global.u32 [%rd0+120], %r1;
  szext.clamp.s32 %r1, 0x80000000, 40;            st.global.u32 [%rd0+124], %r1;
)",
                                 32);
  CHECK(o[0] == 0x00010203u);
  CHECK(o[1] == 0x04040400u + 0xFFu); // selector 8: sign of byte 0 (0x80) replicated
  CHECK(o[2] == 0x04030201u);         // f4e shift 1: bytes 1,2,3,4
  CHECK(o[3] == 0x06070001u);         // b4e shift 1: bytes 1,0,7,6
  CHECK(o[4] == 0x03020202u);         // ecl 2: max(i, 2)
  CHECK(o[5] == 0x02020100u);         // ecr 2: min(i, 2)
  CHECK(o[6] == 0x03020302u);         // rc16 1: bytes 2,3,2,3
  CHECK(o[7] == 0x0Fu);
  CHECK(o[8] == 0xFFFFFFFFu);
  CHECK(o[9] == 0u);
  CHECK(o[10] == 0xF0u);
  CHECK(o[11] == 14u);
  CHECK(o[12] == 3u); // wrap: 33 & 31 = 1
  CHECK(o[13] == 1u); // clamp: 32 -> the high word
  CHECK(o[14] == 16u);
  CHECK(o[15] == 15u);
  CHECK(o[16] == 0xFFFFFFFFu);
  CHECK(o[17] == 0u);
  CHECK(o[18] == 4u); // mask 0b10110: 3rd set bit from 0
  CHECK(o[19] == 2u); // 2nd set bit going down from 4
  CHECK(o[20] == 0xFFFFFFFFu);
  CHECK(o[21] == 31u);
  CHECK(o[22] == 0x80000000u);
  CHECK(o[23] == 32u);
  CHECK(o[24] == 18u);
  CHECK(o[25] == 1u);
  CHECK(o[26] == 2u + 4u + 0u + 5u + 1u);
  CHECK(o[27] == 0xFF0u);      // 8 ones at bit 4
  CHECK(o[28] == 0xF0u);       // wrap: 4 ones at bit 4
  CHECK(o[29] == 0xFFFFFFF0u); // 0xF0 sign-extended from 8 bits
  CHECK(o[30] == 0u);          // wrap 36 -> the low 4 bits of 0x...F0
  CHECK(o[31] == 0x80000000u); // clamp 40 -> all 32 bits: unchanged
}

TEST_CASE("exec: integer arithmetic edge cases (div by zero, shifts, carries, wide/hi, sat)") {
  auto o = runOut<std::uint32_t>(R"(
  div.u32 %r1, 7, 0;                st.global.u32 [%rd0], %r1;
  rem.u32 %r1, 7, 0;                st.global.u32 [%rd0+4], %r1;
  mov.u32 %r2, 0x80000000;
  div.s32 %r1, %r2, -1;             st.global.u32 [%rd0+8], %r1;
  rem.s32 %r1, -7, 2;               st.global.u32 [%rd0+12], %r1;
  shl.b32 %r1, 1, 33;               st.global.u32 [%rd0+16], %r1;
  shr.s32 %r1, -8, 40;              st.global.u32 [%rd0+20], %r1;
  shr.u32 %r1, 0x80000000, 31;      st.global.u32 [%rd0+24], %r1;
  add.cc.u32 %r1, 0xFFFFFFFF, 1;
  addc.u32 %r3, 0, 0;               st.global.u32 [%rd0+28], %r1;  st.global.u32 [%rd0+32], %r3;
  sub.cc.u32 %r1, 0, 1;
  subc.u32 %r3, 5, 1;               st.global.u32 [%rd0+36], %r3;
  mul.hi.s32 %r1, -1, 1;            st.global.u32 [%rd0+40], %r1;
  mul.hi.u32 %r1, 0x80000000, 4;    st.global.u32 [%rd0+44], %r1;
  mul.wide.u32 %rd1, 0xFFFFFFFF, 2;
  shr.u64 %rd2, %rd1, 32;
  cvt.u32.u64 %r1, %rd2;            st.global.u32 [%rd0+48], %r1;
  add.sat.s32 %r1, 0x7FFFFFFF, 5;   st.global.u32 [%rd0+52], %r1;
  mul24.lo.u32 %r1, 0x01000003, 2;  st.global.u32 [%rd0+56], %r1;
  sad.s32 %r1, -3, 4, 100;          st.global.u32 [%rd0+60], %r1;
  min.s32 %r1, -3, 4;               st.global.u32 [%rd0+64], %r1;
  max.u32 %r1, -3, 4;               st.global.u32 [%rd0+68], %r1;
  abs.s32 %r1, -9;                  st.global.u32 [%rd0+72], %r1;
  mad.lo.cc.u32 %r1, 0x80000000, 2, 5;
  madc.hi.u32 %r3, 0x80000000, 2, 0; st.global.u32 [%rd0+76], %r3;
  add.u16x2 %r1, 0x0001FFFF, 0x00010001; st.global.u32 [%rd0+80], %r1;
  max.s16x2 %r1, 0xFFFF0005, 0x00010003; st.global.u32 [%rd0+84], %r1;
  mov.b64 %rd3, {%r2, %r1};
  mov.b64 {%r4, %r5}, %rd3;         st.global.u32 [%rd0+88], %r5;
)",
                                 23);
  CHECK(o[0] == 0xFFFFFFFFu);
  CHECK(o[1] == 7u);
  CHECK(o[2] == 0x80000000u);
  CHECK(std::int32_t(o[3]) == -1);
  CHECK(o[4] == 0u);
  CHECK(o[5] == 0xFFFFFFFFu);
  CHECK(o[6] == 1u);
  CHECK(o[7] == 0u);
  CHECK(o[8] == 1u);
  CHECK(o[9] == 3u); // 5 - (1 + borrow)
  CHECK(o[10] == 0xFFFFFFFFu);
  CHECK(o[11] == 2u);
  CHECK(o[12] == 1u);
  CHECK(o[13] == 0x7FFFFFFFu);
  CHECK(o[14] == 6u);
  CHECK(o[15] == 107u);
  CHECK(std::int32_t(o[16]) == -3);
  CHECK(o[17] == 0xFFFFFFFDu);
  CHECK(o[18] == 9u);
  CHECK(o[19] == 1u); // hi(2^32) = 1; the low part 0 + 5 carries nothing
  CHECK(o[20] == 0x00020000u);
  CHECK(o[21] == 0x00010005u);
  CHECK(o[22] == o[21]);
}

TEST_CASE("exec: conversions with rounding and saturation") {
  auto o = runOut<std::int32_t>(R"(
  cvt.rni.s32.f32 %r1, 0f40200000;  st.global.s32 [%rd0], %r1;
  cvt.rzi.s32.f32 %r1, 0fC02CCCCD;  st.global.s32 [%rd0+4], %r1;
  cvt.rmi.s32.f32 %r1, 0fC02CCCCD;  st.global.s32 [%rd0+8], %r1;
  cvt.rpi.s32.f32 %r1, 0fC02CCCCD;  st.global.s32 [%rd0+12], %r1;
  cvt.sat.u8.s32 %r1, 300;          st.global.s32 [%rd0+16], %r1;
  cvt.sat.s8.s32 %r1, -300;         st.global.s32 [%rd0+20], %r1;
  cvt.rzi.s32.f32 %r1, 0f7FC00000;  st.global.s32 [%rd0+24], %r1;
  cvt.rzi.s32.f32 %r1, 0f501502F9;  st.global.s32 [%rd0+28], %r1;
  cvt.rzi.u32.f32 %r1, 0fBF800000;  st.global.s32 [%rd0+32], %r1;
  cvt.s32.s8 %r1, 0x1FF;            st.global.s32 [%rd0+36], %r1;
  cvt.u32.u16 %r1, 0x12345;         st.global.s32 [%rd0+40], %r1;
  cvt.rn.f32.s32 %f1, -7;
  cvt.rzi.s32.f32 %r1, %f1;         st.global.s32 [%rd0+44], %r1;
  cvt.sat.f32.f32 %f1, 0f40000000;
  mov.b32 %r1, %f1;                 st.global.s32 [%rd0+48], %r1;
  cvt.rn.f16.f32 %h1, 0f3FC00000;
  cvt.f32.f16 %f2, %h1;
  add.rn.f16 %h2, %h1, %h1;
  cvt.f32.f16 %f3, %h2;
  add.f32 %f2, %f2, %f3;
  cvt.rzi.s32.f32 %r1, %f2;         st.global.s32 [%rd0+52], %r1;
  cvt.rn.f16x2.f32 %r2, 0f40000000, 0f3F800000;
  st.global.s32 [%rd0+56], %r2;
  cvt.rni.f64.f64 %fd1, 0d4004000000000000;
  cvt.rzi.s32.f64 %r1, %fd1;        st.global.s32 [%rd0+60], %r1;
)",
                                16);
  CHECK(o[0] == 2);
  CHECK(o[1] == -2);
  CHECK(o[2] == -3);
  CHECK(o[3] == -2);
  CHECK(o[4] == 255);
  CHECK(o[5] == -128);
  CHECK(o[6] == 0);
  CHECK(o[7] == 0x7FFFFFFF);
  CHECK(o[8] == 0);
  CHECK(o[9] == -1);
  CHECK(o[10] == 0x2345);
  CHECK(o[11] == -7);
  CHECK(o[12] == 0x3F800000);
  CHECK(o[13] == 4);                          // 1.5 + 3.0
  CHECK(std::uint32_t(o[14]) == 0x40003C00u); // {2.0 high, 1.0 low}
  CHECK(o[15] == 2);                          // 2.5 rounds to even
}

// Default hooks (no TargetHooks::directedOp): directed rounding goes through
// the out-of-line strictfp helpers that switch the host's rounding mode, and
// the mode is restored for the round-to-nearest code after them.
TEST_CASE("exec: directed rounding through the mode-switching helpers") {
  auto o = runOut<std::uint32_t>(R"(
  add.rz.f32 %f1, 0f3F800000, 0f3EAAAAAB;   mov.b32 %r1, %f1;  st.global.u32 [%rd0], %r1;
  add.rn.f32 %f1, 0f3F800000, 0f3EAAAAAB;   mov.b32 %r1, %f1;  st.global.u32 [%rd0+4], %r1;
  mul.rm.f32 %f1, 0fFF7FFFFF, 0f40000000;   mov.b32 %r1, %f1;  st.global.u32 [%rd0+8], %r1;
  mul.rz.f32 %f1, 0fFF7FFFFF, 0f40000000;   mov.b32 %r1, %f1;  st.global.u32 [%rd0+12], %r1;
  div.rp.f32 %f1, 0f3F800000, 0f40400000;   mov.b32 %r1, %f1;  st.global.u32 [%rd0+16], %r1;
  sqrt.rz.f32 %f1, 0f40000000;              mov.b32 %r1, %f1;  st.global.u32 [%rd0+20], %r1;
  fma.rp.f32 %f1, 0f00000001, 0f3F000000, 0f00000000;  mov.b32 %r1, %f1;  st.global.u32 [%rd0+24], %r1;
  sub.rm.f32 %f1, 0f00000000, 0f00000000;   mov.b32 %r1, %f1;  st.global.u32 [%rd0+28], %r1;
  div.rz.f64 %fd1, 0d3FF0000000000000, 0d4008000000000000;
  mov.b64 %rd1, %fd1;  st.global.u64 [%rd0+32], %rd1;
  add.f32 %f1, 0f3F800000, 0f33800001;      mov.b32 %r1, %f1;  st.global.u32 [%rd0+40], %r1;
)",
                                 12);
  CHECK(o[0] == 0x3faaaaaau);
  CHECK(o[1] == 0x3faaaaabu);
  CHECK(o[2] == 0xff800000u); // overflow down: -inf
  CHECK(o[3] == 0xff7fffffu); // toward zero: -FLT_MAX
  CHECK(o[4] == 0x3eaaaaabu);
  CHECK(o[5] == 0x3fb504f3u);
  CHECK(o[6] == 0x00000001u); // half the smallest denormal, rounded up
  CHECK(o[7] == 0x80000000u); // 0 - 0 rounded down is -0
  CHECK((std::uint64_t(o[9]) << 32 | o[8]) == 0x3fd5555555555555ull);
  CHECK(o[10] == 0x3f800001u); // round-to-nearest again afterwards
}

TEST_CASE("exec: float comparisons, NaN handling, selection, testp, copysign") {
  auto o = runOut<std::uint32_t>(R"(
  mov.f32 %f1, 0f7FC00000;
  setp.ne.f32 %p1, %f1, 0f3F800000;     selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd0], %r1;
  setp.neu.f32 %p1, %f1, 0f3F800000;    selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd0+4], %r1;
  min.f32 %f2, %f1, 0f3F800000;         mov.b32 %r1, %f2; st.global.u32 [%rd0+8], %r1;
  min.NaN.f32 %f2, %f1, 0f3F800000;     testp.notanumber.f32 %p2, %f2; selp.u32 %r1, 1, 0, %p2; st.global.u32 [%rd0+12], %r1;
  setp.lt.s32 %p1|%p2, 3, 4;            selp.u32 %r1, 1, 0, %p2; st.global.u32 [%rd0+16], %r1;
  setp.gt.u32.and %p3, 5, 4, %p2;       selp.u32 %r1, 1, 0, %p3; st.global.u32 [%rd0+20], %r1;
  set.gtu.u32.f32 %r1, %f1, 0f00000000; st.global.u32 [%rd0+24], %r1;
  slct.u32.s32 %r1, 10, 20, -1;         st.global.u32 [%rd0+28], %r1;
  copysign.f32 %f3, 0fBF800000, 0f40000000; mov.b32 %r1, %f3; st.global.u32 [%rd0+32], %r1;
  testp.finite.f32 %p1, 0f7F800000;     selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd0+36], %r1;
  testp.subnormal.f32 %p1, 0f00000001;  selp.u32 %r1, 1, 0, %p1; st.global.u32 [%rd0+40], %r1;
  fma.rn.sat.f32 %f4, 0f40000000, 0f40000000, 0f00000000; mov.b32 %r1, %f4; st.global.u32 [%rd0+44], %r1;
  set.lt.f32.s32 %f5, 1, 2;             mov.b32 %r1, %f5; st.global.u32 [%rd0+48], %r1;
  not.pred %p4, %p3;                    selp.u32 %r1, 1, 0, %p4; st.global.u32 [%rd0+52], %r1;
  @%p4 bra $Lskip;
  st.global.u32 [%rd0+56], 77;
$Lskip:
  @!%p3 st.global.u32 [%rd0+60], 88;
)",
                                 16);
  CHECK(o[0] == 0u);
  CHECK(o[1] == 1u);
  CHECK(o[2] == 0x3F800000u);
  CHECK(o[3] == 1u);
  CHECK(o[4] == 0u);
  CHECK(o[5] == 0u);
  CHECK(o[6] == 0xFFFFFFFFu);
  CHECK(o[7] == 20u);
  CHECK(o[8] == 0xC0000000u);
  CHECK(o[9] == 0u);
  CHECK(o[10] == 1u);
  CHECK(o[11] == 0x3F800000u);
  CHECK(o[12] == 0x3F800000u);
  CHECK(o[13] == 1u);
  CHECK(o[14] == 0x5Au); // branch taken
  CHECK(o[15] == 88u);
}

TEST_CASE("exec: calls, recursion, struct returns, jump tables, local memory, atomics") {
  std::uint32_t out[8] = {};
  std::uint32_t counter[4] = {2, 10, 0, 0};
  void *outPtr = out, *cPtr = counter;
  std::uint32_t sel = 1;
  gTid = 7;
  std::string log;
  bool ok = run(R"(
.func (.param .b32 r) fact(.param .b32 n)
{
  .reg .pred %p<2>;
  .reg .b32 %r<5>;
  ld.param.b32 %r1, [n];
  setp.lt.u32 %p1, %r1, 2;
  @%p1 bra $Lone;
  sub.u32 %r2, %r1, 1;
  { .param .b32 a; st.param.b32 [a], %r2; .param .b32 b; call.uni (b), fact, (a); ld.param.b32 %r3, [b]; }
  mul.lo.u32 %r4, %r3, %r1;
  st.param.b32 [r], %r4;
  ret;
$Lone:
  st.param.b32 [r], 1;
  ret;
}
.func (.param .align 8 .b8 s[8]) swap(.param .align 8 .b8 v[8])
{
  .reg .b32 %r<3>;
  ld.param.v2.u32 {%r1, %r2}, [v];
  st.param.v2.u32 [s], {%r2, %r1};
  ret;
}
.visible .entry k(.param .u64 out, .param .u64 c, .param .u32 sel)
{
  .reg .pred %p<2>;
  .reg .b32 %r<10>;
  .reg .b64 %rd<6>;
  .local .align 8 .b8 depot[16];
  ld.param.u64 %rd1, [out];
  ld.param.u64 %rd2, [c];
  { .param .b32 a; st.param.b32 [a], 5; .param .b32 b; call.uni (b), fact, (a); ld.param.b32 %r1, [b]; }
  st.global.u32 [%rd1], %r1;
  { .param .align 8 .b8 a[8]; st.param.v2.u32 [a], {3, 4}; .param .align 8 .b8 b[8];
    call.uni (b), swap, (a); ld.param.v2.u32 {%r2, %r3}, [b]; }
  st.global.v2.u32 [%rd1+4], {%r2, %r3};
  ld.param.u32 %r4, [sel];
  $Ltab: .branchtargets $L0, $L1, $L2;
  brx.idx %r4, $Ltab;
$L0: mov.u32 %r5, 100; bra.uni $Ldone;
$L1: mov.u32 %r5, 200; bra.uni $Ldone;
$L2: mov.u32 %r5, 300;
$Ldone:
  st.global.u32 [%rd1+12], %r5;
  mov.u64 %rd3, depot;
  cvta.local.u64 %rd4, %rd3;
  st.local.u32 [%rd3+4], 41;
  ld.u32 %r6, [%rd4+4];
  add.u32 %r6, %r6, 1;
  st.global.u32 [%rd1+16], %r6;
  atom.global.inc.u32 %r7, [%rd2], 2;
  st.global.u32 [%rd1+20], %r7;
  atom.global.cas.b32 %r8, [%rd2+4], 10, 11;
  red.global.add.u32 [%rd2+8], 5;
  mov.u32 %r9, %tid.x;
  st.global.u32 [%rd1+24], %r9;
  ret;
}
)",
                "k", {&outPtr, &cPtr, &sel}, log);
  INFO(log);
  REQUIRE(ok);
  CHECK(out[0] == 120u);
  CHECK(out[1] == 4u);
  CHECK(out[2] == 3u);
  CHECK(out[3] == 200u);
  CHECK(out[4] == 42u);
  CHECK(out[5] == 2u);
  CHECK(counter[0] == 0u); // inc wraps at the limit 2
  CHECK(counter[1] == 11u);
  CHECK(counter[2] == 5u);
  CHECK(out[6] == 7u);
  gTid = 0;
}

namespace {
float hostMath(float v) {
  float a = std::fabs(v);
  return std::sin(v) + std::cos(v) + std::tan(v) + std::exp(v) + std::log(a + 1) + std::pow(a, 1.5f) +
         std::sqrt(a) + 1 / std::sqrt(a + 1) + std::erf(v) + std::atan2(v, 2.f) + std::fmod(v, 3.f) +
         std::cbrt(v) + std::tanh(v) + std::log2(a + 2) + std::exp2(v) + std::floor(v) + std::ceil(v) +
         std::trunc(v) + std::round(v) + std::rint(v) + std::fmin(v, 1.f) + std::fmax(v, -1.f) +
         std::copysign(2.f, v) + std::sin(v) + std::cos(v) + std::exp(v) + std::log(a + 1) + v / 3.f +
         std::fmin(std::fmax(v, 0.f), 1.f) + 1 / v + std::sqrt(a) + (v + 1.f) + v * 3.f + (v * v + 1.f) +
         std::floor(v) + std::ceil(a) + std::trunc(v) + a + 0.f + 0.f + (std::signbit(v) ? 4.f : 0.f);
}
} // namespace

TEST_SUITE("corpus") {
  TEST_CASE("corpus: nvcc's float math (libdevice code) runs and matches the host") {
    REQUIRE_MESSAGE(!corpusFiles().empty(), "no corpus files given");
    int ran = 0;
    for (auto &path : corpusFiles()) {
      if (path.find("/math_") == std::string::npos)
        continue;
      CAPTURE(path);
      std::ifstream in(path);
      std::stringstream ss;
      ss << in.rdbuf();
      for (float v : {0.3f, -1.7f, 2.5f, 6.0f}) {
        CAPTURE(v);
        float x[1] = {v}, y[1] = {0};
        const float *xp = x;
        float *yp = y;
        int n = 1;
        std::string log;
        gTid = 0;
        bool ok = run(ss.str(), "_Z5fmathPKfPfi", {&xp, &yp, &n}, log);
        INFO(log);
        REQUIRE(ok);
        float want = hostMath(v);
        CHECK(y[0] == doctest::Approx(want).epsilon(2e-4));
        ++ran;
      }
    }
    CHECK(ran > 0);
  }
}

namespace {
int hostFib(int n) { return n < 2 ? n : hostFib(n - 1) + hostFib(n - 2); }
long long hostFact(int n) { return n <= 1 ? 1 : n * hostFact(n - 1); }
std::string corpusText(const std::string &path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
} // namespace

TEST_SUITE("corpus") {
  TEST_CASE("corpus: local arrays, recursion and calls run correctly at -O3 and -G") {
    REQUIRE_MESSAGE(!corpusFiles().empty(), "no corpus files given");
    int ran = 0;
    for (auto &path : corpusFiles()) {
      if (path.find("/local_recursion_") == std::string::npos)
        continue;
      CAPTURE(path);
      std::string text = corpusText(path);
      // locals(out, k) for thread 3
      const int tid = 3, k = 13;
      int out[8] = {};
      int *outp = out;
      int kk = k;
      std::string log;
      gTid = tid;
      bool ok = run(text, "_Z6localsPii", {&outp, &kk}, log);
      INFO(log);
      REQUIRE(ok);
      int buf[64];
      for (int i = 0; i < 64; ++i)
        buf[i] = tid * i ^ (i >> 1);
      float fb[7];
      for (int i = 0; i < 7; ++i)
        fb[i] = buf[(i * k) & 63] * 0.5f;
      CHECK(out[tid] == buf[k & 63] + hostFib(k & 15) + int(hostFact(k & 7)) + int(fb[k % 7]));
      // sorter(data) for thread 0
      int data[16] = {5, -3, 9, 0, 12, 7, 7, -8, 100, 2, 1, 64, -1, 33, 8, 4};
      int *dp = data;
      gTid = 0;
      ok = run(text, "_Z6sorterPi", {&dp}, log);
      REQUIRE(ok);
      for (int i = 1; i < 16; ++i)
        CHECK(data[i - 1] <= data[i]);
      CHECK(data[0] == -8);
      CHECK(data[15] == 100);
      ++ran;
    }
    gTid = 0;
    CHECK(ran == 4);
  }
}
