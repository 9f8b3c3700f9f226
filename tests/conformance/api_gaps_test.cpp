// Smaller driver entry points: cuCtxWaitEvent, cuStreamAttachMemAsync,
// cuMemRangeGetAttributes, batched copies and prefetches, cluster
// occupancy, the legacy launch API and legacy IPC (refused clearly).
#include "conformance.h"
#include <chrono>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

// The legacy launch API is deprecated; testing it is the point.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

namespace {

// p[global id] = v
const char *kAddPtx = R"(
.version 8.0
.target sm_75
.address_size 64
.visible .entry put(.param .u64 p, .param .u32 v)
{
  .reg .b32 %r<6>;
  .reg .b64 %rd<4>;
  ld.param.u64 %rd1, [p];
  ld.param.u32 %r1, [v];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  mul.wide.u32 %rd2, %r5, 4;
  add.s64 %rd3, %rd1, %rd2;
  st.global.u32 [%rd3], %r1;
  ret;
}
.visible .entry other(.param .u64 p)
{
  ret;
}
)";

struct Kernels {
  CUmodule mod = nullptr;
  CUfunction put = nullptr, other = nullptr;
  Kernels() {
    REQUIRE(cuModuleLoadData(&mod, kAddPtx) == CUDA_SUCCESS);
    REQUIRE(cuModuleGetFunction(&put, mod, "put") == CUDA_SUCCESS);
    REQUIRE(cuModuleGetFunction(&other, mod, "other") == CUDA_SUCCESS);
  }
  ~Kernels() { cuModuleUnload(mod); }
};

} // namespace

TEST_CASE("cuCtxWaitEvent: every stream of the context waits for the event") {
  ContextFixture f;
  // The gate word is mapped host memory, so the host can open it directly
  // (every stream of the context, the legacy one too, waits for the gate).
  alignas(8) static std::uint32_t gateWord[2] = {0, 0};
  REQUIRE(cuMemHostRegister(gateWord, sizeof gateWord, CU_MEMHOSTREGISTER_DEVICEMAP) == CUDA_SUCCESS);
  CUdeviceptr gatePtr = 0;
  REQUIRE(cuMemHostGetDevicePointer(&gatePtr, gateWord, 0) == CUDA_SUCCESS);
  CUdeviceptr mem = 0;
  REQUIRE(cuMemAlloc(&mem, 16) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD8(mem, 0, 16) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS); // memsets are asynchronous
  CUstream gate = nullptr, later = nullptr;
  REQUIRE(cuStreamCreate(&gate, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  REQUIRE(cuStreamCreate(&later, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  CUevent e = nullptr;
  REQUIRE(cuEventCreate(&e, CU_EVENT_DISABLE_TIMING) == CUDA_SUCCESS);
  REQUIRE(cuStreamWaitValue32(gate, gatePtr, 1, CU_STREAM_WAIT_VALUE_EQ) == CUDA_SUCCESS);
  REQUIRE(cuEventRecord(e, gate) == CUDA_SUCCESS);
  CHECK(cuCtxWaitEvent(f.ctx, e) == CUDA_SUCCESS);
  REQUIRE(cuStreamWriteValue32(later, mem + 4, 9, 0) == CUDA_SUCCESS);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  CHECK(cuStreamQuery(later) == CUDA_ERROR_NOT_READY);
  __atomic_store_n(&gateWord[0], 1u, __ATOMIC_RELEASE);
  REQUIRE(cuStreamSynchronize(later) == CUDA_SUCCESS);
  std::uint32_t v = 0;
  REQUIRE(cuMemcpyDtoH(&v, mem + 4, 4) == CUDA_SUCCESS);
  CHECK(v == 9);
  CHECK(cuCtxWaitEvent(nullptr, e) == CUDA_ERROR_INVALID_CONTEXT);
  CHECK(cuCtxWaitEvent(f.ctx, reinterpret_cast<CUevent>(&v)) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuEventDestroy(e) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(gate) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(later) == CUDA_SUCCESS);
  CHECK(cuMemFree(mem) == CUDA_SUCCESS);
  CHECK(cuMemHostUnregister(gateWord) == CUDA_SUCCESS);
}

TEST_CASE("cuStreamAttachMemAsync and cuMemRangeGetAttributes on managed memory") {
  ContextFixture f;
  CUdeviceptr m = 0, d = 0;
  REQUIRE(cuMemAllocManaged(&m, 4096, CU_MEM_ATTACH_GLOBAL) == CUDA_SUCCESS);
  REQUIRE(cuMemAlloc(&d, 4096) == CUDA_SUCCESS);
  CUstream s = nullptr;
  REQUIRE(cuStreamCreate(&s, 0) == CUDA_SUCCESS);
  CHECK(cuStreamAttachMemAsync(s, m, 0, CU_MEM_ATTACH_SINGLE) == CUDA_SUCCESS);
  CHECK(cuStreamAttachMemAsync(s, m, 4096, CU_MEM_ATTACH_HOST) == CUDA_SUCCESS);
  CHECK(cuStreamAttachMemAsync(nullptr, m, 0, CU_MEM_ATTACH_GLOBAL) == CUDA_SUCCESS);
  CHECK(cuStreamAttachMemAsync(nullptr, m, 0, CU_MEM_ATTACH_SINGLE) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuStreamAttachMemAsync(s, m, 100, CU_MEM_ATTACH_GLOBAL) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuStreamAttachMemAsync(s, d, 0, CU_MEM_ATTACH_GLOBAL) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuStreamAttachMemAsync(s, m, 0, 0x10) == CUDA_ERROR_INVALID_VALUE);
  // The attached memory is still usable from the host and the stream.
  REQUIRE(cuMemsetD32Async(m, 5, 1024, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(reinterpret_cast<std::uint32_t *>(m)[1023] == 5);

  int readMostly = 7, lastPrefetch = 7;
  void *data[] = {&readMostly, &lastPrefetch};
  size_t sizes[] = {sizeof readMostly, sizeof lastPrefetch};
  CUmem_range_attribute attrs[] = {CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY,
                                   CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION};
  CHECK(cuMemRangeGetAttributes(data, sizes, attrs, 2, m, 4096) == CUDA_SUCCESS);
  CHECK(readMostly == 0);
  CHECK(lastPrefetch == CU_DEVICE_INVALID);
  CHECK(cuMemRangeGetAttributes(data, sizes, attrs, 0, m, 4096) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemRangeGetAttributes(nullptr, sizes, attrs, 2, m, 4096) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemRangeGetAttributes(data, sizes, attrs, 2, d, 4096) == CUDA_ERROR_INVALID_VALUE);

  // Batched prefetches.
  CUdeviceptr ptrs[] = {m, m + 2048};
  size_t lens[] = {2048, 2048};
  CUmemLocation loc{CU_MEM_LOCATION_TYPE_DEVICE, 0};
  size_t locIdx[] = {0};
  CHECK(cuMemPrefetchBatchAsync(ptrs, lens, 2, &loc, locIdx, 1, 0, s) == CUDA_SUCCESS);
  CHECK(cuMemPrefetchBatchAsync(ptrs, lens, 2, &loc, locIdx, 1, 1, s) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemPrefetchBatchAsync(ptrs, lens, 2, &loc, locIdx, 3, 0, s) == CUDA_ERROR_INVALID_VALUE);
  CUdeviceptr bad[] = {m, d};
  CHECK(cuMemPrefetchBatchAsync(bad, lens, 2, &loc, locIdx, 1, 0, s) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(s) == CUDA_SUCCESS);
  CHECK(cuMemFree(m) == CUDA_SUCCESS);
  CHECK(cuMemFree(d) == CUDA_SUCCESS);
}

TEST_CASE("batched copies: cuMemcpyBatchAsync and cuMemcpy3DBatchAsync") {
  ContextFixture f;
  CUdeviceptr d = 0;
  REQUIRE(cuMemAlloc(&d, 4096) == CUDA_SUCCESS);
  CUstream s = nullptr;
  REQUIRE(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  std::vector<std::uint8_t> a(100, 1), b(200, 2), c(300, 3);
  CUdeviceptr dsts[] = {d, d + 1000, d + 2000};
  CUdeviceptr srcs[] = {reinterpret_cast<CUdeviceptr>(a.data()), reinterpret_cast<CUdeviceptr>(b.data()),
                        reinterpret_cast<CUdeviceptr>(c.data())};
  size_t sizes[] = {100, 200, 300};
  CUmemcpyAttributes attr[2] = {};
  attr[0].srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
  attr[1].srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_DURING_API_CALL;
  size_t idx[] = {0, 2};
  REQUIRE(cuMemcpyBatchAsync(dsts, srcs, sizes, 3, attr, idx, 2, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  std::vector<std::uint8_t> back(4096);
  REQUIRE(cuMemcpyDtoH(back.data(), d, 4096) == CUDA_SUCCESS);
  CHECK(back[99] == 1);
  CHECK(back[1199] == 2);
  CHECK(back[2299] == 3);
  CHECK(cuMemcpyBatchAsync(dsts, srcs, sizes, 3, attr, idx, 2, nullptr) ==
        CUDA_ERROR_INVALID_VALUE); // legacy
  size_t badIdx[] = {1, 2};
  CHECK(cuMemcpyBatchAsync(dsts, srcs, sizes, 3, attr, badIdx, 2, s) == CUDA_ERROR_INVALID_VALUE);
  CUmemcpyAttributes none{};
  size_t zero[] = {0};
  CHECK(cuMemcpyBatchAsync(dsts, srcs, sizes, 3, &none, zero, 1, s) == CUDA_ERROR_INVALID_VALUE);

  // A 2-D box: 4 rows of 8 bytes from a 16-byte-pitch host image into a
  // 32-byte-pitch device image at row 1.
  std::vector<std::uint8_t> img(64);
  for (size_t i = 0; i < img.size(); ++i)
    img[i] = static_cast<std::uint8_t>(i);
  REQUIRE(cuMemsetD8(d, 0, 4096) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS); // memsets are asynchronous
  CUDA_MEMCPY3D_BATCH_OP op{};
  op.src.type = CU_MEMCPY_OPERAND_TYPE_POINTER;
  op.src.op.ptr.ptr = reinterpret_cast<CUdeviceptr>(img.data());
  op.src.op.ptr.rowLength = 16;
  op.dst.type = CU_MEMCPY_OPERAND_TYPE_POINTER;
  op.dst.op.ptr.ptr = d + 32;
  op.dst.op.ptr.rowLength = 32;
  op.extent = {8, 4, 1};
  op.srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
  REQUIRE(cuMemcpy3DBatchAsync(1, &op, 0, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(back.data(), d, 256) == CUDA_SUCCESS);
  CHECK(back[32] == 0);
  CHECK(back[32 + 7] == 7);
  CHECK(back[32 + 8] == 0);
  CHECK(back[64 + 1] == 17);
  CHECK(back[128 + 7] == 55);
  op.extent.width = 0;
  CHECK(cuMemcpy3DBatchAsync(1, &op, 0, s) == CUDA_ERROR_INVALID_VALUE);
  op.extent.width = 8;
  CHECK(cuMemcpy3DBatchAsync(1, &op, 1, s) == CUDA_ERROR_INVALID_VALUE);

  // Through a CUDA array and back.
  CUDA_ARRAY3D_DESCRIPTOR desc{};
  desc.Width = 8;
  desc.Height = 4;
  desc.Format = CU_AD_FORMAT_UNSIGNED_INT16;
  desc.NumChannels = 1;
  CUarray arr = nullptr;
  REQUIRE(cuArray3DCreate(&arr, &desc) == CUDA_SUCCESS);
  std::vector<std::uint16_t> words(32), out(32);
  for (size_t i = 0; i < words.size(); ++i)
    words[i] = static_cast<std::uint16_t>(1000 + i);
  CUDA_MEMCPY3D_BATCH_OP ops[2] = {};
  ops[0].src.type = CU_MEMCPY_OPERAND_TYPE_POINTER;
  ops[0].src.op.ptr.ptr = reinterpret_cast<CUdeviceptr>(words.data());
  ops[0].dst.type = CU_MEMCPY_OPERAND_TYPE_ARRAY;
  ops[0].dst.op.array.array = arr;
  ops[0].extent = {8, 4, 1};
  ops[0].srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
  REQUIRE(cuMemcpy3DBatchAsync(1, ops, 0, s) == CUDA_SUCCESS);
  ops[1].src.type = CU_MEMCPY_OPERAND_TYPE_ARRAY;
  ops[1].src.op.array.array = arr;
  ops[1].src.op.array.offset = {2, 1, 0};
  ops[1].dst.type = CU_MEMCPY_OPERAND_TYPE_POINTER;
  ops[1].dst.op.ptr.ptr = reinterpret_cast<CUdeviceptr>(out.data());
  ops[1].extent = {3, 2, 1};
  ops[1].srcAccessOrder = CU_MEMCPY_SRC_ACCESS_ORDER_STREAM;
  REQUIRE(cuMemcpy3DBatchAsync(1, &ops[1], 0, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(out[0] == 1000 + 8 + 2);
  CHECK(out[2] == 1000 + 8 + 4);
  CHECK(out[3] == 1000 + 16 + 2); // rows packed at the copy's width
  CHECK(cuArrayDestroy(arr) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(s) == CUDA_SUCCESS);
  CHECK(cuMemFree(d) == CUDA_SUCCESS);
}

TEST_CASE("cluster occupancy: clusters of up to 8 blocks") {
  ContextFixture f;
  Kernels k;
  int clusterLaunch = 0;
  REQUIRE(cuDeviceGetAttribute(&clusterLaunch, CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH, 0) == CUDA_SUCCESS);
  CHECK(clusterLaunch == 1);
  CUlaunchConfig cfg{};
  cfg.gridDimX = 64;
  cfg.gridDimY = cfg.gridDimZ = 1;
  cfg.blockDimX = 128;
  cfg.blockDimY = cfg.blockDimZ = 1;
  int size = 0;
  CHECK(cuOccupancyMaxPotentialClusterSize(&size, k.put, &cfg) == CUDA_SUCCESS);
  CHECK(size == 8);
  int clusters = 0, perSm = 0, sms = 0;
  CHECK(cuOccupancyMaxActiveClusters(&clusters, k.put, &cfg) == CUDA_SUCCESS);
  REQUIRE(cuOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, k.put, 128, 0) == CUDA_SUCCESS);
  REQUIRE(cuDeviceGetAttribute(&sms, CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, 0) == CUDA_SUCCESS);
  CHECK(clusters == perSm * sms);
  CHECK(clusters > 0);
  CUlaunchAttribute attr{};
  attr.id = CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION;
  attr.value.clusterDim.x = 2;
  attr.value.clusterDim.y = attr.value.clusterDim.z = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  CHECK(cuOccupancyMaxActiveClusters(&clusters, k.put, &cfg) == CUDA_SUCCESS);
  CHECK(clusters == perSm * sms / 2);
  attr.value.clusterDim.x = 16;
  CHECK(cuOccupancyMaxActiveClusters(&clusters, k.put, &cfg) == CUDA_ERROR_INVALID_CLUSTER_SIZE);
  CHECK(cuOccupancyMaxActiveClusters(nullptr, k.put, &cfg) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuOccupancyMaxPotentialClusterSize(&size, k.put, nullptr) == CUDA_ERROR_INVALID_VALUE);
}

TEST_CASE("legacy launch: block shape, parameter buffer, cuLaunchGrid") {
  ContextFixture f;
  Kernels k;
  CUdeviceptr d = 0;
  REQUIRE(cuMemAlloc(&d, 64 * 4) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32(d, 0, 64) == CUDA_SUCCESS);
  CHECK(cuLaunchGrid(k.put, 2, 1) == CUDA_ERROR_INVALID_VALUE); // no block shape yet
  REQUIRE(cuFuncSetBlockShape(k.put, 32, 1, 1) == CUDA_SUCCESS);
  REQUIRE(cuFuncSetSharedSize(k.put, 0) == CUDA_SUCCESS);
  REQUIRE(cuParamSetv(k.put, 0, &d, sizeof d) == CUDA_SUCCESS);
  REQUIRE(cuParamSeti(k.put, 8, 7) == CUDA_SUCCESS);
  REQUIRE(cuParamSetSize(k.put, 12) == CUDA_SUCCESS);
  REQUIRE(cuLaunchGrid(k.put, 2, 1) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
  std::vector<std::uint32_t> out(64);
  REQUIRE(cuMemcpyDtoH(out.data(), d, 64 * 4) == CUDA_SUCCESS);
  CHECK(out[0] == 7);
  CHECK(out[63] == 7);
  // cuLaunch: one block; cuLaunchGridAsync on a stream; a float parameter.
  REQUIRE(cuParamSeti(k.put, 8, 8) == CUDA_SUCCESS);
  REQUIRE(cuLaunch(k.put) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(out.data(), d, 64 * 4) == CUDA_SUCCESS);
  CHECK(out[31] == 8);
  CHECK(out[32] == 7);
  CUstream s = nullptr;
  REQUIRE(cuStreamCreate(&s, 0) == CUDA_SUCCESS);
  REQUIRE(cuParamSetf(k.put, 8, 1.0f) == CUDA_SUCCESS);
  REQUIRE(cuLaunchGridAsync(k.put, 2, 1, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  REQUIRE(cuMemcpyDtoH(out.data(), d, 64 * 4) == CUDA_SUCCESS);
  CHECK(out[40] == 0x3f800000u);
  // Errors.
  CHECK(cuFuncSetBlockShape(k.put, 0, 1, 1) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuParamSeti(k.put, -4, 1) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuParamSetv(k.put, 0, nullptr, 8) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuParamSetSize(k.put, 4) == CUDA_SUCCESS);
  CHECK(cuLaunchGrid(k.put, 1, 1) == CUDA_ERROR_INVALID_VALUE); // 4 of 12 parameter bytes
  CHECK(cuLaunchGrid(k.put, 0, 1) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuFuncSetBlockShape(nullptr, 1, 1, 1) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuStreamDestroy(s) == CUDA_SUCCESS);
  CHECK(cuMemFree(d) == CUDA_SUCCESS);
}
