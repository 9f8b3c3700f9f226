// Device enumeration and properties through the CUDA runtime.
#include "check.h"
#include <string.h>

int main() {
  int count = 0;
  CHECK(cudaGetDeviceCount(&count));
  EXPECT(count >= 1, "cudaGetDeviceCount = %d", count);
  printf("devices: %d\n", count);

  int driver = 0, runtime = 0;
  CHECK(cudaDriverGetVersion(&driver));
  CHECK(cudaRuntimeGetVersion(&runtime));
  printf("driver %d, runtime %d\n", driver, runtime);
  EXPECT(driver >= 13000, "cudaDriverGetVersion = %d, want >= 13000", driver);
  EXPECT(runtime >= 13000, "cudaRuntimeGetVersion = %d, want >= 13000", runtime);
  EXPECT(runtime == CUDART_VERSION, "runtime %d != CUDART_VERSION %d", runtime, CUDART_VERSION);

  CHECK(cudaSetDevice(0));
  int dev = -1;
  CHECK(cudaGetDevice(&dev));
  EXPECT(dev == 0, "cudaGetDevice = %d", dev);

  cudaDeviceProp p;
  memset(&p, 0, sizeof p);
  CHECK(cudaGetDeviceProperties(&p, 0));
  printf("name '%s' cc %d.%d, %zu bytes, %d SMs\n", p.name, p.major, p.minor, p.totalGlobalMem,
         p.multiProcessorCount);
  EXPECT(strncmp(p.name, "cuvirt", 6) == 0, "name '%s' does not start with 'cuvirt'", p.name);
  EXPECT(p.warpSize == 32, "warpSize %d", p.warpSize);
  EXPECT(p.maxThreadsPerBlock == 1024, "maxThreadsPerBlock %d", p.maxThreadsPerBlock);
  EXPECT(p.totalGlobalMem > 0, "totalGlobalMem %zu", p.totalGlobalMem);
  EXPECT(p.major >= 7, "major %d", p.major);
  EXPECT(p.minor >= 0, "minor %d", p.minor);
  EXPECT(p.multiProcessorCount >= 1, "multiProcessorCount %d", p.multiProcessorCount);
  EXPECT(p.sharedMemPerBlock >= 48 * 1024, "sharedMemPerBlock %zu", p.sharedMemPerBlock);
  EXPECT(p.unifiedAddressing == 1, "unifiedAddressing %d", p.unifiedAddressing);
  EXPECT(p.maxThreadsDim[0] >= 1024 && p.maxThreadsDim[1] >= 1024 && p.maxThreadsDim[2] >= 64,
         "maxThreadsDim %d %d %d", p.maxThreadsDim[0], p.maxThreadsDim[1], p.maxThreadsDim[2]);
  EXPECT(p.maxGridSize[0] >= 65535 && p.maxGridSize[1] >= 65535 && p.maxGridSize[2] >= 65535,
         "maxGridSize %d %d %d", p.maxGridSize[0], p.maxGridSize[1], p.maxGridSize[2]);
  EXPECT(p.regsPerBlock > 0, "regsPerBlock %d", p.regsPerBlock);
  EXPECT(p.totalConstMem >= 64 * 1024, "totalConstMem %zu", p.totalConstMem);

  // Attribute queries must agree with the property struct.
  struct {
    cudaDeviceAttr attr;
    int expect;
    const char *name;
  } same[] = {
      {cudaDevAttrWarpSize, p.warpSize, "WarpSize"},
      {cudaDevAttrMaxThreadsPerBlock, p.maxThreadsPerBlock, "MaxThreadsPerBlock"},
      {cudaDevAttrComputeCapabilityMajor, p.major, "ComputeCapabilityMajor"},
      {cudaDevAttrComputeCapabilityMinor, p.minor, "ComputeCapabilityMinor"},
      {cudaDevAttrMultiProcessorCount, p.multiProcessorCount, "MultiProcessorCount"},
      {cudaDevAttrUnifiedAddressing, 1, "UnifiedAddressing"},
      {cudaDevAttrMaxBlockDimX, p.maxThreadsDim[0], "MaxBlockDimX"},
      {cudaDevAttrMaxBlockDimY, p.maxThreadsDim[1], "MaxBlockDimY"},
      {cudaDevAttrMaxBlockDimZ, p.maxThreadsDim[2], "MaxBlockDimZ"},
      {cudaDevAttrMaxGridDimX, p.maxGridSize[0], "MaxGridDimX"},
      {cudaDevAttrMaxGridDimY, p.maxGridSize[1], "MaxGridDimY"},
      {cudaDevAttrMaxGridDimZ, p.maxGridSize[2], "MaxGridDimZ"},
      {cudaDevAttrMaxSharedMemoryPerBlock, (int)p.sharedMemPerBlock, "MaxSharedMemoryPerBlock"},
      {cudaDevAttrPciBusId, p.pciBusID, "PciBusId"},
      {cudaDevAttrPciDeviceId, p.pciDeviceID, "PciDeviceId"},
      {cudaDevAttrPciDomainId, p.pciDomainID, "PciDomainId"},
      {cudaDevAttrManagedMemory, p.managedMemory, "ManagedMemory"},
      {cudaDevAttrCanMapHostMemory, p.canMapHostMemory, "CanMapHostMemory"},
  };
  for (auto &s : same) {
    int v = -12345;
    CHECK(cudaDeviceGetAttribute(&v, s.attr, 0));
    EXPECT(v == s.expect, "cudaDevAttr%s = %d, property struct says %d", s.name, v, s.expect);
  }
  // Attributes that must be positive / set.
  cudaDeviceAttr positive[] = {
      cudaDevAttrClockRate,
      cudaDevAttrMaxRegistersPerBlock,
      cudaDevAttrTotalConstantMemory,
      cudaDevAttrMaxThreadsPerMultiProcessor,
      cudaDevAttrMaxSharedMemoryPerMultiprocessor,
      cudaDevAttrL2CacheSize,
      cudaDevAttrGlobalMemoryBusWidth,
      cudaDevAttrMemoryClockRate,
      cudaDevAttrMaxPitch,
      cudaDevAttrTextureAlignment,
      cudaDevAttrMaxSharedMemoryPerBlockOptin,
      cudaDevAttrManagedMemory,
      cudaDevAttrConcurrentKernels,
      cudaDevAttrMemoryPoolsSupported,
  };
  // 0 on real devices too (pre-Pascal, Windows WDDM; cuvirt's remote devices).
  for (cudaDeviceAttr a : {cudaDevAttrConcurrentManagedAccess, cudaDevAttrCanMapHostMemory}) {
    int v = -1;
    CHECK(cudaDeviceGetAttribute(&v, a, 0));
    EXPECT(v == 0 || v == 1, "cudaDeviceGetAttribute(%d) = %d, want 0 or 1", (int)a, v);
  }
  for (cudaDeviceAttr a : positive) {
    int v = -1;
    CHECK(cudaDeviceGetAttribute(&v, a, 0));
    EXPECT(v > 0, "cudaDeviceGetAttribute(%d) = %d, want > 0", (int)a, v);
  }
  int integrated = -1, ecc = -1;
  CHECK(cudaDeviceGetAttribute(&integrated, cudaDevAttrIntegrated, 0));
  CHECK(cudaDeviceGetAttribute(&ecc, cudaDevAttrEccEnabled, 0));
  EXPECT(integrated == 0 || integrated == 1, "Integrated %d", integrated);
  EXPECT(ecc == 0 || ecc == 1, "EccEnabled %d", ecc);
  EXPECT_ERR(cudaDeviceGetAttribute(nullptr, cudaDevAttrWarpSize, 0), cudaErrorInvalidValue);
  int v = 0;
  EXPECT_ERR(cudaDeviceGetAttribute(&v, cudaDevAttrWarpSize, count), cudaErrorInvalidDevice);
  EXPECT_ERR(cudaGetDeviceProperties(&p, count), cudaErrorInvalidDevice);

  // UUID: stable across calls, not all zero; cudaDeviceProp carries the same one.
  cudaDeviceProp p2;
  CHECK(cudaGetDeviceProperties(&p2, 0));
  EXPECT(memcmp(&p.uuid, &p2.uuid, sizeof p.uuid) == 0, "UUID changed between two calls");
  EXPECT(strcmp(p.name, p2.name) == 0, "name changed between two calls");
  bool nonzero = false;
  for (size_t i = 0; i < sizeof p.uuid.bytes; ++i)
    nonzero |= p.uuid.bytes[i] != 0;
  EXPECT(nonzero, "UUID is all zeros");

  // PCI bus id: "dddd:bb:dd.f", consistent with the attributes, round-trips.
  char bus[64];
  CHECK(cudaDeviceGetPCIBusId(bus, sizeof bus, 0));
  printf("pci bus id %s\n", bus);
  unsigned dom = 0, b = 0, d = 0, f = 0;
  EXPECT(sscanf(bus, "%x:%x:%x.%x", &dom, &b, &d, &f) == 4, "bad bus id '%s'", bus);
  EXPECT((int)dom == p.pciDomainID && (int)b == p.pciBusID && (int)d == p.pciDeviceID,
         "bus id '%s' disagrees with properties %x:%x:%x", bus, p.pciDomainID, p.pciBusID, p.pciDeviceID);
  int back = -1;
  CHECK(cudaDeviceGetByPCIBusId(&back, bus));
  EXPECT(back == 0, "cudaDeviceGetByPCIBusId('%s') = %d", bus, back);

  int lo = 0, hi = 0;
  CHECK(cudaDeviceGetStreamPriorityRange(&lo, &hi));
  EXPECT(hi <= lo, "stream priority range least %d greatest %d", lo, hi);

  CHECK(cudaDeviceSynchronize());
  CHECK(cudaDeviceReset());
  // The runtime reinitialises after a reset.
  CHECK(cudaGetDeviceProperties(&p2, 0));
  EXPECT(strcmp(p.name, p2.name) == 0, "name changed after reset");
  PASSED("device_query");
  return 0;
}
