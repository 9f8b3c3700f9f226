// moduleInfo() on hand-written PTX: parameter layout, directives, shared
// sizes, initialisers and errors.
#include "translate/ptx/ptx.h"
#include <cstring>
#include <doctest.h>

using namespace cuvirt;

namespace {

ModuleInfo info(std::string_view ptx) {
  std::string log;
  auto r = ptx::moduleInfo(ptx, log);
  INFO(log);
  REQUIRE(r.ok());
  return r.take();
}

std::string errorLog(std::string_view ptx) {
  std::string log;
  auto r = ptx::moduleInfo(ptx, log);
  CHECK_FALSE(r.ok());
  if (!r.ok())
    CHECK(r.status().code() == CUDA_ERROR_INVALID_PTX);
  return log;
}

const GlobalInfo &global(const ModuleInfo &m, std::string_view name) {
  for (auto &g : m.globals)
    if (g.name == name)
      return g;
  FAIL("no global " << name);
  return m.globals.front();
}

constexpr std::string_view kHeader = ".version 8.5\n.target sm_80\n.address_size 64\n";

std::string mod(std::string_view body) { return std::string(kHeader) + std::string(body); }

} // namespace

TEST_CASE("parameter layout: scalars, aligned arrays, in order at alignment") {
  auto m = info(mod(R"(
.visible .entry k(
  .param .u8 a,
  .param .u64 p,
  .param .align 8 .b8 s[24],
  .param .f32 f,
  .param .b8 c[3],
  .param .u16 h,
  .param .align 16 .b8 v[16],
  .param .u64 .ptr .global .align 16 q
)
{
  ret;
}
)"));
  REQUIRE(m.kernels.size() == 1);
  auto &k = m.kernels[0];
  CHECK(k.name == "k");
  REQUIRE(k.params.size() == 8);
  struct E {
    unsigned off, size, align;
  };
  E want[] = {{0, 1, 1},  {8, 8, 8},  {16, 24, 8},  {40, 4, 4},
              {44, 3, 1}, {48, 2, 2}, {64, 16, 16}, {80, 8, 8}};
  for (int i = 0; i < 8; ++i) {
    CAPTURE(i);
    CHECK(k.params[i].offset == want[i].off);
    CHECK(k.params[i].size == want[i].size);
    CHECK(k.params[i].align == want[i].align);
  }
  CHECK(k.paramBytes() == 88);
}

TEST_CASE("vector parameters and performance directives") {
  auto m = info(mod(R"(
.entry a(.param .v2 .f32 v, .param .v4 .u32 w) .maxntid 256, 2 .minnctapersm 3 { ret; }
.entry b() .reqntid 32, 4, 2 .maxnreg 40 { ret; }
.entry c() .maxntid 128 { exit; }
)"));
  REQUIRE(m.kernels.size() == 3);
  CHECK(m.kernels[0].params[0].size == 8);
  CHECK(m.kernels[0].params[0].align == 8);
  CHECK(m.kernels[0].params[1].offset == 16);
  CHECK(m.kernels[0].params[1].size == 16);
  CHECK(m.kernels[0].maxThreadsPerBlock == 512);
  CHECK(m.kernels[0].minBlocksPerSm == 3);
  CHECK(m.kernels[1].reqntid[0] == 32);
  CHECK(m.kernels[1].reqntid[1] == 4);
  CHECK(m.kernels[1].reqntid[2] == 2);
  CHECK(m.kernels[1].maxThreadsPerBlock == 256);
  CHECK(m.kernels[1].numRegs == 0); // .maxnreg 40 is a limit, not a count
  CHECK(m.kernels[2].maxThreadsPerBlock == 128);
  CHECK(m.kernels[2].params.empty());
}

TEST_CASE("static shared bytes: own, module-scope and callees' variables") {
  auto m = info(mod(R"(
.shared .align 4 .b8 modsh[256];
.shared .align 8 .b8 unused[1000];
.shared .align 16 .b8 viaFunc[64];
.extern .shared .align 16 .b8 dyn[];
.func helper() {
  .reg .b32 %r<2>;
  mov.u32 %r1, viaFunc;
  ret;
}
.entry k1() {
  .reg .b32 %r<4>;
  .shared .align 4 .b8 mine[512];
  mov.u32 %r1, modsh;
  mov.u32 %r2, mine;
  mov.u32 %r3, dyn;
  ret;
}
.entry k2() {
  .reg .b32 %r<2>;
  .shared .align 2 .b8 tiny[6];
  ld.shared.u32 %r1, [tiny+2];
  call helper;
  ret;
}
.entry k3() { ret; }
)"));
  REQUIRE(m.kernels.size() == 3);
  CHECK(m.kernels[0].staticSharedBytes == 768);
  CHECK(m.kernels[1].staticSharedBytes == 64 + 6);
  CHECK(m.kernels[2].staticSharedBytes == 0);
  CHECK(m.globals.empty()); // shared variables are not device globals
}

TEST_CASE("static shared layout: kernel variables never overlap the common region") {
  // `first` is only used by the kernel but declared before `shared`, which a .func also uses
  auto m = info(mod(R"(
.shared .align 4 .b8 first[8];
.shared .align 4 .b8 common[16];
.func f() { .reg .b32 %r<2>; mov.u32 %r1, common; ret; }
.entry k() {
  .reg .b32 %r<3>;
  mov.u32 %r1, first;
  mov.u32 %r2, common;
  ret;
}
)"));
  REQUIRE(m.kernels.size() == 1);
  CHECK(m.kernels[0].staticSharedBytes == 24); // common at 0..16, first at 16..24
}

TEST_CASE("initialisers: integers, floats, arrays, partial, relocations") {
  auto m = info(mod(R"(
.const .align 4 .b8 cf[16] = {0, 0, 128, 63, 0, 0, 32, 64};
.global .align 4 .u32 gi = 7;
.global .align 4 .s32 neg = -2;
.global .align 8 .u64 gp = generic(gi);
.global .align 8 .u64 raw = gi+8;
.global .align 8 .u64 big = 0xFFFFFFFFFFFFFFFFU;
.global .align 4 .f32 f1 = 0f3F800000;
.global .align 4 .f32 f2 = 0F40490FDB;
.global .align 8 .f64 d1 = 0d3FF8000000000000;
.global .align 8 .f64 d2 = 0f3F800000;
.global .align 4 .f32 fdec = 2.5;
.global .align 4 .u32 arr[4] = {1, 2};
.global .align 4 .u32 mat[2][3] = {{1, 2}, {3, 4, 5}};
.global .align 2 .u16 oct = 017;
.global .align 1 .u8 bin = 0b101;
.global .align 8 .u64 ptrs[3] = {generic(gi), generic(arr)+4, 0};
.extern .global .align 4 .u32 ext;
.global .align 4 .b32 noinit[8];
.visible .global .attribute(.managed) .align 4 .u32 man = 4;
)"));
  CHECK(m.globals.size() == 19);
  auto &cf = global(m, "cf");
  CHECK(cf.space == GlobalInfo::Space::Const);
  CHECK(cf.size == 16);
  CHECK(cf.align == 4);
  CHECK(cf.init == std::vector<std::uint8_t>{0, 0, 128, 63, 0, 0, 32, 64});
  CHECK(global(m, "gi").init == std::vector<std::uint8_t>{7, 0, 0, 0});
  CHECK(global(m, "neg").init == std::vector<std::uint8_t>{0xFE, 0xFF, 0xFF, 0xFF});
  auto &gp = global(m, "gp");
  CHECK(gp.size == 8);
  REQUIRE(gp.relocations.size() == 1);
  CHECK(gp.relocations[0].offset == 0);
  CHECK(gp.relocations[0].symbol == "gi");
  CHECK(gp.relocations[0].addend == 0);
  REQUIRE(global(m, "raw").relocations.size() == 1);
  CHECK(global(m, "raw").relocations[0].addend == 8);
  CHECK(global(m, "big").init == std::vector<std::uint8_t>(8, 0xFF));
  CHECK(global(m, "f1").init == std::vector<std::uint8_t>{0, 0, 0x80, 0x3F});
  CHECK(global(m, "f2").init == std::vector<std::uint8_t>{0xDB, 0x0F, 0x49, 0x40});
  CHECK(global(m, "d1").init == std::vector<std::uint8_t>{0, 0, 0, 0, 0, 0, 0xF8, 0x3F});
  CHECK(global(m, "d2").init == std::vector<std::uint8_t>{0, 0, 0, 0, 0, 0, 0xF0, 0x3F});
  float fd;
  REQUIRE(global(m, "fdec").init.size() == 4);
  std::memcpy(&fd, global(m, "fdec").init.data(), 4);
  CHECK(fd == 2.5f);
  auto &arr = global(m, "arr");
  CHECK(arr.size == 16);
  CHECK(arr.init == std::vector<std::uint8_t>{1, 0, 0, 0, 2, 0, 0, 0}); // rest zero-filled
  auto &mat = global(m, "mat");
  CHECK(mat.size == 24);
  REQUIRE(mat.init.size() == 20);
  CHECK(mat.init[8] == 3);
  CHECK(mat.init[16] == 5);
  CHECK(global(m, "oct").init == std::vector<std::uint8_t>{15, 0});
  CHECK(global(m, "bin").init == std::vector<std::uint8_t>{5});
  auto &ptrs = global(m, "ptrs");
  REQUIRE(ptrs.relocations.size() == 2);
  CHECK(ptrs.relocations[1].offset == 8);
  CHECK(ptrs.relocations[1].symbol == "arr");
  CHECK(ptrs.relocations[1].addend == 4);
  CHECK(global(m, "ext").isExtern);
  CHECK(global(m, "ext").init.empty());
  CHECK_FALSE(global(m, "gi").isExtern);
  CHECK(global(m, "noinit").size == 32);
  CHECK(global(m, "noinit").init.empty());
  CHECK(global(m, "man").init == std::vector<std::uint8_t>{4, 0, 0, 0});
}

TEST_CASE("byte-masked address initialisers become relocations") {
  auto m = info(mod(R"(
.global .align 4 .u32 x;
.global .align 8 .b8 s[16] = {1, 0, 0, 0, 0, 0, 0, 0, 0xFF(generic(x)+4), 0xFF00(generic(x)+4), 0xFF0000(generic(x)+4), 0xFF000000(generic(x)+4), 0xFF00000000(generic(x)+4), 0xFF0000000000(generic(x)+4), 0xFF000000000000(generic(x)+4), 0xFF00000000000000(generic(x)+4)};
)"));
  auto &s = global(m, "s");
  REQUIRE(s.relocations.size() == 1);
  CHECK(s.relocations[0].offset == 8);
  CHECK(s.relocations[0].symbol == "x");
  CHECK(s.relocations[0].addend == 4);
  CHECK(s.init[0] == 1);
}

TEST_CASE("functions: visible .func names, declarations, extern calls") {
  auto m = info(mod(R"(
.extern .func (.param .b32 func_retval0) vprintf(.param .b64 a, .param .b64 b);
.visible .func (.param .b32 r) f1(.param .b32 x);
.func hidden() { ret; }
.visible .func (.param .b32 r) f1(.param .b32 x) { st.param.b32 [r], 1; ret; }
.weak .func w() { ret; }
)"));
  CHECK(m.kernels.empty());
  CHECK(m.functions == std::vector<std::string>{"f1", "w"});
}

TEST_CASE("nvcc-style module with debug sections, pragmas and call sequences") {
  auto m = info(R"(//
// Generated by NVIDIA NVVM Compiler
.version 9.0
.target sm_90, debug
.address_size 64
.file 1 "/tmp/a.cu"
.file 2 "/usr/include/x.h", 1700000000, 1234
.global .align 1 .b8 $str[3] = {104, 105};
.extern .func (.param .b32 func_retval0) vprintf(.param .b64 p0, .param .b64 p1);
.visible .entry _Z1kPf(
	.param .u64 _Z1kPf_param_0
)
{
	.reg .pred 	%p<2>;
	.reg .b32 	%r<3>;
	.reg .b64 	%rd<4>;
	.loc 1 5 3
$L__func_begin0:
	mov.u64 	%rd1, $str;
	cvta.global.u64 	%rd2, %rd1;
	{ // callseq 0, 0
	.param .b64 param0;
	st.param.b64 	[param0+0], %rd2;
	.param .b64 param1;
	st.param.b64 	[param1+0], 0;
	.param .b32 retval0;
	call.uni (retval0), vprintf, (param0, param1);
	ld.param.b32 	%r1, [retval0+0];
	} // callseq 0
	.pragma "nounroll";
	@!%p1 bra $L__BB0_2;
$L__BB0_2:
	ret;
$L__func_end0:
}
.section	.debug_abbrev
	{
.b8 1
.b8 17
	}
.section .debug_str { $L__info_string0: .b8 95,90,0 }
)");
  REQUIRE(m.kernels.size() == 1);
  CHECK(m.kernels[0].params.size() == 1);
  CHECK(m.globals.size() == 1);
}

TEST_CASE("PTX ISA versions: 7.0 to 9.x accepted, newer ones reported as unsupported") {
  for (const char *v : {"7.0", "7.8", "8.0", "8.8", "9.0", "9.1"}) {
    CAPTURE(v);
    auto m = info(std::string(".version ") + v + "\n.target sm_70\n.address_size 64\n.entry k() { ret; }\n");
    CHECK(m.kernels.size() == 1);
  }
  std::string log;
  auto r = ptx::moduleInfo(".version 10.0\n.target sm_100\n", log);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == CUDA_ERROR_UNSUPPORTED_PTX_VERSION);
  CHECK(log.find("1:10: unsupported PTX version 10.0") != std::string::npos);
}

TEST_CASE("a module needs .version first and a .target") {
  std::string log;
  CHECK_FALSE(ptx::moduleInfo("", log).ok());
  CHECK(log.find("1:1: unexpected end of file, expected '.version'") != std::string::npos);
  log.clear();
  CHECK_FALSE(ptx::moduleInfo("// comment\n.target sm_80\n.version 8.0\n", log).ok());
  CHECK(log.find("2:1: expected '.version' at the start of the module") != std::string::npos);
  log.clear();
  CHECK_FALSE(ptx::moduleInfo(".version 8.0\n.address_size 64\n", log).ok());
  CHECK(log.find("missing .target") != std::string::npos);
}

TEST_CASE("errors carry line:column") {
  CHECK(errorLog(mod(".entry k() {\n  ret\n}\n")).find("6:1:") != std::string::npos);
  auto log = errorLog(mod(".global .u32 x = 0f12;\n"));
  CHECK(log.find("4:18:") != std::string::npos);
  CHECK(log.find("float") != std::string::npos);
  CHECK(errorLog(mod(".entry k( {")).find("4:11:") != std::string::npos);
  CHECK(errorLog(mod(".global .u32 a[2] = {1, 2, 3};")).find("too many") != std::string::npos);
  CHECK(errorLog(mod(".bogus 12;")).find("4:1: unknown directive '.bogus'") != std::string::npos);
  CHECK(errorLog(mod(".entry k() { ret; ")).find("unexpected end of file") != std::string::npos);
  CHECK(errorLog(mod(".global .align 3 .u32 x;")).find("alignment") != std::string::npos);
  CHECK(errorLog(mod(".global .u32 x = 99999999999999999999999;")).find("invalid integer") !=
        std::string::npos);
  CHECK(errorLog(mod(".entry k(.param .u32 a) .maxntid 0 { ret; }")).find("maxntid") != std::string::npos);
  CHECK(errorLog(mod(".func f() { ret; }\n.func f() { ret; }")).find("defined twice") != std::string::npos);
  CHECK(errorLog(std::string(kHeader) + "\x01").find("4:1:") != std::string::npos);
  CHECK(errorLog(mod(".global .u8 x[1099511627777];")).find("too large") != std::string::npos);
}
