// Stream memory operations: writes and waits in stream order, the four wait
// conditions (GEQ is cyclic), 64-bit forms, batches, a kernel releasing a
// waiting stream, a blocked wait that leaves the CPU idle, and the errors.
#include "conformance.h"
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <thread>

namespace {

const char *kSetPtx = R"(
.version 8.0
.target sm_75
.address_size 64
.visible .entry setflag(.param .u64 p, .param .u32 v)
{
  .reg .b32 %r1;
  .reg .b64 %rd1;
  ld.param.u64 %rd1, [p];
  ld.param.u32 %r1, [v];
  st.global.u32 [%rd1], %r1;
  ret;
}
)";

std::uint32_t read32(CUdeviceptr p) {
  std::uint32_t v = 0;
  REQUIRE(cuMemcpyDtoH(&v, p, 4) == CUDA_SUCCESS);
  return v;
}

/// Stream `s` waits on `flag` with `cond`, then writes 1 to `out`: true when
/// the wait is satisfied after `value` is already in `flag` (with a timeout).
bool waitPasses(CUstream s, CUdeviceptr flag, CUdeviceptr out, std::uint32_t current, std::uint32_t value,
                unsigned cond) {
  // In the stream itself: a memset on the legacy stream is not ordered with
  // a non-blocking stream.
  REQUIRE(cuMemsetD32Async(flag, current, 1, s) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32Async(out, 0, 1, s) == CUDA_SUCCESS);
  REQUIRE(cuStreamWaitValue32(s, flag, value, cond) == CUDA_SUCCESS);
  REQUIRE(cuStreamWriteValue32(s, out, 1, 0) == CUDA_SUCCESS);
  for (int i = 0; i < 200; ++i) {
    if (cuStreamQuery(s) == CUDA_SUCCESS)
      return read32(out) == 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  // Not satisfied: release it with a value every condition accepts.
  REQUIRE(cuMemsetD32(flag, value == 0 ? 1 : value, 1) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS); // before the next case changes the word
  return false;
}

} // namespace

TEST_CASE("stream memops: attributes say supported") {
  ContextFixture f;
  for (CUdevice_attribute a :
       {CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1, CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS,
        CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR}) {
    int v = 0;
    CHECK(cuDeviceGetAttribute(&v, a, 0) == CUDA_SUCCESS);
    CHECK(v == 1);
  }
  int flush = 1;
  CHECK(cuDeviceGetAttribute(&flush, CU_DEVICE_ATTRIBUTE_CAN_FLUSH_REMOTE_WRITES, 0) == CUDA_SUCCESS);
  CHECK(flush == 0);
}

TEST_CASE("stream memops: a wait holds later work until the word is written") {
  ContextFixture f;
  CUdeviceptr mem = 0;
  REQUIRE(cuMemAlloc(&mem, 64) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD8(mem, 0, 64) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS); // memsets are asynchronous
  const CUdeviceptr flag = mem, out = mem + 8, wide = mem + 16;
  CUstream a = nullptr, b = nullptr;
  REQUIRE(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  REQUIRE(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);

  REQUIRE(cuStreamWaitValue32(a, flag, 5, CU_STREAM_WAIT_VALUE_GEQ) == CUDA_SUCCESS);
  REQUIRE(cuStreamWriteValue32(a, out, 42, 0) == CUDA_SUCCESS);
  // The waiting stream's thread naps: the CPU stays (nearly) idle.
  timespec c0{}, c1{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
  const double cpuMs = (c1.tv_sec - c0.tv_sec) * 1e3 + (c1.tv_nsec - c0.tv_nsec) / 1e6;
  CHECK(cpuMs < 60.0);
  CHECK(cuStreamQuery(a) == CUDA_ERROR_NOT_READY);
  CHECK(read32(out) == 0);
  REQUIRE(cuStreamWriteValue32(b, flag, 4, 0) == CUDA_SUCCESS); // not enough
  REQUIRE(cuStreamSynchronize(b) == CUDA_SUCCESS);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(cuStreamQuery(a) == CUDA_ERROR_NOT_READY);
  // A kernel on another stream releases it.
  CUmodule mod = nullptr;
  CUfunction fn = nullptr;
  REQUIRE(cuModuleLoadData(&mod, kSetPtx) == CUDA_SUCCESS);
  REQUIRE(cuModuleGetFunction(&fn, mod, "setflag") == CUDA_SUCCESS);
  CUdeviceptr fp = flag;
  unsigned five = 5;
  void *args[] = {&fp, &five};
  REQUIRE(cuLaunchKernel(fn, 1, 1, 1, 1, 1, 1, 0, b, args, nullptr) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(a) == CUDA_SUCCESS);
  CHECK(read32(out) == 42);

  // 64-bit forms, and the no-barrier write.
  REQUIRE(cuStreamWaitValue64(a, wide, 0x100000000ull, CU_STREAM_WAIT_VALUE_EQ) == CUDA_SUCCESS);
  REQUIRE(cuStreamWriteValue32(a, out, 43, CU_STREAM_WRITE_VALUE_NO_MEMORY_BARRIER) == CUDA_SUCCESS);
  REQUIRE(cuStreamWriteValue64(b, wide, 0x100000000ull, 0) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(a) == CUDA_SUCCESS);
  CHECK(read32(out) == 43);
  std::uint64_t w = 0;
  REQUIRE(cuMemcpyDtoH(&w, wide, 8) == CUDA_SUCCESS);
  CHECK(w == 0x100000000ull);

  // A batch runs in order.
  CUstreamBatchMemOpParams ops[3] = {};
  ops[0].writeValue.operation = CU_STREAM_MEM_OP_WRITE_VALUE_32;
  ops[0].writeValue.address = out;
  ops[0].writeValue.value = 7;
  ops[1].memoryBarrier.operation = CU_STREAM_MEM_OP_BARRIER;
  ops[1].memoryBarrier.flags = CU_STREAM_MEMORY_BARRIER_TYPE_GPU;
  ops[2].waitValue.operation = CU_STREAM_MEM_OP_WAIT_VALUE_32;
  ops[2].waitValue.address = out;
  ops[2].waitValue.value = 7;
  ops[2].waitValue.flags = CU_STREAM_WAIT_VALUE_EQ;
  REQUIRE(cuStreamBatchMemOp(a, 3, ops, 0) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(a) == CUDA_SUCCESS);
  CHECK(read32(out) == 7);
  CHECK(cuStreamBatchMemOp(a, 0, ops, 0) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuStreamBatchMemOp(a, 3, ops, 1) == CUDA_ERROR_INVALID_VALUE);
  CUstreamBatchMemOpParams junk{};
  const unsigned bogus = 99; // not an operation (read as a raw value)
  std::memcpy(&junk.operation, &bogus, sizeof bogus);
  CHECK(cuStreamBatchMemOp(a, 1, &junk, 0) == CUDA_ERROR_INVALID_VALUE);
  junk.flushRemoteWrites.operation = CU_STREAM_MEM_OP_FLUSH_REMOTE_WRITES;
  CHECK(cuStreamBatchMemOp(a, 1, &junk, 0) == CUDA_ERROR_NOT_SUPPORTED);

  CHECK(cuModuleUnload(mod) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(a) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(b) == CUDA_SUCCESS);
  CHECK(cuMemFree(mem) == CUDA_SUCCESS);
}

TEST_CASE("stream memops: the wait conditions") {
  ContextFixture f;
  CUdeviceptr mem = 0;
  REQUIRE(cuMemAlloc(&mem, 16) == CUDA_SUCCESS);
  CUstream s = nullptr;
  REQUIRE(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  const CUdeviceptr flag = mem, out = mem + 4;
  CHECK(waitPasses(s, flag, out, 10, 10, CU_STREAM_WAIT_VALUE_GEQ));
  CHECK(waitPasses(s, flag, out, 11, 10, CU_STREAM_WAIT_VALUE_GEQ));
  CHECK_FALSE(waitPasses(s, flag, out, 9, 10, CU_STREAM_WAIT_VALUE_GEQ));
  CHECK(waitPasses(s, flag, out, 1, 0xfffffff0u, CU_STREAM_WAIT_VALUE_GEQ)); // cyclic: 1 is "after" -16
  CHECK(waitPasses(s, flag, out, 3, 3, CU_STREAM_WAIT_VALUE_EQ));
  CHECK_FALSE(waitPasses(s, flag, out, 4, 3, CU_STREAM_WAIT_VALUE_EQ));
  CHECK(waitPasses(s, flag, out, 6, 2, CU_STREAM_WAIT_VALUE_AND));
  CHECK_FALSE(waitPasses(s, flag, out, 4, 2, CU_STREAM_WAIT_VALUE_AND));
  CHECK(waitPasses(s, flag, out, 0x0000ffffu, 0x7fff0000u, CU_STREAM_WAIT_VALUE_NOR)); // bit 31 clear in both
  CHECK_FALSE(waitPasses(s, flag, out, 0x0000ffffu, 0xffff0000u, CU_STREAM_WAIT_VALUE_NOR));
  REQUIRE(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(s) == CUDA_SUCCESS);
  CHECK(cuMemFree(mem) == CUDA_SUCCESS);
}

TEST_CASE("stream memops: errors") {
  ContextFixture f;
  CUdeviceptr mem = 0, managed = 0;
  REQUIRE(cuMemAlloc(&mem, 16) == CUDA_SUCCESS);
  REQUIRE(cuMemAllocManaged(&managed, 16, CU_MEM_ATTACH_GLOBAL) == CUDA_SUCCESS);
  CHECK(cuStreamWriteValue32(nullptr, mem + 2, 1, 0) == CUDA_ERROR_INVALID_VALUE); // unaligned
  CHECK(cuStreamWriteValue64(nullptr, mem + 4, 1, 0) == CUDA_ERROR_INVALID_VALUE); // unaligned
  CHECK(cuStreamWriteValue32(nullptr, managed, 1, 0) == CUDA_ERROR_INVALID_VALUE); // managed
  CHECK(cuStreamWriteValue32(nullptr, mem, 1, 0x10) == CUDA_ERROR_INVALID_VALUE);  // flags
  CHECK(cuStreamWaitValue32(nullptr, mem, 1, 7) == CUDA_ERROR_INVALID_VALUE);      // condition
  CHECK(cuStreamWaitValue32(nullptr, mem, 1, CU_STREAM_WAIT_VALUE_FLUSH) == CUDA_ERROR_NOT_SUPPORTED);
  CHECK(cuStreamWriteValue32(nullptr, mem + 16, 1, 0) == CUDA_ERROR_INVALID_VALUE); // past the end
  int local = 0;
  CHECK(cuStreamWriteValue32(nullptr, reinterpret_cast<CUdeviceptr>(&local), 1, 0) ==
        CUDA_ERROR_INVALID_VALUE);
  CHECK(cuStreamWriteValue32(reinterpret_cast<CUstream>(&local), mem, 1, 0) == CUDA_ERROR_INVALID_HANDLE);
  // Registered host memory works through its device pointer.
  alignas(8) static std::uint32_t host[2] = {0, 0};
  REQUIRE(cuMemHostRegister(host, sizeof host, CU_MEMHOSTREGISTER_DEVICEMAP) == CUDA_SUCCESS);
  CUdeviceptr hp = 0;
  REQUIRE(cuMemHostGetDevicePointer(&hp, host, 0) == CUDA_SUCCESS);
  REQUIRE(cuStreamWriteValue32(nullptr, hp + 4, 99, 0) == CUDA_SUCCESS);
  REQUIRE(cuStreamSynchronize(nullptr) == CUDA_SUCCESS);
  CHECK(host[1] == 99);
  CHECK(cuMemHostUnregister(host) == CUDA_SUCCESS);
  // A capturing stream refuses them (no memop graph nodes) and the capture
  // is invalidated.
  CUstream cap = nullptr;
  REQUIRE(cuStreamCreate(&cap, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  REQUIRE(cuStreamBeginCapture(cap, CU_STREAM_CAPTURE_MODE_RELAXED) == CUDA_SUCCESS);
  CHECK(cuStreamWriteValue32(cap, mem, 1, 0) == CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED);
  CUgraph graph = nullptr;
  CHECK(cuStreamEndCapture(cap, &graph) == CUDA_ERROR_STREAM_CAPTURE_INVALIDATED);
  CHECK(cuStreamDestroy(cap) == CUDA_SUCCESS);
  CHECK(cuMemFree(mem) == CUDA_SUCCESS);
  CHECK(cuMemFree(managed) == CUDA_SUCCESS);
}
