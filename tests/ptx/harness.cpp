#include "harness.h"
#include <cfenv>
#include <limits>

namespace ptxg {

void useContext() {
  static CUcontext ctx = [] {
    REQUIRE(cuInit(0) == CUDA_SUCCESS);
    CUcontext c = nullptr;
    REQUIRE(cuDevicePrimaryCtxRetain(&c, 0) == CUDA_SUCCESS);
    return c;
  }();
  REQUIRE(cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
}

Module::Module(const std::string &ptx) {
  char buf[8192] = "";
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *vals[] = {buf, reinterpret_cast<void *>(sizeof buf)};
  status = cuModuleLoadDataEx(&mod, ptx.c_str(), 2, opts, vals);
  log = buf;
}

Module::~Module() {
  if (mod)
    cuModuleUnload(mod);
}

CUfunction Module::fn(const char *name) const {
  CUfunction f = nullptr;
  REQUIRE(cuModuleGetFunction(&f, mod, name) == CUDA_SUCCESS);
  return f;
}

DevBuf::DevBuf(size_t n) : bytes(n) {
  REQUIRE(cuMemAlloc(&p, n ? n : 1) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD8(p, 0, n ? n : 1) == CUDA_SUCCESS);
}

DevBuf::~DevBuf() { cuMemFree(p); }

CUresult launch(CUfunction fn, const Dims &d, const std::vector<CUdeviceptr> &ptrs) {
  std::vector<CUdeviceptr> copy = ptrs;
  std::vector<void *> args;
  for (auto &p : copy)
    args.push_back(&p);
  CUresult r =
      cuLaunchKernel(fn, d.gx, d.gy, d.gz, d.bx, d.by, d.bz, d.shared, nullptr, args.data(), nullptr);
  if (r != CUDA_SUCCESS)
    return r;
  return cuCtxSynchronize();
}

size_t typeSize(const std::string &ty) {
  if (ty.ends_with("8"))
    return 1;
  if (ty.ends_with("16"))
    return 2;
  if (ty.ends_with("32"))
    return 4;
  if (ty.ends_with("64"))
    return 8;
  FAIL("unknown type " << ty);
  return 0;
}

std::string elementwise(const std::string &inTy, const std::string &outTy, const std::string &body) {
  const std::string si = std::to_string(typeSize(inTy)), so = std::to_string(typeSize(outTy));
  std::string s = kHeader;
  s += ".visible .entry k(.param .u64 pa, .param .u64 pb, .param .u64 pc, .param .u64 pd)\n{\n";
  s += "  .reg .b32 %r<16>;\n  .reg .b64 %rl<16>;\n  .reg .f32 %f<16>;\n  .reg .f64 %fd<16>;\n";
  s += "  .reg .b16 %h<8>;\n  .reg .pred %p<8>;\n  .reg .b32 %i;\n  .reg .b64 %off, %ad, %bd, %cd, %dd;\n";
  s += "  .reg " + inTy + " %a, %b, %c;\n  .reg " + outTy + " %d;\n";
  s += "  mov.u32 %i, %ctaid.x;\n  mov.u32 %r0, %ntid.x;\n  mov.u32 %r1, %tid.x;\n";
  s += "  mad.lo.u32 %i, %i, %r0, %r1;\n";
  s += "  ld.param.u64 %ad, [pa];\n  ld.param.u64 %bd, [pb];\n  ld.param.u64 %cd, [pc];\n  ld.param.u64 %dd, "
       "[pd];\n";
  s += "  mul.wide.u32 %off, %i, " + si + ";\n";
  s += "  add.u64 %ad, %ad, %off;\n  add.u64 %bd, %bd, %off;\n  add.u64 %cd, %cd, %off;\n";
  s += "  ld.global" + inTy + " %a, [%ad];\n  ld.global" + inTy + " %b, [%bd];\n  ld.global" + inTy +
       " %c, [%cd];\n";
  s += body + "\n";
  s += "  mul.wide.u32 %off, %i, " + so + ";\n  add.u64 %dd, %dd, %off;\n";
  s += "  st.global" + outTy + " [%dd], %d;\n  ret;\n}\n";
  return s;
}

Rounding::Rounding(int mode) : old(std::fegetround()) { std::fesetround(mode); }
Rounding::~Rounding() { std::fesetround(old); }

std::vector<float> edgeF32() {
  const float inf = std::numeric_limits<float>::infinity();
  return {0.0f,
          -0.0f,
          1.0f,
          -1.0f,
          1.5f,
          3.0f,
          1.0f / 3.0f,
          -2.75f,
          f32(0x00000001), // smallest denormal
          f32(0x807fffff), // largest negative denormal
          f32(0x00800000), // FLT_MIN
          std::numeric_limits<float>::max(),
          -std::numeric_limits<float>::max(),
          inf,
          -inf,
          std::numeric_limits<float>::quiet_NaN(),
          16777217.0f,
          1e-20f,
          f32(0x3f800001)}; // 1 + ulp
}

std::vector<double> edgeF64() {
  const double inf = std::numeric_limits<double>::infinity();
  return {0.0,
          -0.0,
          1.0,
          -1.0,
          1.5,
          3.0,
          1.0 / 3.0,
          -2.75,
          f64(1),
          f64(0x800fffffffffffffull),
          std::numeric_limits<double>::min(),
          std::numeric_limits<double>::max(),
          -std::numeric_limits<double>::max(),
          inf,
          -inf,
          std::numeric_limits<double>::quiet_NaN(),
          9007199254740993.0,
          1e-300,
          f64(0x3ff0000000000001ull)};
}

std::vector<uint32_t> edgeU32() {
  return {0u,          1u,          2u,          3u,          7u,          0x7fffffffu,
          0x80000000u, 0x80000001u, 0xffffffffu, 0xfffffffeu, 0x12345678u, 0xdeadbeefu,
          0x00010000u, 0x0000ffffu, 31u,         32u,         33u};
}

std::vector<uint64_t> edgeU64() {
  return {0ull,
          1ull,
          2ull,
          0xffffffffull,
          0x100000000ull,
          0x7fffffffffffffffull,
          0x8000000000000000ull,
          0xffffffffffffffffull,
          0xfffffffffffffffeull,
          0x123456789abcdef0ull,
          0xdeadbeefcafebabeull,
          63ull,
          64ull};
}

} // namespace ptxg
