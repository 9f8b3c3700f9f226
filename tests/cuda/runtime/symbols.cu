// __device__ and __constant__ variables through the runtime's symbol API.
// The kernel only keeps the symbols alive; it is never launched.
#include "check.h"
#include <stdint.h>
#include <string.h>

__device__ int counter = 42;
__device__ float table[8] = {0.5f, 1.5f, 2.5f, 3.5f, -1.0f, -2.0f, 1e10f, 3.25f};
__constant__ int coeffs[4] = {7, -3, 11, 1000000};
__device__ double zeroed[16]; // no initialiser: zero

__global__ void use_symbols(float *out) {
  int i = threadIdx.x;
  out[i] = table[i & 7] * coeffs[i & 3] + counter + (float)zeroed[i & 15];
  if (i == 0)
    atomicAdd(&counter, 1);
}

int main() {
  CHECK(cudaSetDevice(0));

  // Initial values.
  int c = 0;
  CHECK(cudaMemcpyFromSymbol(&c, counter, sizeof c));
  EXPECT(c == 42, "counter initial value %d, want 42", c);
  float t[8] = {};
  CHECK(cudaMemcpyFromSymbol(t, table, sizeof t));
  const float t0[8] = {0.5f, 1.5f, 2.5f, 3.5f, -1.0f, -2.0f, 1e10f, 3.25f};
  for (int i = 0; i < 8; ++i)
    EXPECT(t[i] == t0[i], "table[%d] = %g, want %g", i, t[i], t0[i]);
  int k[4] = {};
  CHECK(cudaMemcpyFromSymbol(k, coeffs, sizeof k));
  const int k0[4] = {7, -3, 11, 1000000};
  for (int i = 0; i < 4; ++i)
    EXPECT(k[i] == k0[i], "coeffs[%d] = %d, want %d", i, k[i], k0[i]);
  double z[16];
  memset(z, 0xff, sizeof z);
  CHECK(cudaMemcpyFromSymbol(z, zeroed, sizeof z));
  for (int i = 0; i < 16; ++i)
    EXPECT(z[i] == 0.0, "zeroed[%d] = %g", i, z[i]);

  // Offsets.
  float two[2] = {};
  CHECK(cudaMemcpyFromSymbol(two, table, sizeof two, 3 * sizeof(float)));
  EXPECT(two[0] == 3.5f && two[1] == -1.0f, "table[3..4] = %g %g", two[0], two[1]);

  // Writes.
  c = -7;
  CHECK(cudaMemcpyToSymbol(counter, &c, sizeof c));
  c = 0;
  CHECK(cudaMemcpyFromSymbol(&c, counter, sizeof c));
  EXPECT(c == -7, "counter after write %d", c);
  const int k1[2] = {123, 456};
  CHECK(cudaMemcpyToSymbol(coeffs, k1, sizeof k1, 2 * sizeof(int)));
  CHECK(cudaMemcpyFromSymbol(k, coeffs, sizeof k));
  EXPECT(k[0] == 7 && k[1] == -3 && k[2] == 123 && k[3] == 456, "coeffs after partial write %d %d %d %d",
         k[0], k[1], k[2], k[3]);
  // Async variants on a stream.
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  float *pinned = nullptr, *src = nullptr;
  CHECK(cudaMallocHost(&pinned, 8 * sizeof(float)));
  CHECK(cudaMallocHost(&src, 8 * sizeof(float)));
  for (int i = 0; i < 8; ++i)
    src[i] = (float)(i * i);
  memset(pinned, 0, 8 * sizeof(float));
  CHECK(cudaMemcpyToSymbolAsync(table, src, 8 * sizeof(float), 0, cudaMemcpyHostToDevice, s));
  CHECK(cudaMemcpyFromSymbolAsync(pinned, table, 8 * sizeof(float), 0, cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  for (int i = 0; i < 8; ++i)
    EXPECT(pinned[i] == (float)(i * i), "table[%d] after async write = %g", i, pinned[i]);

  // Addresses and sizes.
  void *addr = nullptr;
  size_t size = 0;
  CHECK(cudaGetSymbolAddress(&addr, counter));
  CHECK(cudaGetSymbolSize(&size, counter));
  EXPECT(addr != nullptr && size == sizeof(int), "counter: address %p size %zu", addr, size);
  int via_ptr = 0;
  CHECK(cudaMemcpy(&via_ptr, addr, sizeof via_ptr, cudaMemcpyDeviceToHost));
  EXPECT(via_ptr == -7, "counter read through its address = %d", via_ptr);
  via_ptr = 99;
  CHECK(cudaMemcpy(addr, &via_ptr, sizeof via_ptr, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpyFromSymbol(&c, counter, sizeof c));
  EXPECT(c == 99, "counter written through its address, read as symbol = %d", c);
  cudaPointerAttributes a;
  CHECK(cudaPointerGetAttributes(&a, addr));
  EXPECT(a.type == cudaMemoryTypeDevice, "symbol address pointer type %d", (int)a.type);

  void *taddr = nullptr, *kaddr = nullptr, *zaddr = nullptr;
  CHECK(cudaGetSymbolAddress(&taddr, table));
  CHECK(cudaGetSymbolSize(&size, table));
  EXPECT(taddr && size == 8 * sizeof(float), "table: address %p size %zu", taddr, size);
  CHECK(cudaGetSymbolAddress(&kaddr, coeffs));
  CHECK(cudaGetSymbolSize(&size, coeffs));
  EXPECT(kaddr && size == 4 * sizeof(int), "coeffs: address %p size %zu", kaddr, size);
  CHECK(cudaGetSymbolAddress(&zaddr, zeroed));
  CHECK(cudaGetSymbolSize(&size, zeroed));
  EXPECT(zaddr && size == 16 * sizeof(double), "zeroed: address %p size %zu", zaddr, size);
  EXPECT(addr != taddr && taddr != kaddr && kaddr != zaddr && addr != kaddr,
         "symbols share addresses: %p %p %p %p", addr, taddr, kaddr, zaddr);
  EXPECT((uintptr_t)zaddr % alignof(double) == 0, "zeroed misaligned: %p", zaddr);

  // Out-of-range copy into a symbol is an error.
  int big[8] = {};
  EXPECT_ERR(cudaMemcpyToSymbol(coeffs, big, sizeof big), cudaErrorInvalidValue);
  EXPECT_ERR(cudaMemcpyFromSymbol(big, counter, sizeof(int), sizeof(int)), cudaErrorInvalidValue);
  (void)cudaGetLastError(); // clear the recorded error

  CHECK(cudaFreeHost(pinned));
  CHECK(cudaFreeHost(src));
  CHECK(cudaStreamDestroy(s));
  PASSED("symbols");
  return 0;
}
