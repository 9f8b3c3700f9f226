// Cooperative launches through the driver API: the device attribute, the
// grid workspace behind %envreg1:%envreg2, all blocks resident at once (a
// hand-written grid barrier), and the errors.
#include "conformance.h"
#include <cstdint>
#include <vector>

namespace {
// Each block (one thread): out[4b..4b+3] = {workspace != 0, the arrival count
// it saw after spinning until every block arrived, the workspace's barrier
// word, its size word}. Without a workspace it only writes 0 and returns.
const char *kPtx = R"(
.version 8.0
.target sm_75
.address_size 64

.visible .entry gridsync(.param .u64 out, .param .u64 counter)
{
  .reg .b32 %r<10>;
  .reg .b64 %rd<10>;
  .reg .pred %p<3>;
  mov.u32 %r1, %envreg1;
  mov.u32 %r2, %envreg2;
  cvt.u64.u32 %rd1, %r1;
  shl.b64 %rd1, %rd1, 32;
  cvt.u64.u32 %rd2, %r2;
  or.b64 %rd3, %rd1, %rd2;
  ld.param.u64 %rd4, [out];
  ld.param.u64 %rd5, [counter];
  mov.u32 %r3, %ctaid.x;
  mov.u32 %r4, %nctaid.x;
  mul.wide.u32 %rd6, %r3, 16;
  add.s64 %rd7, %rd4, %rd6;
  setp.ne.u64 %p1, %rd3, 0;
  selp.u32 %r5, 1, 0, %p1;
  st.global.u32 [%rd7], %r5;
  @!%p1 bra DONE;
  ld.global.u32 %r8, [%rd3+4];
  st.global.u32 [%rd7+8], %r8;
  ld.global.u32 %r9, [%rd3];
  st.global.u32 [%rd7+12], %r9;
  atom.global.add.u32 %r6, [%rd5], 1;
SPIN:
  ld.acquire.gpu.global.u32 %r7, [%rd5];
  setp.lt.u32 %p2, %r7, %r4;
  @%p2 bra SPIN;
  st.global.u32 [%rd7+4], %r7;
DONE:
  ret;
}
)";

struct Grid {
  CUmodule mod = nullptr;
  CUfunction fn = nullptr;
  CUdeviceptr out = 0, counter = 0;
  Grid() {
    REQUIRE(cuModuleLoadData(&mod, kPtx) == CUDA_SUCCESS);
    REQUIRE(cuModuleGetFunction(&fn, mod, "gridsync") == CUDA_SUCCESS);
    REQUIRE(cuMemAlloc(&out, 16 * 64) == CUDA_SUCCESS);
    REQUIRE(cuMemAlloc(&counter, 4) == CUDA_SUCCESS);
  }
  ~Grid() {
    cuMemFree(out);
    cuMemFree(counter);
    cuModuleUnload(mod);
  }
  void reset() {
    REQUIRE(cuMemsetD32(out, 0xdeadbeef, 4 * 64) == CUDA_SUCCESS);
    REQUIRE(cuMemsetD32(counter, 0, 1) == CUDA_SUCCESS);
  }
  std::vector<std::uint32_t> result(unsigned blocks) {
    std::vector<std::uint32_t> v(4 * blocks);
    REQUIRE(cuMemcpyDtoH(v.data(), out, v.size() * 4) == CUDA_SUCCESS);
    return v;
  }
};
} // namespace

TEST_CASE("cooperative launch: attribute, workspace, all blocks resident, errors") {
  ContextFixture f;
  int coop = -1, multi = -1, sms = 0;
  REQUIRE(cuDeviceGetAttribute(&coop, CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, 0) == CUDA_SUCCESS);
  REQUIRE(cuDeviceGetAttribute(&multi, CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH, 0) ==
          CUDA_SUCCESS);
  REQUIRE(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0) == CUDA_SUCCESS);
  CHECK(coop == 1);
  CHECK(multi == 0);

  Grid g;
  int perSm = 0;
  REQUIRE(cuOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, g.fn, 1, 0) == CUDA_SUCCESS);
  const unsigned fit = unsigned(perSm * sms);
  REQUIRE(fit >= 2);
  const unsigned blocks = fit < 8 ? fit : 8;
  void *args[] = {&g.out, &g.counter};

  // cuLaunchCooperativeKernel: every block sees a zeroed workspace and all
  // blocks arrive (a plain launch could leave the spinners alone on the pool)
  g.reset();
  REQUIRE(cuLaunchCooperativeKernel(g.fn, blocks, 1, 1, 1, 1, 1, 0, nullptr, args) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
  auto r = g.result(blocks);
  for (unsigned b = 0; b < blocks; ++b) {
    INFO("block ", b);
    CHECK(r[4 * b] == 1u);
    CHECK(r[4 * b + 1] == blocks);
    CHECK(r[4 * b + 2] == 0u); // the barrier word starts at zero
    CHECK(r[4 * b + 3] != 0u); // the size word is set
  }

  // cuLaunchKernelEx with CU_LAUNCH_ATTRIBUTE_COOPERATIVE
  g.reset();
  CUlaunchAttribute attr{};
  attr.id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE;
  attr.value.cooperative = 1;
  CUlaunchConfig cfg{};
  cfg.gridDimX = blocks;
  cfg.gridDimY = cfg.gridDimZ = 1;
  cfg.blockDimX = cfg.blockDimY = cfg.blockDimZ = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  REQUIRE(cuLaunchKernelEx(&cfg, g.fn, args, nullptr) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
  r = g.result(blocks);
  for (unsigned b = 0; b < blocks; ++b) {
    CHECK(r[4 * b] == 1u);
    CHECK(r[4 * b + 1] == blocks);
  }

  // a plain launch has no workspace (this_grid().is_valid() is false)
  g.reset();
  REQUIRE(cuLaunchKernel(g.fn, 2, 1, 1, 1, 1, 1, 0, nullptr, args, nullptr) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
  r = g.result(2);
  CHECK(r[0] == 0u);
  CHECK(r[4] == 0u);
  CHECK(r[1] == 0xdeadbeefu);

  // more blocks than fit at once; a bad shape; the deprecated multi-device form
  CHECK(cuLaunchCooperativeKernel(g.fn, fit + 1, 1, 1, 1, 1, 1, 0, nullptr, args) ==
        CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE);
  cfg.gridDimX = fit + 1;
  CHECK(cuLaunchKernelEx(&cfg, g.fn, args, nullptr) == CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE);
  CHECK(cuLaunchCooperativeKernel(g.fn, 0, 1, 1, 1, 1, 1, 0, nullptr, args) == CUDA_ERROR_INVALID_VALUE);
  CUDA_LAUNCH_PARAMS lp{};
  lp.function = g.fn;
  lp.gridDimX = lp.gridDimY = lp.gridDimZ = 1;
  lp.blockDimX = lp.blockDimY = lp.blockDimZ = 1;
  lp.kernelParams = args;
  CHECK(cuLaunchCooperativeKernelMultiDevice(&lp, 1, 0) == CUDA_ERROR_NOT_SUPPORTED);
  // the refused launches left nothing sticky behind
  CHECK(cuCtxSynchronize() == CUDA_SUCCESS);
}
