#include "conformance.h"

TEST_CASE("primary context: retain, state, flags, release") {
  unsigned flags = 99;
  int active = 99;
  CUcontext a = nullptr, b = nullptr;
  REQUIRE(cuDevicePrimaryCtxRetain(&a, 0) == CUDA_SUCCESS);
  REQUIRE(cuDevicePrimaryCtxRetain(&b, 0) == CUDA_SUCCESS);
  CHECK(a == b);
  CHECK(cuDevicePrimaryCtxGetState(0, &flags, &active) == CUDA_SUCCESS);
  CHECK(active == 1);
  CHECK(cuDevicePrimaryCtxSetFlags(0, CU_CTX_SCHED_BLOCKING_SYNC) == CUDA_SUCCESS);
  CHECK(cuDevicePrimaryCtxGetState(0, &flags, &active) == CUDA_SUCCESS);
  CHECK(flags == CU_CTX_SCHED_BLOCKING_SYNC);
  CHECK(cuDevicePrimaryCtxRelease(0) == CUDA_SUCCESS);
  CHECK(cuDevicePrimaryCtxRelease(0) == CUDA_SUCCESS);
  CHECK(cuDevicePrimaryCtxGetState(0, &flags, &active) == CUDA_SUCCESS);
  CHECK(active == 0);
  CHECK(cuDevicePrimaryCtxRelease(0) == CUDA_ERROR_INVALID_CONTEXT);
  CHECK(cuDevicePrimaryCtxReset(0) == CUDA_SUCCESS);
}

TEST_CASE("the context stack is per thread") {
  CUcontext c1 = nullptr, c2 = nullptr, cur = nullptr;
  REQUIRE(cuCtxCreate(&c1, nullptr, 0, 0) == CUDA_SUCCESS); // pushes c1
  CHECK(cuCtxGetCurrent(&cur) == CUDA_SUCCESS);
  CHECK(cur == c1);
  REQUIRE(cuCtxCreate(&c2, nullptr, 0, 0) == CUDA_SUCCESS);
  CHECK(cuCtxGetCurrent(&cur) == CUDA_SUCCESS);
  CHECK(cur == c2);
  CUcontext popped = nullptr;
  CHECK(cuCtxPopCurrent(&popped) == CUDA_SUCCESS);
  CHECK(popped == c2);
  CHECK(cuCtxGetCurrent(&cur) == CUDA_SUCCESS);
  CHECK(cur == c1);
  CUdevice dev = -1;
  CHECK(cuCtxGetDevice(&dev) == CUDA_SUCCESS);
  CHECK(dev == 0);
  unsigned long long id1 = 0, id2 = 0;
  CHECK(cuCtxGetId(c1, &id1) == CUDA_SUCCESS);
  CHECK(cuCtxGetId(c2, &id2) == CUDA_SUCCESS);
  CHECK(id1 != id2);
  CHECK(cuCtxDestroy(c2) == CUDA_SUCCESS);
  CHECK(cuCtxDestroy(c2) == CUDA_ERROR_INVALID_CONTEXT);
  CHECK(cuCtxPushCurrent(c2) == CUDA_ERROR_INVALID_CONTEXT);
  CHECK(cuCtxDestroy(c1) == CUDA_SUCCESS);
  CHECK(cuCtxGetCurrent(&cur) == CUDA_SUCCESS);
  CHECK(cur == nullptr);
  CHECK(cuCtxSynchronize() == CUDA_ERROR_INVALID_CONTEXT);
  size_t bytes = 0;
  CHECK(cuMemAlloc(reinterpret_cast<CUdeviceptr *>(&bytes), 16) == CUDA_ERROR_INVALID_CONTEXT);
}

TEST_CASE("limits, cache config, stream priorities") {
  ContextFixture f;
  size_t v = 0;
  CHECK(cuCtxSetLimit(CU_LIMIT_MALLOC_HEAP_SIZE, 64 << 20) == CUDA_SUCCESS);
  CHECK(cuCtxGetLimit(&v, CU_LIMIT_MALLOC_HEAP_SIZE) == CUDA_SUCCESS);
  CHECK(v == (64 << 20));
  CHECK(cuCtxGetLimit(&v, CU_LIMIT_PRINTF_FIFO_SIZE) == CUDA_SUCCESS);
  CHECK(v > 0);
  CHECK(cuCtxGetLimit(&v, static_cast<CUlimit>(0x7777)) == CUDA_ERROR_UNSUPPORTED_LIMIT);
  CHECK(cuCtxSetCacheConfig(CU_FUNC_CACHE_PREFER_SHARED) == CUDA_SUCCESS);
  CUfunc_cache cfg;
  CHECK(cuCtxGetCacheConfig(&cfg) == CUDA_SUCCESS);
  CHECK(cfg == CU_FUNC_CACHE_PREFER_SHARED);
  int least = 1, greatest = 1;
  CHECK(cuCtxGetStreamPriorityRange(&least, &greatest) == CUDA_SUCCESS);
  CHECK(least == 0);
  CHECK(greatest < 0);
}
