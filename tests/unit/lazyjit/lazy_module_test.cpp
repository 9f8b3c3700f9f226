// Lazy per-kernel compilation on the CPU device, through the runtime (linked
// whole): only launched kernels are compiled, kernels of one module share its
// variables, the disk cache is per kernel, malformed PTX still fails at load.
// Observed through the JIT's counters, never through timing.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "cuvirt_api.h"
#include "translate/cpu/jit/engine.h"
#include <cstdlib>
#include <doctest.h>
#include <filesystem>
#include <fmt/format.h>
#include <string>
#include <thread>
#include <unistd.h>

using namespace cuvirt;

namespace {

constexpr int kKernels = 24;

// k0..k23 each call the shared device function addone; put/get share the
// module variable g_value; sh uses a .shared variable through a function.
std::string manyKernels(const std::string &extra = "") {
  std::string p = R"(.version 8.0
.target sm_75
.address_size 64

.global .align 4 .u32 g_value = 5;
.shared .align 4 .u32 s_tmp;

.func (.param .b32 retval) addone(.param .b32 x)
{
  .reg .b32 %r<3>;
  ld.param.b32 %r1, [x];
  add.s32 %r2, %r1, 1;
  st.param.b32 [retval], %r2;
  ret;
}

.func viashared(.param .b32 x)
{
  .reg .b32 %r<2>;
  ld.param.b32 %r1, [x];
  st.shared.u32 [s_tmp], %r1;
  ret;
}
)";
  for (int i = 0; i < kKernels; ++i)
    p += fmt::format(R"(
.visible .entry k{0}(.param .u64 out)
{{
  .reg .b32 %r<3>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [out];
  cvta.to.global.u64 %rd2, %rd1;
  mov.u32 %r1, {0};
  {{
  .param .b32 p0;
  st.param.b32 [p0], %r1;
  .param .b32 r0;
  call.uni (r0), addone, (p0);
  ld.param.b32 %r2, [r0];
  }}
  st.global.u32 [%rd2], %r2;
  ret;
}}
)",
                     i);
  p += R"(
.visible .entry put(.param .u32 v)
{
  .reg .b32 %r<2>;
  ld.param.u32 %r1, [v];
  st.global.u32 [g_value], %r1;
  ret;
}

.visible .entry get(.param .u64 out)
{
  .reg .b32 %r<2>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [out];
  cvta.to.global.u64 %rd2, %rd1;
  ld.global.u32 %r1, [g_value];
  st.global.u32 [%rd2], %r1;
  ret;
}

.visible .entry sh(.param .u64 out)
{
  .reg .b32 %r<3>;
  .reg .b64 %rd<3>;
  ld.param.u64 %rd1, [out];
  cvta.to.global.u64 %rd2, %rd1;
  mov.u32 %r1, 77;
  {
  .param .b32 p0;
  st.param.b32 [p0], %r1;
  call.uni viashared, (p0);
  }
  bar.sync 0;
  ld.shared.u32 %r2, [s_tmp];
  st.global.u32 [%rd2], %r2;
  ret;
}
)";
  return p + extra;
}

struct Fixture {
  CUcontext ctx = nullptr;
  Fixture() {
    REQUIRE(api::cuInit(0) == CUDA_SUCCESS);
    REQUIRE(api::cuDevicePrimaryCtxRetain(&ctx, 0) == CUDA_SUCCESS);
    REQUIRE(api::cuCtxSetCurrent(ctx) == CUDA_SUCCESS);
  }
  ~Fixture() { api::cuDevicePrimaryCtxRelease_v2(0); }
};

struct DeviceInt {
  CUdeviceptr p = 0;
  DeviceInt() { REQUIRE(api::cuMemAlloc_v2(&p, 4) == CUDA_SUCCESS); }
  ~DeviceInt() { api::cuMemFree_v2(p); }
  std::uint32_t read() const {
    std::uint32_t v = 0;
    REQUIRE(api::cuMemcpyDtoH_v2(&v, p, 4) == CUDA_SUCCESS);
    return v;
  }
};

CUresult launch(CUmodule m, const char *name, void *arg, CUstream stream = nullptr) {
  CUfunction f = nullptr;
  if (CUresult r = api::cuModuleGetFunction(&f, m, name); r != CUDA_SUCCESS)
    return r;
  void *params[] = {arg};
  if (CUresult r = api::cuLaunchKernel(f, 1, 1, 1, 32, 1, 1, 0, stream, params, nullptr); r != CUDA_SUCCESS)
    return r;
  return stream != nullptr ? api::cuStreamSynchronize(stream) : api::cuCtxSynchronize();
}

struct CacheDir {
  std::filesystem::path dir;
  explicit CacheDir(const char *tag) {
    dir = std::filesystem::temp_directory_path() / fmt::format("cuvirt-lazyjit-{}-{}", tag, ::getpid());
    std::filesystem::remove_all(dir);
    ::setenv("CUVIRT_JIT_CACHE", dir.c_str(), 1);
  }
  ~CacheDir() {
    ::setenv("CUVIRT_JIT_CACHE", "off", 1);
    std::filesystem::remove_all(dir);
  }
};

} // namespace

TEST_CASE("only the launched kernel of a many-kernel module is compiled") {
  Fixture fx;
  ::setenv("CUVIRT_JIT_CACHE", "off", 1);
  const std::string ptx = manyKernels();
  auto before = cpu::jit::jitStats();
  CUmodule m = nullptr;
  REQUIRE(api::cuModuleLoadData(&m, ptx.c_str()) == CUDA_SUCCESS);
  // Getting every function (as CuPy does) compiles nothing.
  for (int i = 0; i < kKernels; ++i) {
    CUfunction f = nullptr;
    REQUIRE(api::cuModuleGetFunction(&f, m, fmt::format("k{}", i).c_str()) == CUDA_SUCCESS);
    CUfunctionLoadingState state{};
    REQUIRE(api::cuFuncIsLoaded(&state, f) == CUDA_SUCCESS);
    CHECK(state == CU_FUNCTION_LOADING_STATE_UNLOADED);
  }
  CHECK(cpu::jit::jitStats().kernelsCompiled == before.kernelsCompiled);
  DeviceInt out;
  REQUIRE(launch(m, "k17", &out.p) == CUDA_SUCCESS);
  CHECK(out.read() == 18);
  auto one = cpu::jit::jitStats();
  CHECK(one.kernelsCompiled == before.kernelsCompiled + 1);
  CHECK(one.codegens == before.codegens + 1);
  // Launching it again compiles nothing; another kernel compiles just itself.
  REQUIRE(launch(m, "k17", &out.p) == CUDA_SUCCESS);
  CHECK(cpu::jit::jitStats().kernelsCompiled == one.kernelsCompiled);
  REQUIRE(launch(m, "k3", &out.p) == CUDA_SUCCESS);
  CHECK(out.read() == 4);
  CHECK(cpu::jit::jitStats().kernelsCompiled == one.kernelsCompiled + 1);
  // A .shared variable reached through a device function.
  REQUIRE(launch(m, "sh", &out.p) == CUDA_SUCCESS);
  CHECK(out.read() == 77);
  CHECK(api::cuModuleUnload(m) == CUDA_SUCCESS);
}

TEST_CASE("kernels of one module compiled separately share its __device__ variables") {
  Fixture fx;
  ::setenv("CUVIRT_JIT_CACHE", "off", 1);
  const std::string ptx = manyKernels();
  CUmodule m = nullptr;
  REQUIRE(api::cuModuleLoadData(&m, ptx.c_str()) == CUDA_SUCCESS);
  DeviceInt out;
  REQUIRE(launch(m, "get", &out.p) == CUDA_SUCCESS);
  CHECK(out.read() == 5); // the initialiser
  std::uint32_t v = 1234;
  REQUIRE(launch(m, "put", &v) == CUDA_SUCCESS);
  REQUIRE(launch(m, "get", &out.p) == CUDA_SUCCESS);
  CHECK(out.read() == 1234);
  // ... and the host's view of it is the same memory.
  CUdeviceptr g = 0;
  size_t bytes = 0;
  REQUIRE(api::cuModuleGetGlobal_v2(&g, &bytes, m, "g_value") == CUDA_SUCCESS);
  CHECK(bytes == 4);
  std::uint32_t host = 0;
  REQUIRE(api::cuMemcpyDtoH_v2(&host, g, 4) == CUDA_SUCCESS);
  CHECK(host == 1234);
  host = 99;
  REQUIRE(api::cuMemcpyHtoD_v2(g, &host, 4) == CUDA_SUCCESS);
  REQUIRE(launch(m, "get", &out.p) == CUDA_SUCCESS);
  CHECK(out.read() == 99);
  // A second load of the same image has its own variables.
  CUmodule m2 = nullptr;
  REQUIRE(api::cuModuleLoadData(&m2, ptx.c_str()) == CUDA_SUCCESS);
  REQUIRE(launch(m2, "get", &out.p) == CUDA_SUCCESS);
  CHECK(out.read() == 5);
  CHECK(api::cuModuleUnload(m2) == CUDA_SUCCESS);
  CHECK(api::cuModuleUnload(m) == CUDA_SUCCESS);
}

TEST_CASE("two streams launching two kernels of one module at once") {
  Fixture fx;
  ::setenv("CUVIRT_JIT_CACHE", "off", 1);
  const std::string ptx = manyKernels();
  CUmodule m = nullptr;
  REQUIRE(api::cuModuleLoadData(&m, ptx.c_str()) == CUDA_SUCCESS);
  auto before = cpu::jit::jitStats();
  DeviceInt a, b;
  CUresult ra = CUDA_ERROR_UNKNOWN, rb = CUDA_ERROR_UNKNOWN;
  auto run = [&](const char *name, DeviceInt *out, CUresult *r) {
    (void)api::cuCtxSetCurrent(fx.ctx);
    CUstream s = nullptr;
    if (api::cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) != CUDA_SUCCESS)
      return;
    *r = launch(m, name, &out->p, s);
    (void)api::cuStreamDestroy_v2(s);
  };
  std::thread t1(run, "k5", &a, &ra), t2(run, "k9", &b, &rb);
  t1.join();
  t2.join();
  CHECK(ra == CUDA_SUCCESS);
  CHECK(rb == CUDA_SUCCESS);
  CHECK(a.read() == 6);
  CHECK(b.read() == 10);
  CHECK(cpu::jit::jitStats().kernelsCompiled == before.kernelsCompiled + 2);
  CHECK(api::cuModuleUnload(m) == CUDA_SUCCESS);
}

TEST_CASE("the disk cache is per kernel: a second run compiles nothing") {
  Fixture fx;
  CacheDir cache("cache");
  const std::string ptx = manyKernels();
  DeviceInt out;
  auto s0 = cpu::jit::jitStats();
  {
    CUmodule m = nullptr;
    REQUIRE(api::cuModuleLoadData(&m, ptx.c_str()) == CUDA_SUCCESS);
    REQUIRE(launch(m, "k11", &out.p) == CUDA_SUCCESS);
    CHECK(out.read() == 12);
    CHECK(api::cuModuleUnload(m) == CUDA_SUCCESS);
  }
  auto s1 = cpu::jit::jitStats();
  CHECK(s1.kernelsCompiled == s0.kernelsCompiled + 1);
  CHECK(s1.kernelsCached == s0.kernelsCached);
  {
    CUmodule m = nullptr;
    REQUIRE(api::cuModuleLoadData(&m, ptx.c_str()) == CUDA_SUCCESS);
    REQUIRE(launch(m, "k11", &out.p) == CUDA_SUCCESS);
    CHECK(out.read() == 12);
    auto s2 = cpu::jit::jitStats();
    CHECK(s2.kernelsCompiled == s1.kernelsCompiled); // from the cache
    CHECK(s2.kernelsCached == s1.kernelsCached + 1);
    // a kernel not compiled before is still compiled (its own entry)
    REQUIRE(launch(m, "k12", &out.p) == CUDA_SUCCESS);
    CHECK(out.read() == 13);
    CHECK(cpu::jit::jitStats().kernelsCompiled == s2.kernelsCompiled + 1);
    CHECK(api::cuModuleUnload(m) == CUDA_SUCCESS);
  }
}

TEST_CASE("malformed PTX in a kernel never launched still fails at load, with line:column") {
  Fixture fx;
  ::setenv("CUVIRT_JIT_CACHE", "off", 1);
  const std::string good = manyKernels();
  const auto badLine = std::count(good.begin(), good.end(), '\n') + 4; // the bogus line
  const std::string ptx = good + "\n.visible .entry broken()\n{\n  bogus.u32 %r1;\n  ret;\n}\n";
  char errors[1024] = {};
  CUjit_option opts[] = {CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES};
  void *values[] = {errors, reinterpret_cast<void *>(std::uintptr_t(sizeof errors))};
  CUmodule m = nullptr;
  CHECK(api::cuModuleLoadDataEx(&m, ptx.c_str(), 2, opts, values) == CUDA_ERROR_INVALID_PTX);
  INFO(errors);
  CHECK(std::string(errors).find(fmt::format("{}:3:", badLine)) != std::string::npos);
}
