#include "conformance.h"
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace {
const char *kPtx = R"(
.version 8.0
.target sm_75
.address_size 64

.global .align 4 .u32 counter = 42;
.global .align 8 .f64 table[3] = {1.5, 0d4004000000000000, 3.5};
.const .align 4 .b8 coeffs[8] = {1, 2, 3, 4};

.visible .entry scale(
  .param .u64 out,
  .param .f32 factor,
  .param .align 8 .b8 shape[24]
)
{
  .reg .b64 %rd<3>;
  .reg .f32 %f<2>;
  ld.param.u64 %rd1, [out];
  ld.param.f32 %f1, [factor];
  cvta.to.global.u64 %rd2, %rd1;
  st.global.f32 [%rd2], %f1;
  ret;
}

.visible .entry empty()
{
  ret;
}
)";

struct Module {
  CUmodule m = nullptr;
  explicit Module(const void *image) { REQUIRE(cuModuleLoadData(&m, image) == CUDA_SUCCESS); }
  ~Module() { cuModuleUnload(m); }
};
} // namespace

TEST_CASE("PTX modules: kernels, parameter layouts, attributes") {
  ContextFixture f;
  Module mod(kPtx);
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod.m, "scale") == CUDA_SUCCESS);
  CUfunction missing = nullptr;
  CHECK(cuModuleGetFunction(&missing, mod.m, "nope") == CUDA_ERROR_NOT_FOUND);
  const char *name = nullptr;
  CHECK(cuFuncGetName(&name, fn) == CUDA_SUCCESS);
  CHECK(std::string(name) == "scale");
  size_t offset = 0, size = 0;
  CHECK(cuFuncGetParamInfo(fn, 0, &offset, &size) == CUDA_SUCCESS);
  CHECK(offset == 0);
  CHECK(size == 8);
  CHECK(cuFuncGetParamInfo(fn, 1, &offset, &size) == CUDA_SUCCESS);
  CHECK(offset == 8);
  CHECK(size == 4);
  CHECK(cuFuncGetParamInfo(fn, 2, &offset, &size) == CUDA_SUCCESS);
  CHECK(offset == 16);
  CHECK(size == 24);
  CHECK(cuFuncGetParamInfo(fn, 3, &offset, &size) == CUDA_ERROR_INVALID_VALUE);
  int v = 0;
  CHECK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, fn) == CUDA_SUCCESS);
  CHECK(v == 1024);
  CHECK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_PTX_VERSION, fn) == CUDA_SUCCESS);
  CHECK(v == 75);
  CHECK(cuFuncSetAttribute(fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, 64 * 1024) == CUDA_SUCCESS);
  CHECK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, fn) == CUDA_SUCCESS);
  CHECK(v == 64 * 1024);
  unsigned count = 0;
  CHECK(cuModuleGetFunctionCount(&count, mod.m) == CUDA_SUCCESS);
  CHECK(count == 2);
}

TEST_CASE("module variables are allocated and initialised from the image") {
  ContextFixture f;
  Module mod(kPtx);
  CUdeviceptr p = 0;
  size_t bytes = 0;
  REQUIRE(cuModuleGetGlobal(&p, &bytes, mod.m, "counter") == CUDA_SUCCESS);
  CHECK(bytes == 4);
  unsigned counter = 0;
  CHECK(cuMemcpyDtoH(&counter, p, 4) == CUDA_SUCCESS);
  CHECK(counter == 42);
  REQUIRE(cuModuleGetGlobal(&p, &bytes, mod.m, "table") == CUDA_SUCCESS);
  double table[3] = {};
  CHECK(bytes == sizeof table);
  CHECK(cuMemcpyDtoH(table, p, sizeof table) == CUDA_SUCCESS);
  CHECK(table[0] == 1.5);
  CHECK(table[1] == 2.5);
  CHECK(table[2] == 3.5);
  REQUIRE(cuModuleGetGlobal(&p, &bytes, mod.m, "coeffs") == CUDA_SUCCESS);
  unsigned char coeffs[8] = {};
  CHECK(cuMemcpyDtoH(coeffs, p, 8) == CUDA_SUCCESS);
  CHECK(coeffs[3] == 4);
  CHECK(coeffs[4] == 0); // the rest is zero-filled
  // Writable, like cudaMemcpyToSymbol needs.
  unsigned seven = 7;
  CHECK(cuMemcpyHtoD(p, &seven, 4) == CUDA_SUCCESS);
  CHECK(cuModuleGetGlobal(&p, &bytes, mod.m, "nope") == CUDA_ERROR_NOT_FOUND);
}

TEST_CASE("libraries hand out kernels usable as functions") {
  ContextFixture f;
  CUlibrary lib = nullptr;
  REQUIRE(cuLibraryLoadData(&lib, kPtx, nullptr, nullptr, 0, nullptr, nullptr, 0) == CUDA_SUCCESS);
  CUkernel k = nullptr;
  CHECK(cuLibraryGetKernel(&k, lib, "empty") == CUDA_SUCCESS);
  CUfunction fn = nullptr;
  CHECK(cuKernelGetFunction(&fn, k) == CUDA_SUCCESS);
  unsigned count = 0;
  CHECK(cuLibraryGetKernelCount(&count, lib) == CUDA_SUCCESS);
  CHECK(count == 2);
  CUdeviceptr p = 0;
  size_t bytes = 0;
  CHECK(cuLibraryGetGlobal(&p, &bytes, lib, "counter") == CUDA_SUCCESS);
  CHECK(cuLibraryUnload(lib) == CUDA_SUCCESS);
  CHECK(cuLibraryGetKernel(&k, lib, "empty") == CUDA_ERROR_INVALID_HANDLE);
}

TEST_CASE("corrupt images and malformed PTX are errors with messages, never crashes") {
  ContextFixture f;
  CUmodule m = nullptr;
  const unsigned char garbage[64] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
  CHECK(cuModuleLoadData(&m, garbage) == CUDA_ERROR_INVALID_IMAGE);
  // A fatbin header that promises more than exists.
  unsigned char truncated[32] = {0x50, 0xed, 0x55, 0xba, 1, 0, 16, 0, 0xff, 0xff, 0xff, 0x7f};
  CHECK(cuModuleLoadData(&m, truncated) == CUDA_ERROR_INVALID_IMAGE);
  CHECK(cuModuleLoadData(&m, nullptr) == CUDA_ERROR_INVALID_VALUE);
  const char *bad = ".version 8.0\n.target sm_75\n.address_size 64\n.visible .entry k(\n{ bogus ; }\n";
  char log[1024] = "";
  CUjit_option options[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {log, reinterpret_cast<void *>(sizeof log)};
  CHECK(cuModuleLoadDataEx(&m, bad, 2, options, values) == CUDA_ERROR_INVALID_PTX);
  CHECK(std::strchr(log, ':') != nullptr); // "line:column: message"
  CHECK(std::string(log).find("5:") != std::string::npos);
  CHECK(cuModuleLoad(&m, "/nonexistent/kernel.ptx") == CUDA_ERROR_FILE_NOT_FOUND);
}

TEST_CASE("launches validate their arguments") {
  ContextFixture f;
  Module mod(kPtx);
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod.m, "empty") == CUDA_SUCCESS);
  CHECK(cuLaunchKernel(fn, 0, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuLaunchKernel(fn, 1, 1, 1, 2048, 1, 1, 0, nullptr, nullptr, nullptr) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 65, 0, nullptr, nullptr, nullptr) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuLaunchKernel(fn, 1, 70000, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 1 << 30, nullptr, nullptr, nullptr) == CUDA_ERROR_INVALID_VALUE);
  CUfunction scale = nullptr;
  REQUIRE(cuModuleGetFunction(&scale, mod.m, "scale") == CUDA_SUCCESS);
  // Parameters required but none given.
  CHECK(cuLaunchKernel(scale, 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr, nullptr) == CUDA_ERROR_INVALID_VALUE);
  // A stale function handle.
  CHECK(cuLaunchKernel(reinterpret_cast<CUfunction>(0x1000), 1, 1, 1, 1, 1, 1, 0, nullptr, nullptr,
                       nullptr) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, reinterpret_cast<CUstream>(0x1000), nullptr, nullptr) ==
        CUDA_ERROR_INVALID_HANDLE);
}

TEST_CASE("a kernel's CONST_SIZE_BYTES counts its module's .const variables") {
  ContextFixture f;
  Module mod(kPtx);
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod.m, "scale") == CUDA_SUCCESS);
  int v = -1;
  CHECK(cuFuncGetAttribute(&v, CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES, fn) == CUDA_SUCCESS);
  CHECK(v == 8); // coeffs[8]
}

namespace {
// Spins, then stores 1234: long enough to still be running when the host
// unloads its library.
const char *kSpinPtx = R"(
.version 8.0
.target sm_75
.address_size 64

.visible .entry spin(.param .u64 out, .param .u32 n)
{
  .reg .b64 %rd<2>;
  .reg .b32 %r<4>;
  .reg .pred %p;
  ld.param.u64 %rd1, [out];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, 0;
LOOP:
  st.volatile.global.u32 [%rd1], %r2;
  add.u32 %r2, %r2, 1;
  setp.lt.u32 %p, %r2, %r1;
  @%p bra LOOP;
  mov.u32 %r3, 1234;
  st.global.u32 [%rd1], %r3;
  ret;
}
)";
} // namespace

TEST_CASE("unloading a library waits for its kernels still queued or running") {
  ContextFixture f;
  CUstream s = nullptr;
  REQUIRE(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  CUdeviceptr out = 0;
  REQUIRE(cuMemAlloc(&out, 4) == CUDA_SUCCESS);
  for (int round = 0; round < 3; ++round) {
    CUlibrary lib = nullptr;
    REQUIRE(cuLibraryLoadData(&lib, kSpinPtx, nullptr, nullptr, 0, nullptr, nullptr, 0) == CUDA_SUCCESS);
    CUkernel k = nullptr;
    REQUIRE(cuLibraryGetKernel(&k, lib, "spin") == CUDA_SUCCESS);
    unsigned n = 2000000;
    void *args[] = {&out, &n};
    REQUIRE(cuLaunchKernel(reinterpret_cast<CUfunction>(k), 1, 1, 1, 1, 1, 1, 0, s, args, nullptr) ==
            CUDA_SUCCESS);
    CHECK(cuLibraryUnload(lib) == CUDA_SUCCESS); // numba: unload right after the launch
    CHECK(cuStreamSynchronize(s) == CUDA_SUCCESS);
    unsigned value = 0;
    CHECK(cuMemcpyDtoH(&value, out, 4) == CUDA_SUCCESS);
    CHECK(value == 1234);
  }
  cuMemFree(out);
  cuStreamDestroy(s);
}

namespace {
// Stores the generic address of a 256-aligned .shared array and of a
// 1024-aligned one declared after a small one.
const char *kSharedAlignPtx = R"(
.version 8.0
.target sm_75
.address_size 64

.visible .entry where(.param .u64 out)
{
  .shared .align 4 .b8 small[4];
  .shared .align 256 .b8 a256[8];
  .shared .align 1024 .b8 a1024[8];
  .reg .b64 %rd<8>;
  .reg .b32 %r<2>;
  ld.param.u64 %rd1, [out];
  mov.u32 %r1, %ctaid.x;
  mul.wide.u32 %rd5, %r1, 24;
  add.u64 %rd1, %rd1, %rd5;
  mov.u64 %rd2, small;
  cvta.shared.u64 %rd2, %rd2;
  st.global.u64 [%rd1], %rd2;
  mov.u64 %rd3, a256;
  cvta.shared.u64 %rd3, %rd3;
  st.global.u64 [%rd1+8], %rd3;
  mov.u64 %rd4, a1024;
  cvta.shared.u64 %rd4, %rd4;
  st.global.u64 [%rd1+16], %rd4;
  ret;
}
)";
} // namespace

TEST_CASE(".shared variables get the alignment they declare as addresses") {
  ContextFixture f;
  Module mod(kSharedAlignPtx);
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod.m, "where") == CUDA_SUCCESS);
  constexpr unsigned blocks = 4;
  CUdeviceptr out = 0;
  REQUIRE(cuMemAlloc(&out, blocks * 24) == CUDA_SUCCESS);
  void *args[] = {&out};
  for (unsigned coop = 0; coop < 2; ++coop) { // pooled blocks, then a cooperative grid
    REQUIRE(cuMemsetD8(out, 0, blocks * 24) == CUDA_SUCCESS);
    if (coop)
      REQUIRE(cuLaunchCooperativeKernel(fn, blocks, 1, 1, 1, 1, 1, 0, nullptr, args) == CUDA_SUCCESS);
    else
      REQUIRE(cuLaunchKernel(fn, blocks, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr) == CUDA_SUCCESS);
    std::uint64_t addr[blocks * 3] = {};
    REQUIRE(cuMemcpyDtoH(addr, out, sizeof addr) == CUDA_SUCCESS);
    for (unsigned b = 0; b < blocks; ++b) {
      CHECK(addr[b * 3] != 0);
      CHECK(addr[b * 3] % 4 == 0);
      CHECK(addr[b * 3 + 1] % 256 == 0);
      CHECK(addr[b * 3 + 2] % 1024 == 0);
    }
  }
  cuMemFree(out);
}

namespace {
// nvcc -rdc=true: assert() in a non-inlined device function (numba-cuda's
// NRT memsys module has one). The CPU JIT may refuse it (then the launch is
// an error), but a failed compile must never take the process down.
const char *kAssertInFuncPtx = R"(
.version 8.0
.target sm_75
.address_size 64
.extern .func __assertfail(.param .b64 a0, .param .b64 a1, .param .b32 a2, .param .b64 a3, .param .b64 a4);
.global .align 1 .b8 msg[4] = {110, 111, 33, 0};

.visible .func check(.param .b64 p)
{
  .reg .pred %p<2>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [p];
  setp.ne.s64 %p1, %rd1, 0;
  @%p1 bra DONE;
  mov.u64 %rd2, msg;
  cvta.global.u64 %rd3, %rd2;
  {
  .param .b64 param0;
  st.param.b64 [param0+0], %rd3;
  .param .b64 param1;
  st.param.b64 [param1+0], %rd3;
  .param .b32 param2;
  st.param.b32 [param2+0], 2;
  .param .b64 param3;
  st.param.b64 [param3+0], %rd3;
  .param .b64 param4;
  st.param.b64 [param4+0], 1;
  call.uni __assertfail, (param0, param1, param2, param3, param4);
  }
DONE:
  ret;
}

.visible .entry k(.param .u64 out)
{
  .reg .b32 %r<2>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [out];
  cvta.to.global.u64 %rd2, %rd1;
  {
  .param .b64 param0;
  st.param.b64 [param0+0], %rd1;
  call.uni check, (param0);
  }
  mov.u32 %r1, 1;
  st.global.u32 [%rd2], %r1;
  ret;
}
)";
} // namespace

TEST_CASE("a kernel calling a device function that asserts runs, or fails to compile cleanly") {
  ContextFixture f;
  Module mod(kAssertInFuncPtx);
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod.m, "k") == CUDA_SUCCESS);
  CUdeviceptr out = 0;
  REQUIRE(cuMemAlloc(&out, 4) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32(out, 0, 1) == CUDA_SUCCESS);
  void *args[] = {&out};
  const CUresult launched = cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr);
  unsigned value = 0;
  CHECK(cuMemcpyDtoH(&value, out, 4) == CUDA_SUCCESS); // the context is usable either way
  if (launched == CUDA_SUCCESS) {
    CHECK(value == 1);
  } else {
    MESSAGE("the CPU JIT refused the kernel: error " << launched);
    CHECK(launched != CUDA_ERROR_ILLEGAL_ADDRESS);
    CHECK(value == 0);
  }
  cuMemFree(out);
}
