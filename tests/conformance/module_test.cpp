#include "conformance.h"
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
