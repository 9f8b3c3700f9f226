// Page-locked host memory: cudaHostAlloc flavours, mapped memory,
// cudaHostRegister, cudaMallocHost. No kernel launches.
#include "check.h"
#include <string.h>
#include <vector>

static void copy_through_device(void *host_src, void *host_dst, size_t n) {
  void *d = nullptr;
  CHECK(cudaMalloc(&d, n));
  CHECK(cudaMemcpy(d, host_src, n, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(host_dst, d, n, cudaMemcpyDeviceToHost));
  CHECK(cudaFree(d));
}

static void host_alloc(unsigned flags, const char *what) {
  const size_t n = 64 * 1024 + 3;
  unsigned char *p = nullptr;
  CHECK(cudaHostAlloc((void **)&p, n, flags));
  EXPECT(p != nullptr, "%s: null pointer", what);
  for (size_t i = 0; i < n; ++i)
    p[i] = (unsigned char)(i * 7 + flags);
  unsigned got = 0xffffffffu;
  CHECK(cudaHostGetFlags(&got, p));
  // cudaHostAllocDefault may be reported with extra bits (e.g. mapped under
  // UVA); the requested bits must be present.
  EXPECT((got & flags) == flags, "%s: cudaHostGetFlags = 0x%x, requested 0x%x", what, got, flags);
  cudaPointerAttributes a;
  CHECK(cudaPointerGetAttributes(&a, p));
  EXPECT(a.type == cudaMemoryTypeHost, "%s: pointer type %d", what, (int)a.type);
  std::vector<unsigned char> back(n, 0);
  copy_through_device(p, back.data(), n);
  for (size_t i = 0; i < n; ++i)
    EXPECT(back[i] == (unsigned char)(i * 7 + flags), "%s: byte %zu", what, i);
  CHECK(cudaFreeHost(p));
}

static void mapped() {
  const size_t n = 4096;
  int *h = nullptr;
  CHECK(cudaHostAlloc((void **)&h, n * sizeof(int), cudaHostAllocMapped));
  int *d = nullptr;
  CHECK(cudaHostGetDevicePointer((void **)&d, h, 0));
  EXPECT(d != nullptr, "cudaHostGetDevicePointer returned null");
  // host writes -> visible through the device pointer
  for (size_t i = 0; i < n; ++i)
    h[i] = (int)i * 5;
  std::vector<int> back(n, 0);
  CHECK(cudaMemcpy(back.data(), d, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (size_t i = 0; i < n; ++i)
    EXPECT(back[i] == (int)i * 5, "mapped read [%zu] = %d", i, back[i]);
  // device-side writes (copy/memset to the device pointer) -> visible to the host
  CHECK(cudaMemset(d, 0, n * sizeof(int)));
  CHECK(cudaDeviceSynchronize());
  for (size_t i = 0; i < n; ++i)
    EXPECT(h[i] == 0, "mapped after memset [%zu] = %d", i, h[i]);
  for (size_t i = 0; i < n; ++i)
    back[i] = (int)(n - i);
  CHECK(cudaMemcpy(d, back.data(), n * sizeof(int), cudaMemcpyHostToDevice));
  CHECK(cudaDeviceSynchronize());
  for (size_t i = 0; i < n; ++i)
    EXPECT(h[i] == (int)(n - i), "mapped after H2D [%zu] = %d", i, h[i]);
  // the device pointer of an interior address is offset the same way
  int *d_mid = nullptr;
  CHECK(cudaHostGetDevicePointer((void **)&d_mid, h + 100, 0));
  EXPECT(d_mid == d + 100, "interior device pointer %p, want %p", (void *)d_mid, (void *)(d + 100));
  CHECK(cudaFreeHost(h));
}

static void registered() {
  const size_t n = 1 << 20;
  unsigned char *m = (unsigned char *)malloc(n);
  EXPECT(m != nullptr, "malloc");
  for (size_t i = 0; i < n; ++i)
    m[i] = (unsigned char)(i ^ (i >> 8));

  cudaPointerAttributes a;
  CHECK(cudaPointerGetAttributes(&a, m));
  EXPECT(a.type == cudaMemoryTypeUnregistered, "before register: type %d", (int)a.type);

  CHECK(cudaHostRegister(m, n, cudaHostRegisterMapped | cudaHostRegisterPortable));
  // cudaHostGetFlags is documented for cudaHostAlloc ranges only; if it does
  // answer for registered memory, the registration flags must be there.
  unsigned flags = 0;
  cudaError_t fe = cudaHostGetFlags(&flags, m);
  if (fe == cudaSuccess) {
    EXPECT(flags & cudaHostAllocMapped, "registered flags 0x%x lack cudaHostAllocMapped", flags);
    EXPECT(flags & cudaHostAllocPortable, "registered flags 0x%x lack cudaHostAllocPortable", flags);
  } else {
    EXPECT(fe == cudaErrorInvalidValue, "cudaHostGetFlags(registered) = %s", cudaGetErrorName(fe));
    (void)cudaGetLastError();
    printf("note: cudaHostGetFlags does not answer for cudaHostRegister'ed memory\n");
  }
  CHECK(cudaPointerGetAttributes(&a, m + 10));
  EXPECT(a.type == cudaMemoryTypeHost, "after register: type %d", (int)a.type);
  unsigned char *d = nullptr;
  CHECK(cudaHostGetDevicePointer((void **)&d, m, 0));
  EXPECT(d != nullptr, "registered: null device pointer");
  std::vector<unsigned char> back(n, 0);
  CHECK(cudaMemcpy(back.data(), d, n, cudaMemcpyDeviceToHost));
  EXPECT(memcmp(back.data(), m, n) == 0, "registered memory read through its device pointer differs");
  // async copy from registered memory
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  unsigned char *dev = nullptr;
  CHECK(cudaMalloc(&dev, n));
  CHECK(cudaMemcpyAsync(dev, m, n, cudaMemcpyHostToDevice, s));
  CHECK(cudaMemsetAsync(d, 0x11, 16, s)); // through the mapped device pointer
  CHECK(cudaStreamSynchronize(s));
  for (int i = 0; i < 16; ++i)
    EXPECT(m[i] == 0x11, "registered after memset [%d] = 0x%02x", i, m[i]);
  CHECK(cudaMemcpy(back.data(), dev, n, cudaMemcpyDeviceToHost));
  for (size_t i = 16; i < n; ++i)
    EXPECT(back[i] == (unsigned char)(i ^ (i >> 8)), "async copy of registered memory byte %zu", i);
  CHECK(cudaStreamDestroy(s));
  CHECK(cudaFree(dev));

  // registering twice is an error; unregistering something not registered too
  EXPECT_ERR(cudaHostRegister(m, n, cudaHostRegisterDefault), cudaErrorHostMemoryAlreadyRegistered);
  CHECK(cudaHostUnregister(m));
  EXPECT_ERR(cudaHostUnregister(m), cudaErrorHostMemoryNotRegistered);
  (void)cudaGetLastError(); // clear the expected errors
  CHECK(cudaPointerGetAttributes(&a, m));
  EXPECT(a.type == cudaMemoryTypeUnregistered, "after unregister: type %d", (int)a.type);
  free(m);
}

int main() {
  CHECK(cudaSetDeviceFlags(cudaDeviceMapHost)); // before the context exists
  CHECK(cudaSetDevice(0));
  host_alloc(cudaHostAllocDefault, "cudaHostAllocDefault");
  host_alloc(cudaHostAllocPortable, "cudaHostAllocPortable");
  host_alloc(cudaHostAllocMapped, "cudaHostAllocMapped");
  host_alloc(cudaHostAllocWriteCombined, "cudaHostAllocWriteCombined");
  host_alloc(cudaHostAllocMapped | cudaHostAllocPortable, "mapped|portable");
  mapped();
  registered();

  void *p = nullptr;
  CHECK(cudaMallocHost(&p, 12345));
  memset(p, 0x3C, 12345);
  unsigned char back[12345];
  copy_through_device(p, back, sizeof back);
  for (size_t i = 0; i < sizeof back; ++i)
    EXPECT(back[i] == 0x3C, "cudaMallocHost byte %zu", i);
  CHECK(cudaFreeHost(p));
  CHECK(cudaGetLastError());
  PASSED("host_memory");
  return 0;
}
