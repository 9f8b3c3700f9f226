// The JIT linker: cross-module references between PTX inputs, the logs,
// undefined and multiple definitions, and bad arguments.
#include "conformance.h"
#include <cstring>
#include <string>

namespace {
// Defines a visible function and variable, and an internal helper whose
// name the other module uses too.
const char *kLib = R"(
.version 8.0
.target sm_75
.address_size 64

.visible .global .align 4 .u32 lib_base = 40;

.func (.param .b32 r) helper(.param .b32 x)
{
  .reg .b32 %r<3>;
  ld.param.u32 %r1, [x];
  add.u32 %r2, %r1, 1000;
  st.param.b32 [r], %r2;
  ret;
}

.visible .func (.param .b32 r) lib_twice(.param .b32 x)
{
  .reg .b32 %r<4>;
  ld.param.u32 %r1, [x];
  shl.b32 %r2, %r1, 1;
  ld.global.u32 %r3, [lib_base];
  add.u32 %r2, %r2, %r3;
  st.param.b32 [r], %r2;
  ret;
}
)";

// Uses them through .extern declarations; its own `helper` is different.
const char *kMain = R"(
.version 8.0
.target sm_75
.address_size 64

.extern .global .align 4 .u32 lib_base;
.extern .func (.param .b32 r) lib_twice(.param .b32 x);

.func (.param .b32 r) helper(.param .b32 x)
{
  .reg .b32 %r<3>;
  ld.param.u32 %r1, [x];
  add.u32 %r2, %r1, 7;
  st.param.b32 [r], %r2;
  ret;
}

.visible .entry use(.param .u64 out)
{
  .reg .b32 %r<6>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [out];
  cvta.to.global.u64 %rd2, %rd1;
  mov.u32 %r1, 1;
  {
    .param .b32 a;
    .param .b32 b;
    st.param.b32 [a], %r1;
    call.uni (b), lib_twice, (a);
    ld.param.b32 %r2, [b];
  }
  {
    .param .b32 a;
    .param .b32 b;
    st.param.b32 [a], %r2;
    call.uni (b), helper, (a);
    ld.param.b32 %r3, [b];
  }
  ld.global.u32 %r4, [lib_base];
  st.global.u32 [%rd2], %r3;
  st.global.u32 [%rd2+4], %r4;
  ret;
}
)";

struct Logs {
  char info[4096] = {}, err[4096] = {};
  float wall = -1;
  CUjit_option opts[5] = {CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES, CU_JIT_ERROR_LOG_BUFFER,
                          CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES, CU_JIT_WALL_TIME};
  void *vals[5] = {info, reinterpret_cast<void *>(sizeof info), err, reinterpret_cast<void *>(sizeof err),
                   nullptr};
  float wallTime() const {
    float f;
    std::memcpy(&f, &vals[4], sizeof f);
    return f;
  }
};

CUresult addPtx(CUlinkState s, const char *ptx, const char *name) {
  return cuLinkAddData(s, CU_JIT_INPUT_PTX, const_cast<char *>(ptx), std::strlen(ptx) + 1, name, 0, nullptr,
                       nullptr);
}
} // namespace

TEST_CASE("cuLink: two PTX modules resolve each other's externs and run") {
  ContextFixture f;
  Logs logs;
  CUlinkState s = nullptr;
  REQUIRE(cuLinkCreate(5, logs.opts, logs.vals, &s) == CUDA_SUCCESS);
  REQUIRE(addPtx(s, kMain, "main.ptx") == CUDA_SUCCESS);
  REQUIRE(addPtx(s, kLib, "lib.ptx") == CUDA_SUCCESS);
  void *image = nullptr;
  size_t size = 0;
  REQUIRE(cuLinkComplete(s, &image, &size) == CUDA_SUCCESS);
  CHECK(size > 0);
  CHECK(std::string(logs.err).empty());
  CHECK(std::string(logs.info).find("linked 2 PTX module") != std::string::npos);
  CHECK(reinterpret_cast<size_t>(logs.vals[1]) == std::strlen(logs.info));
  CHECK(logs.wallTime() >= 0.0f);

  CUmodule mod = nullptr;
  REQUIRE(cuModuleLoadData(&mod, image) == CUDA_SUCCESS);
  CHECK(cuLinkDestroy(s) == CUDA_SUCCESS); // the module keeps its own copy
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod, "use") == CUDA_SUCCESS);
  CUdeviceptr base = 0;
  size_t bytes = 0;
  REQUIRE(cuModuleGetGlobal(&base, &bytes, mod, "lib_base") == CUDA_SUCCESS);
  CHECK(bytes == 4);
  unsigned newBase = 100;
  REQUIRE(cuMemcpyHtoD(base, &newBase, sizeof newBase) == CUDA_SUCCESS);
  CUdeviceptr out = 0;
  REQUIRE(cuMemAlloc(&out, 8) == CUDA_SUCCESS);
  void *args[] = {&out};
  REQUIRE(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr) == CUDA_SUCCESS);
  unsigned host[2] = {};
  REQUIRE(cuMemcpyDtoH(host, out, sizeof host) == CUDA_SUCCESS);
  // lib_twice(1) = 2 + lib_base (100); then main's helper adds 7, not 1000
  CHECK(host[0] == 109);
  CHECK(host[1] == 100);
  cuMemFree(out);
  CHECK(cuModuleUnload(mod) == CUDA_SUCCESS);
}

TEST_CASE("cuLink: an undefined reference names the symbol") {
  ContextFixture f;
  Logs logs;
  CUlinkState s = nullptr;
  REQUIRE(cuLinkCreate(5, logs.opts, logs.vals, &s) == CUDA_SUCCESS);
  REQUIRE(addPtx(s, kMain, "main.ptx") == CUDA_SUCCESS);
  void *image = nullptr;
  size_t size = 0;
  CHECK(cuLinkComplete(s, &image, &size) == CUDA_ERROR_NOT_FOUND);
  std::string err = logs.err;
  CHECK(err.find("Undefined reference to 'lib_twice' in 'main.ptx'") != std::string::npos);
  CHECK(err.find("lib_base") != std::string::npos);
  CHECK(cuLinkDestroy(s) == CUDA_SUCCESS);
}

TEST_CASE("cuLink: a symbol defined twice is an error") {
  ContextFixture f;
  Logs logs;
  CUlinkState s = nullptr;
  REQUIRE(cuLinkCreate(4, logs.opts, logs.vals, &s) == CUDA_SUCCESS);
  REQUIRE(addPtx(s, kLib, "a.ptx") == CUDA_SUCCESS);
  REQUIRE(addPtx(s, kLib, "b.ptx") == CUDA_SUCCESS);
  void *image = nullptr;
  size_t size = 0;
  CHECK(cuLinkComplete(s, &image, &size) == CUDA_ERROR_INVALID_PTX);
  CHECK(std::string(logs.err).find("Multiple definition of 'lib_twice' in 'b.ptx'") != std::string::npos);
  CHECK(cuLinkDestroy(s) == CUDA_SUCCESS);
}

TEST_CASE("cuLink: bad input and bad arguments") {
  ContextFixture f;
  Logs logs;
  CUlinkState s = nullptr;
  CHECK(cuLinkCreate(0, nullptr, nullptr, nullptr) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuLinkCreate(2, nullptr, nullptr, &s) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuLinkCreate(4, logs.opts, logs.vals, &s) == CUDA_SUCCESS);
  const char bad[] = ".version 8.0\n.target sm_75\n.address_size 64\n.visible .entry k() { frobnicate; }\n";
  CHECK(addPtx(s, bad, "bad.ptx") == CUDA_ERROR_INVALID_PTX);
  CHECK(std::string(logs.err).find("bad.ptx") != std::string::npos);
  CHECK(cuLinkAddData(s, CU_JIT_INPUT_PTX, nullptr, 10, "x", 0, nullptr, nullptr) ==
        CUDA_ERROR_INVALID_VALUE);
  char junk[64] = "not a fatbin at all";
  CHECK(cuLinkAddData(s, CU_JIT_INPUT_FATBINARY, junk, sizeof junk, "junk", 0, nullptr, nullptr) ==
        CUDA_ERROR_INVALID_IMAGE);
  CHECK(cuLinkAddData(s, CU_JIT_INPUT_OBJECT, junk, sizeof junk, "junk.o", 0, nullptr, nullptr) ==
        CUDA_ERROR_INVALID_IMAGE);
  CHECK(cuLinkAddData(s, CU_JIT_INPUT_NVVM, junk, sizeof junk, "x.ltoir", 0, nullptr, nullptr) ==
        CUDA_ERROR_NOT_SUPPORTED);
  CHECK(cuLinkAddFile(s, CU_JIT_INPUT_PTX, "/nonexistent/x.ptx", 0, nullptr, nullptr) ==
        CUDA_ERROR_FILE_NOT_FOUND);
  void *image = nullptr;
  size_t size = 0;
  CHECK(cuLinkComplete(s, nullptr, &size) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuLinkComplete(s, &image, &size) == CUDA_ERROR_INVALID_VALUE); // nothing was added
  CHECK(cuLinkDestroy(s) == CUDA_SUCCESS);
  CHECK(cuLinkDestroy(s) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(addPtx(s, kLib, "lib.ptx") == CUDA_ERROR_INVALID_HANDLE);
}

namespace {
// libcudadevrt.a's calls into the driver's device runtime (numba-cuda's
// cooperative groups link the library): cuvirt supplies them, failing with
// cudaErrorNotSupported (801) / a null buffer, since it has no device-side
// launches.
const char *kDevrtUser = R"(
.version 8.0
.target sm_75
.address_size 64
.extern .func (.param .b32 func_retval0) cnpStreamCreate(.param .b64 p0, .param .b32 p1);
.extern .func (.param .b64 func_retval0) cnpGetParameterBufferV2(.param .b64 p0, .param .align 4 .b8 p1[12], .param .align 4 .b8 p2[12], .param .b32 p3);

.visible .entry devrt(.param .u64 out)
{
  .reg .b32 %r<2>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [out];
  {
  .param .b64 a0;
  st.param.b64 [a0+0], %rd1;
  .param .b32 a1;
  st.param.b32 [a1+0], 1;
  .param .b32 r;
  call.uni (r), cnpStreamCreate, (a0, a1);
  ld.param.b32 %r1, [r+0];
  }
  st.global.u32 [%rd1], %r1;
  {
  .param .b64 b0;
  st.param.b64 [b0+0], %rd1;
  .param .align 4 .b8 b1[12];
  st.param.b32 [b1+0], 1;
  .param .align 4 .b8 b2[12];
  st.param.b32 [b2+0], 1;
  .param .b32 b3;
  st.param.b32 [b3+0], 0;
  .param .b64 r2;
  call.uni (r2), cnpGetParameterBufferV2, (b0, b1, b2, b3);
  ld.param.b64 %rd2, [r2+0];
  }
  st.global.u64 [%rd1+8], %rd2;
  ret;
}
)";
} // namespace

TEST_CASE("cuLink: the device runtime's cnp* functions link and report cudaErrorNotSupported") {
  ContextFixture f;
  Logs logs;
  CUlinkState s = nullptr;
  REQUIRE(cuLinkCreate(5, logs.opts, logs.vals, &s) == CUDA_SUCCESS);
  REQUIRE(addPtx(s, kDevrtUser, "devrt_user.ptx") == CUDA_SUCCESS);
  void *image = nullptr;
  size_t size = 0;
  REQUIRE(cuLinkComplete(s, &image, &size) == CUDA_SUCCESS);
  CHECK(std::string(logs.err).empty());
  CHECK(std::string(logs.info).find("cnpStreamCreate") != std::string::npos);
  CUmodule mod = nullptr;
  REQUIRE(cuModuleLoadData(&mod, image) == CUDA_SUCCESS);
  CHECK(cuLinkDestroy(s) == CUDA_SUCCESS);
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod, "devrt") == CUDA_SUCCESS);
  CUdeviceptr out = 0;
  REQUIRE(cuMemAlloc(&out, 16) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD8(out, 0xff, 16) == CUDA_SUCCESS);
  void *args[] = {&out};
  REQUIRE(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr) == CUDA_SUCCESS);
  unsigned long long host[2] = {};
  REQUIRE(cuMemcpyDtoH(host, out, sizeof host) == CUDA_SUCCESS);
  CHECK((host[0] & 0xffffffffu) == 801); // cudaErrorNotSupported
  CHECK(host[1] == 0);
  cuMemFree(out);
  CHECK(cuModuleUnload(mod) == CUDA_SUCCESS);
}

namespace {
// libcudadevrt's cooperative-groups syscalls (cudaCGSynchronize and friends,
// numba-cuda's this_grid().sync()): real in a cooperative launch (a grid
// barrier, the grid's size and ranks), a null handle and errors otherwise.
// out[5 * thread] = {handle != 0, sync's result, arrivals seen after the
// sync, size, rank}.
const char *kCgsUser = R"(
.version 8.0
.target sm_75
.address_size 64
.extern .func (.param .b64 func_retval0) __cuda_syscall_CGS_get_intrinsic_handle(.param .b32 p0);
.extern .func (.param .b32 func_retval0) __cuda_syscall_CGS_sync(.param .b64 p0, .param .b32 p1);
.extern .func (.param .b32 func_retval0) __cuda_syscall_CGS_get_size(.param .b64 p0, .param .b64 p1, .param .b64 p2);
.extern .func (.param .b32 func_retval0) __cuda_syscall_CGS_get_rank(.param .b64 p0, .param .b64 p1, .param .b64 p2);

.visible .entry cgs(.param .u64 out, .param .u64 count)
{
  .reg .pred %p<2>;
  .reg .b32 %r<10>;
  .reg .b64 %rd<10>;
  ld.param.u64 %rd1, [out];
  ld.param.u64 %rd2, [count];
  mov.u32 %r1, %ctaid.x;
  mov.u32 %r2, %ntid.x;
  mov.u32 %r3, %tid.x;
  mad.lo.u32 %r4, %r1, %r2, %r3;
  mul.wide.u32 %rd3, %r4, 20;
  add.s64 %rd4, %rd1, %rd3;
  mov.u64 %rd8, 0;
  {
  .param .b32 a0;
  st.param.b32 [a0+0], 1;
  .param .b64 r0;
  call.uni (r0), __cuda_syscall_CGS_get_intrinsic_handle, (a0);
  ld.param.b64 %rd5, [r0+0];
  }
  setp.ne.s64 %p1, %rd5, 0;
  selp.u32 %r5, 1, 0, %p1;
  st.global.u32 [%rd4], %r5;
  atom.global.add.u32 %r6, [%rd2], 1;
  {
  .param .b64 b0;
  st.param.b64 [b0+0], %rd5;
  .param .b32 b1;
  st.param.b32 [b1+0], 0;
  .param .b32 r1;
  call.uni (r1), __cuda_syscall_CGS_sync, (b0, b1);
  ld.param.b32 %r7, [r1+0];
  }
  st.global.u32 [%rd4+4], %r7;
  ld.volatile.global.u32 %r8, [%rd2];
  st.global.u32 [%rd4+8], %r8;
  add.s64 %rd6, %rd4, 12;
  add.s64 %rd7, %rd4, 16;
  {
  .param .b64 c0;
  st.param.b64 [c0+0], %rd6;
  .param .b64 c1;
  st.param.b64 [c1+0], %rd8;
  .param .b64 c2;
  st.param.b64 [c2+0], %rd5;
  .param .b32 r2;
  call.uni (r2), __cuda_syscall_CGS_get_size, (c0, c1, c2);
  }
  {
  .param .b64 d0;
  st.param.b64 [d0+0], %rd7;
  .param .b64 d1;
  st.param.b64 [d1+0], %rd8;
  .param .b64 d2;
  st.param.b64 [d2+0], %rd5;
  .param .b32 r3;
  call.uni (r3), __cuda_syscall_CGS_get_rank, (d0, d1, d2);
  }
  ret;
}
)";
} // namespace

TEST_CASE("cuLink: the device runtime's cooperative-groups syscalls sync a cooperative grid") {
  ContextFixture f;
  Logs logs;
  CUlinkState s = nullptr;
  REQUIRE(cuLinkCreate(5, logs.opts, logs.vals, &s) == CUDA_SUCCESS);
  REQUIRE(addPtx(s, kCgsUser, "cgs_user.ptx") == CUDA_SUCCESS);
  void *image = nullptr;
  size_t size = 0;
  REQUIRE(cuLinkComplete(s, &image, &size) == CUDA_SUCCESS);
  CHECK(std::string(logs.err).empty());
  CUmodule mod = nullptr;
  REQUIRE(cuModuleLoadData(&mod, image) == CUDA_SUCCESS);
  CHECK(cuLinkDestroy(s) == CUDA_SUCCESS);
  CUfunction fn = nullptr;
  REQUIRE(cuModuleGetFunction(&fn, mod, "cgs") == CUDA_SUCCESS);
  constexpr unsigned kBlocks = 2, kThreads = 4, kN = kBlocks * kThreads;
  CUdeviceptr out = 0, count = 0;
  REQUIRE(cuMemAlloc(&out, kN * 5 * 4) == CUDA_SUCCESS);
  REQUIRE(cuMemAlloc(&count, 4) == CUDA_SUCCESS);
  void *args[] = {&out, &count};
  unsigned host[kN * 5] = {};
  for (bool cooperative : {true, false}) {
    CAPTURE(cooperative);
    REQUIRE(cuMemsetD8(out, 0xff, kN * 5 * 4) == CUDA_SUCCESS);
    REQUIRE(cuMemsetD8(count, 0, 4) == CUDA_SUCCESS);
    REQUIRE((cooperative ? cuLaunchCooperativeKernel(fn, kBlocks, 1, 1, kThreads, 1, 1, 0, nullptr, args)
                         : cuLaunchKernel(fn, kBlocks, 1, 1, kThreads, 1, 1, 0, nullptr, args, nullptr)) ==
            CUDA_SUCCESS);
    REQUIRE(cuMemcpyDtoH(host, out, sizeof host) == CUDA_SUCCESS);
    for (unsigned t = 0; t < kN; ++t) {
      CAPTURE(t);
      const unsigned *o = host + 5 * t;
      if (cooperative) {
        CHECK(o[0] == 1);  // a grid handle
        CHECK(o[1] == 0);  // synced
        CHECK(o[2] == kN); // every thread arrived before any went on
        CHECK(o[3] == kN);
        CHECK(o[4] == t);
      } else {
        CHECK(o[0] == 0);           // no grid: a null handle
        CHECK(o[1] == 999);         // cudaErrorUnknown, as libcudadevrt's own null-handle answer
        CHECK(o[3] == 0xffffffffu); // nothing written
        CHECK(o[4] == 0xffffffffu);
      }
    }
  }
  cuMemFree(out);
  cuMemFree(count);
  CHECK(cuModuleUnload(mod) == CUDA_SUCCESS);
}
