// Runtime and driver API in one program (linked with -lcuda against the
// toolkit's stub at build time; cuvirt's libcuda.so.1 at run time): the
// runtime uses the primary context, and handles and pointers cross over.
#include "check.h"
#include <string.h>

int main() {
  CHECK(cudaSetDevice(0));
  CHECK(cudaFree(nullptr)); // forces context creation

  CUcontext cur = nullptr, prim = nullptr;
  CU_CHECK(cuCtxGetCurrent(&cur));
  EXPECT(cur != nullptr, "no current context after cudaSetDevice");
  CUdevice dev;
  CU_CHECK(cuDeviceGet(&dev, 0));
  CU_CHECK(cuDevicePrimaryCtxRetain(&prim, dev));
  EXPECT(cur == prim, "runtime context %p is not the primary context %p", (void *)cur, (void *)prim);
  unsigned flags = 0;
  int active = 0;
  CU_CHECK(cuDevicePrimaryCtxGetState(dev, &flags, &active));
  EXPECT(active == 1, "primary context not active while the runtime uses it");

  // Runtime allocation, driver copy; driver allocation, runtime copy and free.
  int h[256], back[256];
  for (int i = 0; i < 256; ++i)
    h[i] = i * i - 7;
  int *rt = nullptr;
  CHECK(cudaMalloc(&rt, sizeof h));
  CU_CHECK(cuMemcpyHtoD((CUdeviceptr)rt, h, sizeof h));
  memset(back, 0, sizeof back);
  CHECK(cudaMemcpy(back, rt, sizeof back, cudaMemcpyDeviceToHost));
  EXPECT(memcmp(h, back, sizeof h) == 0, "driver H2D into a cudaMalloc buffer, read by the runtime: differs");
  CUdeviceptr drv = 0;
  CU_CHECK(cuMemAlloc(&drv, sizeof h));
  CHECK(cudaMemcpy((void *)drv, rt, sizeof h, cudaMemcpyDeviceToDevice));
  memset(back, 0, sizeof back);
  CU_CHECK(cuMemcpyDtoH(back, drv, sizeof back));
  EXPECT(memcmp(h, back, sizeof h) == 0, "runtime D2D into a cuMemAlloc buffer, read by the driver: differs");
  cudaPointerAttributes a;
  CHECK(cudaPointerGetAttributes(&a, (void *)drv));
  EXPECT(a.type == cudaMemoryTypeDevice, "cuMemAlloc pointer seen by the runtime: type %d", (int)a.type);
  CHECK(cudaFree((void *)drv));

  // A runtime stream is a driver stream.
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  CU_CHECK(cuMemsetD32Async((CUdeviceptr)rt, 0x01020304, 256, (CUstream)s));
  CU_CHECK(cuStreamSynchronize((CUstream)s));
  CHECK(cudaMemcpy(back, rt, sizeof back, cudaMemcpyDeviceToHost));
  for (int i = 0; i < 256; ++i)
    EXPECT(back[i] == 0x01020304, "cuMemsetD32Async on a cudaStream_t: [%d] = 0x%x", i, back[i]);
  CUcontext sctx = nullptr;
  CU_CHECK(cuStreamGetCtx((CUstream)s, &sctx));
  EXPECT(sctx == prim, "runtime stream's context %p, want the primary %p", (void *)sctx, (void *)prim);
  CHECK(cudaStreamDestroy(s));

  // Driver entry points through the runtime.
  void *fn = nullptr;
  cudaDriverEntryPointQueryResult q = cudaDriverEntryPointSymbolNotFound;
  CHECK(cudaGetDriverEntryPointByVersion("cuMemAlloc", &fn, 3020, cudaEnableDefault, &q));
  EXPECT(fn != nullptr && q == cudaDriverEntryPointSuccess,
         "cudaGetDriverEntryPointByVersion(cuMemAlloc): %p, %d", fn, (int)q);
  CUdeviceptr viaep = 0;
  CU_CHECK(((CUresult (*)(CUdeviceptr *, size_t))fn)(&viaep, 1024));
  CU_CHECK(cuMemFree(viaep));
  EXPECT_ERR(cudaGetDriverEntryPointByVersion("cuNoSuchThing", &fn, 13000, cudaEnableDefault, &q),
             cudaErrorSymbolNotFound);
  (void)cudaGetLastError();
  EXPECT(q == cudaDriverEntryPointSymbolNotFound, "cuNoSuchThing: query result %d", (int)q);

  // A context pushed with the driver API is used by the runtime's next call.
  CUcontext mine = nullptr;
  CU_CHECK(cuCtxCreate(&mine, nullptr, 0, dev));
  void *inmine = nullptr;
  CHECK(cudaMalloc(&inmine, 64));
  CUcontext owner = nullptr;
  CU_CHECK(cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_CONTEXT, (CUdeviceptr)inmine));
  EXPECT(owner == mine, "cudaMalloc with a driver context current allocated in %p, want %p", (void *)owner,
         (void *)mine);
  CHECK(cudaFree(inmine));
  CUcontext popped = nullptr;
  CU_CHECK(cuCtxPopCurrent(&popped));
  CU_CHECK(cuCtxDestroy(mine));

  CHECK(cudaFree(rt));
  CU_CHECK(cuDevicePrimaryCtxRelease(dev));
  CHECK(cudaDeviceSynchronize());
  PASSED("interop");
  return 0;
}
