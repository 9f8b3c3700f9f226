// Kernel functions as objects, without launching them: attributes, names,
// parameter layout, configuration, occupancy. (cudart resolves the host stub
// to a CUkernel through cuLibraryGetKernel; everything here goes through the
// driver's function-attribute queries.)
#include "check.h"
#include <string.h>

__global__ void plain(float *x, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    x[i] *= 2.0f;
}

__global__ void with_shared(int *out) {
  __shared__ int buf[1000]; // 4000 bytes of static shared memory
  buf[threadIdx.x] = threadIdx.x;
  __syncthreads();
  out[threadIdx.x] = buf[999 - threadIdx.x];
}

__global__ void __launch_bounds__(128) bounded(double *p) { p[threadIdx.x] += 1.0; }

extern "C" __global__ void c_linkage(char c, double d, int *p) { *p = c + (int)d; }

template <typename T> __global__ void tmpl(T *p) { *p = T(7); }
template __global__ void tmpl<long long>(long long *);

int main() {
  CHECK(cudaSetDevice(0));
  int major = 0, minor = 0;
  CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
  CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0));

  cudaFuncAttributes a;
  memset(&a, 0xff, sizeof a);
  CHECK(cudaFuncGetAttributes(&a, plain));
  printf("plain: %d regs, max %d threads, shared %zu, local %zu, const %zu, ptx %d, binary %d\n", a.numRegs,
         a.maxThreadsPerBlock, a.sharedSizeBytes, a.localSizeBytes, a.constSizeBytes, a.ptxVersion,
         a.binaryVersion);
  EXPECT(a.maxThreadsPerBlock >= 1 && a.maxThreadsPerBlock <= 1024, "maxThreadsPerBlock %d",
         a.maxThreadsPerBlock);
  EXPECT(a.numRegs >= 0 && a.numRegs <= 255, "numRegs %d", a.numRegs);
  EXPECT(a.sharedSizeBytes == 0, "plain: sharedSizeBytes %zu", a.sharedSizeBytes);
  EXPECT(a.ptxVersion == 75, "ptxVersion %d, want 75 (built for compute_75)", a.ptxVersion);
  EXPECT(a.binaryVersion == major * 10 + minor, "binaryVersion %d, device is %d.%d", a.binaryVersion, major,
         minor);

  CHECK(cudaFuncGetAttributes(&a, with_shared));
  EXPECT(a.sharedSizeBytes == 4000, "with_shared: sharedSizeBytes %zu, want 4000", a.sharedSizeBytes);
  CHECK(cudaFuncGetAttributes(&a, bounded));
  EXPECT(a.maxThreadsPerBlock <= 128 && a.maxThreadsPerBlock >= 1,
         "__launch_bounds__(128): maxThreadsPerBlock %d", a.maxThreadsPerBlock);
  CHECK(cudaFuncGetAttributes(&a, c_linkage));
  CHECK(cudaFuncGetAttributes(&a, tmpl<long long>));

  // Names.
  const char *name = nullptr;
  CHECK(cudaFuncGetName(&name, c_linkage));
  EXPECT(name && strcmp(name, "c_linkage") == 0, "cudaFuncGetName(c_linkage) = %s", name ? name : "(null)");
  CHECK(cudaFuncGetName(&name, plain));
  EXPECT(name && strcmp(name, "_Z5plainPfi") == 0, "cudaFuncGetName(plain) = %s, want _Z5plainPfi",
         name ? name : "(null)");

  // Parameter layout: (char, double, int*) -> offsets 0, 8, 16.
  size_t off = 99, size = 99;
  CHECK(cudaFuncGetParamInfo((const void *)c_linkage, 0, &off, &size));
  EXPECT(off == 0 && size == 1, "param 0: offset %zu size %zu", off, size);
  CHECK(cudaFuncGetParamInfo((const void *)c_linkage, 1, &off, &size));
  EXPECT(off == 8 && size == 8, "param 1: offset %zu size %zu", off, size);
  CHECK(cudaFuncGetParamInfo((const void *)c_linkage, 2, &off, &size));
  EXPECT(off == 16 && size == 8, "param 2: offset %zu size %zu", off, size);
  EXPECT_ERR(cudaFuncGetParamInfo((const void *)c_linkage, 3, &off, &size), cudaErrorInvalidValue);
  (void)cudaGetLastError();

  // Handles.
  cudaFunction_t f = nullptr;
  CHECK(cudaGetFuncBySymbol(&f, (const void *)plain));
  EXPECT(f != nullptr, "cudaGetFuncBySymbol gave null");
  cudaKernel_t k = nullptr;
  CHECK(cudaGetKernel(&k, plain));
  EXPECT(k != nullptr, "cudaGetKernel gave null");

  // Configuration.
  CHECK(cudaFuncSetCacheConfig(plain, cudaFuncCachePreferShared));
  CHECK(cudaFuncSetAttribute(plain, cudaFuncAttributePreferredSharedMemoryCarveout, 50));
  int optin = 0;
  CHECK(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  CHECK(cudaFuncSetAttribute(with_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, optin - 4000));
  CHECK(cudaFuncGetAttributes(&a, with_shared));
  EXPECT(a.maxDynamicSharedSizeBytes == optin - 4000, "maxDynamicSharedSizeBytes %d, want %d",
         a.maxDynamicSharedSizeBytes, optin - 4000);
  EXPECT_ERR(cudaFuncSetAttribute(with_shared, cudaFuncAttributeMaxDynamicSharedMemorySize, optin + 1),
             cudaErrorInvalidValue);
  (void)cudaGetLastError();

  // Occupancy.
  int blocks = 0;
  CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, plain, 128, 0));
  EXPECT(blocks >= 1, "occupancy of plain at 128 threads: %d blocks/SM", blocks);
  int min_grid = 0, block = 0;
  CHECK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &block, plain));
  EXPECT(block >= 32 && block <= 1024 && min_grid >= 1, "max potential block size %d, min grid %d", block,
         min_grid);
  CHECK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &block, bounded));
  EXPECT(block >= 1 && block <= 128, "bounded: max potential block size %d", block);
  size_t dyn = 0;
  CHECK(cudaOccupancyAvailableDynamicSMemPerBlock(&dyn, plain, 1, 128));
  EXPECT(dyn > 0, "available dynamic shared memory %zu", dyn);

  PASSED("functions");
  return 0;
}
