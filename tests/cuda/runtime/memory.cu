// Device memory through the runtime: allocation, copies of every kind, memset,
// pitched/3D memory, pointer attributes, managed memory, async and stream-
// ordered allocation. No kernel launches.
#include "check.h"
#include <algorithm>
#include <stdint.h>
#include <string.h>
#include <vector>

static unsigned char pattern(size_t i, unsigned seed) {
  return (unsigned char)((i * 2654435761u + seed) >> 7);
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
  for (size_t i = 0; i < n; ++i)
    p[i] = pattern(i, seed);
}

static void expect_pattern(const unsigned char *p, size_t n, unsigned seed, const char *what) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != pattern(i, seed))
      FAIL("%s: byte %zu of %zu is 0x%02x, expected 0x%02x", what, i, n, p[i], pattern(i, seed));
}

static void round_trips() {
  const size_t sizes[] = {1, 4096, (1u << 20) + 13};
  for (size_t n : sizes) {
    std::vector<unsigned char> h(n), back(n, 0);
    fill(h.data(), n, (unsigned)n);
    unsigned char *a = nullptr, *b = nullptr;
    CHECK(cudaMalloc(&a, n));
    CHECK(cudaMalloc(&b, n));
    EXPECT(a && b && a != b, "cudaMalloc returned %p and %p", (void *)a, (void *)b);
    EXPECT((uintptr_t)a % 256 == 0, "cudaMalloc pointer %p not 256-byte aligned", (void *)a);
    CHECK(cudaMemcpy(a, h.data(), n, cudaMemcpyHostToDevice));
    CHECK(cudaMemcpy(b, a, n, cudaMemcpyDeviceToDevice));
    CHECK(cudaMemcpy(back.data(), b, n, cudaMemcpyDeviceToHost));
    expect_pattern(back.data(), n, (unsigned)n, "H2D/D2D/D2H round trip");

    // memset the middle; the edges keep their pattern
    size_t off = n / 4, len = n / 2;
    CHECK(cudaMemset(b + off, 0xA5, len));
    CHECK(cudaMemcpy(back.data(), b, n, cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < n; ++i) {
      unsigned char want = (i >= off && i < off + len) ? 0xA5 : pattern(i, (unsigned)n);
      EXPECT(back[i] == want, "after memset, byte %zu of %zu = 0x%02x, want 0x%02x", i, n, back[i], want);
    }
    // cudaMemcpyDefault infers the direction from the pointers (UVA)
    std::fill(back.begin(), back.end(), 0);
    CHECK(cudaMemcpy(b, h.data(), n, cudaMemcpyDefault));
    CHECK(cudaMemcpy(back.data(), b, n, cudaMemcpyDefault));
    expect_pattern(back.data(), n, (unsigned)n, "cudaMemcpyDefault round trip");
    CHECK(cudaMemcpy(a, b, n, cudaMemcpyDefault));
    std::fill(back.begin(), back.end(), 0);
    CHECK(cudaMemcpy(back.data(), a, n, cudaMemcpyDeviceToHost));
    expect_pattern(back.data(), n, (unsigned)n, "cudaMemcpyDefault D2D");
    // peer copy on the same device
    CHECK(cudaMemset(b, 0, n));
    CHECK(cudaMemcpyPeer(b, 0, a, 0, n));
    std::fill(back.begin(), back.end(), 0);
    CHECK(cudaMemcpy(back.data(), b, n, cudaMemcpyDeviceToHost));
    expect_pattern(back.data(), n, (unsigned)n, "cudaMemcpyPeer to the same device");
    CHECK(cudaFree(a));
    CHECK(cudaFree(b));
  }
  CHECK(cudaFree(nullptr)); // freeing null is a no-op
}

static void pitched() {
  const size_t w = 333, h = 17; // bytes per row, rows
  std::vector<unsigned char> host(w * h), back(w * h, 0);
  fill(host.data(), host.size(), 7);
  unsigned char *d = nullptr, *d2 = nullptr;
  size_t pitch = 0, pitch2 = 0;
  CHECK(cudaMallocPitch((void **)&d, &pitch, w, h));
  CHECK(cudaMallocPitch((void **)&d2, &pitch2, w, h));
  EXPECT(pitch >= w, "pitch %zu < width %zu", pitch, w);
  CHECK(cudaMemset2D(d, pitch, 0, pitch, h));
  CHECK(cudaMemcpy2D(d, pitch, host.data(), w, w, h, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy2D(d2, pitch2, d, pitch, w, h, cudaMemcpyDeviceToDevice));
  CHECK(cudaMemcpy2D(back.data(), w, d2, pitch2, w, h, cudaMemcpyDeviceToHost));
  expect_pattern(back.data(), back.size(), 7, "cudaMemcpy2D round trip");
  // Row layout: row r of the pitched allocation starts at d + r*pitch.
  std::vector<unsigned char> raw(pitch * h);
  CHECK(cudaMemcpy(raw.data(), d, pitch * h, cudaMemcpyDeviceToHost));
  for (size_t r = 0; r < h; ++r)
    for (size_t c = 0; c < w; ++c)
      EXPECT(raw[r * pitch + c] == host[r * w + c], "pitched layout: row %zu col %zu", r, c);
  // A sub-rectangle (columns 10..109 of rows 3..12) copied back.
  std::vector<unsigned char> sub(100 * 10, 0);
  CHECK(cudaMemcpy2D(sub.data(), 100, d + 3 * pitch + 10, pitch, 100, 10, cudaMemcpyDeviceToHost));
  for (size_t r = 0; r < 10; ++r)
    for (size_t c = 0; c < 100; ++c)
      EXPECT(sub[r * 100 + c] == host[(r + 3) * w + c + 10], "sub-rectangle row %zu col %zu", r, c);
  CHECK(cudaFree(d));
  CHECK(cudaFree(d2));
}

static void three_d() {
  const size_t W = 40 * sizeof(float), H = 9, D = 5; // extent width in bytes
  cudaExtent ext = make_cudaExtent(W, H, D);
  cudaPitchedPtr dev;
  CHECK(cudaMalloc3D(&dev, ext));
  EXPECT(dev.pitch >= W && dev.xsize == W && dev.ysize == H, "pitched ptr pitch %zu xsize %zu ysize %zu",
         dev.pitch, dev.xsize, dev.ysize);
  std::vector<unsigned char> host(W * H * D), back(W * H * D, 0);
  fill(host.data(), host.size(), 99);
  CHECK(cudaMemset3D(dev, 0, ext));

  cudaMemcpy3DParms up = {};
  up.srcPtr = make_cudaPitchedPtr(host.data(), W, W, H);
  up.dstPtr = dev;
  up.extent = ext;
  up.kind = cudaMemcpyHostToDevice;
  CHECK(cudaMemcpy3D(&up));

  cudaMemcpy3DParms down = {};
  down.srcPtr = dev;
  down.dstPtr = make_cudaPitchedPtr(back.data(), W, W, H);
  down.extent = ext;
  down.kind = cudaMemcpyDeviceToHost;
  CHECK(cudaMemcpy3D(&down));
  expect_pattern(back.data(), back.size(), 99, "cudaMemcpy3D round trip");

  // A sub-box at an offset: x 8..(8+16) bytes, y 2..6, z 1..3.
  std::vector<unsigned char> box(16 * 4 * 2, 0);
  cudaMemcpy3DParms part = {};
  part.srcPtr = dev;
  part.srcPos = make_cudaPos(8, 2, 1);
  part.dstPtr = make_cudaPitchedPtr(box.data(), 16, 16, 4);
  part.extent = make_cudaExtent(16, 4, 2);
  part.kind = cudaMemcpyDeviceToHost;
  CHECK(cudaMemcpy3D(&part));
  for (size_t z = 0; z < 2; ++z)
    for (size_t y = 0; y < 4; ++y)
      for (size_t x = 0; x < 16; ++x)
        EXPECT(box[(z * 4 + y) * 16 + x] == host[((z + 1) * H + (y + 2)) * W + x + 8],
               "3D sub-box at x %zu y %zu z %zu", x, y, z);
  CHECK(cudaFree(dev.ptr));
}

static void mem_info() {
  size_t free0 = 0, total = 0;
  CHECK(cudaMemGetInfo(&free0, &total));
  printf("memory: %zu free of %zu\n", free0, total);
  EXPECT(total > 0 && free0 <= total, "free %zu total %zu", free0, total);
  const size_t big = 256u << 20;
  void *p = nullptr;
  CHECK(cudaMalloc(&p, big));
  size_t free1 = 0, total1 = 0;
  CHECK(cudaMemGetInfo(&free1, &total1));
  EXPECT(total1 == total, "total changed %zu -> %zu", total, total1);
  EXPECT(free1 < free0, "free did not drop after a 256 MiB allocation: %zu -> %zu", free0, free1);
  CHECK(cudaFree(p));
}

static void pointer_attributes() {
  void *dev = nullptr, *pinned = nullptr, *managed = nullptr;
  CHECK(cudaMalloc(&dev, 4096));
  CHECK(cudaMallocHost(&pinned, 4096));
  CHECK(cudaMallocManaged(&managed, 4096));
  void *plain = malloc(4096);

  cudaPointerAttributes a;
  CHECK(cudaPointerGetAttributes(&a, dev));
  EXPECT(a.type == cudaMemoryTypeDevice, "device pointer: type %d", (int)a.type);
  EXPECT(a.device == 0, "device pointer: device %d", a.device);
  EXPECT(a.devicePointer == dev, "device pointer: devicePointer %p != %p", a.devicePointer, dev);
  // interior pointers resolve to the same allocation
  CHECK(cudaPointerGetAttributes(&a, (char *)dev + 100));
  EXPECT(a.type == cudaMemoryTypeDevice, "interior device pointer: type %d", (int)a.type);

  CHECK(cudaPointerGetAttributes(&a, pinned));
  EXPECT(a.type == cudaMemoryTypeHost, "pinned pointer: type %d", (int)a.type);
  EXPECT(a.hostPointer == pinned, "pinned pointer: hostPointer %p != %p", a.hostPointer, pinned);
  EXPECT(a.devicePointer != nullptr, "pinned pointer: no devicePointer (UVA)");

  CHECK(cudaPointerGetAttributes(&a, managed));
  EXPECT(a.type == cudaMemoryTypeManaged, "managed pointer: type %d", (int)a.type);
  EXPECT(a.devicePointer == managed && a.hostPointer == managed,
         "managed pointer: device %p host %p, want %p", a.devicePointer, a.hostPointer, managed);

  // Plain host memory is not an error since CUDA 11: unregistered type.
  CHECK(cudaPointerGetAttributes(&a, plain));
  EXPECT(a.type == cudaMemoryTypeUnregistered, "malloc'ed pointer: type %d", (int)a.type);

  // Managed memory is usable from the host directly and by memcpy.
  int *m = (int *)managed;
  for (int i = 0; i < 1024; ++i)
    m[i] = i * 3;
  int *d2 = nullptr;
  CHECK(cudaMalloc(&d2, 4096));
  CHECK(cudaMemcpy(d2, m, 4096, cudaMemcpyDefault));
  std::vector<int> back(1024, 0);
  CHECK(cudaMemcpy(back.data(), d2, 4096, cudaMemcpyDeviceToHost));
  for (int i = 0; i < 1024; ++i)
    EXPECT(back[i] == i * 3, "managed -> device: [%d] = %d", i, back[i]);
  CHECK(cudaMemset(managed, 0, 4096));
  CHECK(cudaDeviceSynchronize());
  for (int i = 0; i < 1024; ++i)
    EXPECT(m[i] == 0, "managed after cudaMemset: [%d] = %d", i, m[i]);

  CHECK(cudaFree(d2));
  CHECK(cudaFree(dev));
  CHECK(cudaFreeHost(pinned));
  CHECK(cudaFree(managed));
  free(plain);
}

static void async_copies() {
  const size_t n = 3 << 20;
  unsigned char *h = nullptr, *back = nullptr, *d = nullptr;
  CHECK(cudaMallocHost(&h, n));
  CHECK(cudaMallocHost(&back, n));
  CHECK(cudaMalloc(&d, n));
  fill(h, n, 1234);
  memset(back, 0, n);
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  CHECK(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, s));
  CHECK(cudaMemsetAsync(d + 10, 0x5A, 20, s));
  CHECK(cudaMemcpyAsync(back, d, n, cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  for (size_t i = 0; i < n; ++i) {
    unsigned char want = (i >= 10 && i < 30) ? 0x5A : pattern(i, 1234);
    EXPECT(back[i] == want, "async copy byte %zu = 0x%02x, want 0x%02x", i, back[i], want);
  }

  // Stream-ordered allocation.
  unsigned char *sa = nullptr;
  CHECK(cudaMallocAsync((void **)&sa, n, s));
  CHECK(cudaMemcpyAsync(sa, d, n, cudaMemcpyDeviceToDevice, s));
  memset(back, 0, n);
  CHECK(cudaMemcpyAsync(back, sa, n, cudaMemcpyDeviceToHost, s));
  CHECK(cudaFreeAsync(sa, s));
  CHECK(cudaStreamSynchronize(s));
  for (size_t i = 0; i < n; ++i) {
    unsigned char want = (i >= 10 && i < 30) ? 0x5A : pattern(i, 1234);
    EXPECT(back[i] == want, "cudaMallocAsync copy byte %zu = 0x%02x, want 0x%02x", i, back[i], want);
  }
  CHECK(cudaStreamDestroy(s));
  CHECK(cudaFree(d));
  CHECK(cudaFreeHost(h));
  CHECK(cudaFreeHost(back));
}

static void pools_and_hints() {
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  // Async 2D copies and memsets.
  const size_t w = 100, h = 7;
  unsigned char *host = nullptr, *back = nullptr, *d = nullptr;
  size_t pitch = 0;
  CHECK(cudaMallocHost(&host, w * h));
  CHECK(cudaMallocHost(&back, w * h));
  CHECK(cudaMallocPitch((void **)&d, &pitch, w, h));
  fill(host, w * h, 55);
  CHECK(cudaMemset2DAsync(d, pitch, 0, w, h, s));
  CHECK(cudaMemcpy2DAsync(d, pitch, host, w, w, h, cudaMemcpyHostToDevice, s));
  CHECK(cudaMemset2DAsync(d + pitch, pitch, 0xEE, 10, 2, s)); // rows 1-2, columns 0-9
  CHECK(cudaMemcpy2DAsync(back, w, d, pitch, w, h, cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  for (size_t r = 0; r < h; ++r)
    for (size_t c = 0; c < w; ++c) {
      unsigned char want = (r >= 1 && r <= 2 && c < 10) ? 0xEE : pattern(r * w + c, 55);
      EXPECT(back[r * w + c] == want, "2D async: row %zu col %zu = 0x%02x, want 0x%02x", r, c,
             back[r * w + c], want);
    }
  CHECK(cudaFree(d));
  CHECK(cudaFreeHost(host));
  CHECK(cudaFreeHost(back));

  // Memory pools: the device's default pool and an explicit one.
  cudaMemPool_t def = nullptr, cur = nullptr;
  CHECK(cudaDeviceGetDefaultMemPool(&def, 0));
  CHECK(cudaDeviceGetMemPool(&cur, 0));
  EXPECT(def != nullptr && cur == def, "default pool %p, current pool %p", (void *)def, (void *)cur);
  cuuint64_t threshold = 64u << 20;
  CHECK(cudaMemPoolSetAttribute(def, cudaMemPoolAttrReleaseThreshold, &threshold));
  cuuint64_t got = 0;
  CHECK(cudaMemPoolGetAttribute(def, cudaMemPoolAttrReleaseThreshold, &got));
  EXPECT(got == threshold, "release threshold %llu", (unsigned long long)got);

  cudaMemPoolProps props = {};
  props.allocType = cudaMemAllocationTypePinned;
  props.location.type = cudaMemLocationTypeDevice;
  props.location.id = 0;
  cudaMemPool_t pool = nullptr;
  CHECK(cudaMemPoolCreate(&pool, &props));
  int *a = nullptr, *b = nullptr;
  CHECK(cudaMallocFromPoolAsync((void **)&a, 1 << 20, pool, s));
  CHECK(cudaMallocAsync((void **)&b, 1 << 20, s)); // from the default pool
  CHECK(cudaMemsetAsync(a, 0x7F, 1 << 20, s));
  CHECK(cudaMemcpyAsync(b, a, 1 << 20, cudaMemcpyDeviceToDevice, s));
  int probe[4] = {};
  CHECK(cudaMemcpyAsync(probe, b + 1000, sizeof probe, cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  for (int i = 0; i < 4; ++i)
    EXPECT(probe[i] == 0x7F7F7F7F, "pool memory [%d] = 0x%x", i, probe[i]);
  cudaPointerAttributes pa;
  CHECK(cudaPointerGetAttributes(&pa, a));
  EXPECT(pa.type == cudaMemoryTypeDevice, "pool allocation type %d", (int)pa.type);
  cuuint64_t used = 0;
  CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
  EXPECT(used >= (1u << 20), "pool UsedMemCurrent %llu with 1 MiB allocated", (unsigned long long)used);
  CHECK(cudaFreeAsync(a, s));
  CHECK(cudaFreeAsync(b, s));
  CHECK(cudaStreamSynchronize(s));
  CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
  EXPECT(used == 0, "pool UsedMemCurrent %llu after freeing everything", (unsigned long long)used);
  CHECK(cudaMemPoolTrimTo(pool, 0));
  CHECK(cudaMemPoolDestroy(pool));

  // Managed-memory hints are accepted (they are only hints).
  float *m = nullptr;
  const size_t mb = 1 << 20;
  CHECK(cudaMallocManaged(&m, mb));
  for (size_t i = 0; i < mb / sizeof(float); ++i)
    m[i] = (float)i;
  cudaMemLocation devloc = {}, hostloc = {};
  devloc.type = cudaMemLocationTypeDevice;
  devloc.id = 0;
  hostloc.type = cudaMemLocationTypeHost;
  CHECK(cudaMemAdvise(m, mb, cudaMemAdviseSetReadMostly, devloc));
  CHECK(cudaMemAdvise(m, mb, cudaMemAdviseSetPreferredLocation, devloc));
  CHECK(cudaMemPrefetchAsync(m, mb, devloc, 0, s));
  CHECK(cudaMemPrefetchAsync(m, mb, hostloc, 0, s));
  CHECK(cudaStreamSynchronize(s));
  for (size_t i = 0; i < mb / sizeof(float); ++i)
    EXPECT(m[i] == (float)i, "managed after prefetch [%zu] = %g", i, m[i]);
  CHECK(cudaMemAdvise(m, mb, cudaMemAdviseUnsetReadMostly, devloc));
  CHECK(cudaFree(m));
  CHECK(cudaStreamDestroy(s));
}

int main() {
  CHECK(cudaSetDevice(0));
  round_trips();
  pitched();
  three_d();
  mem_info();
  pointer_attributes();
  async_copies();
  pools_and_hints();
  CHECK(cudaDeviceSynchronize());
  CHECK(cudaGetLastError());
  PASSED("memory");
  return 0;
}
