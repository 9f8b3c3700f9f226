#include "conformance.h"
#include <cstring>
#include <vector>

TEST_CASE("allocations: alloc, range, attributes, free") {
  ContextFixture f;
  CUdeviceptr p = 0;
  REQUIRE(cuMemAlloc(&p, 1000) == CUDA_SUCCESS);
  CHECK(p != 0);
  CHECK(p % 256 == 0);
  CUdeviceptr base = 0;
  size_t size = 0;
  CHECK(cuMemGetAddressRange(&base, &size, p + 500) == CUDA_SUCCESS);
  CHECK(base == p);
  CHECK(size == 1000);
  unsigned type = 0;
  CHECK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, p) == CUDA_SUCCESS);
  CHECK(type == CU_MEMORYTYPE_DEVICE);
  CUcontext owner = nullptr;
  CHECK(cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_CONTEXT, p) == CUDA_SUCCESS);
  CHECK(owner == f.ctx);
  CHECK(cuMemFree(p) == CUDA_SUCCESS);
  CHECK(cuMemFree(p) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemGetAddressRange(&base, &size, p) == CUDA_ERROR_NOT_FOUND);
  CHECK(cuMemAlloc(&p, 0) == CUDA_ERROR_INVALID_VALUE);
}

TEST_CASE("page-locked host memory has an address range (unified addressing)") {
  ContextFixture f;
  void *h = nullptr;
  REQUIRE(cuMemHostAlloc(&h, 40, CU_MEMHOSTALLOC_DEVICEMAP) == CUDA_SUCCESS);
  CUdeviceptr d = 0;
  REQUIRE(cuMemHostGetDevicePointer(&d, h, 0) == CUDA_SUCCESS);
  CUdeviceptr base = 0;
  size_t size = 0;
  CHECK(cuMemGetAddressRange(&base, &size, d + 8) == CUDA_SUCCESS);
  CHECK(base == d);
  CHECK(size == 40);
  CHECK(cuMemFreeHost(h) == CUDA_SUCCESS);
  CHECK(cuMemGetAddressRange(&base, &size, d) == CUDA_ERROR_NOT_FOUND);
}

TEST_CASE("an impossible allocation is out of memory, and the process keeps working") {
  ContextFixture f;
  CUdeviceptr p = 0;
  CHECK(cuMemAlloc(&p, size_t(1) << 50) == CUDA_ERROR_OUT_OF_MEMORY);
  CHECK(cuMemAlloc(&p, 4096) == CUDA_SUCCESS);
  CHECK(cuMemFree(p) == CUDA_SUCCESS);
}

TEST_CASE("free memory drops while an allocation lives") {
  ContextFixture f;
  size_t free0 = 0, total = 0, free1 = 0;
  REQUIRE(cuMemGetInfo(&free0, &total) == CUDA_SUCCESS);
  CUdeviceptr p = 0;
  REQUIRE(cuMemAlloc(&p, 64 << 20) == CUDA_SUCCESS);
  REQUIRE(cuMemGetInfo(&free1, &total) == CUDA_SUCCESS);
  CHECK(free1 + (64 << 20) <= free0);
  CHECK(cuMemFree(p) == CUDA_SUCCESS);
}

TEST_CASE("copies in every direction, linear, 2D and 3D") {
  ContextFixture f;
  std::vector<unsigned char> host(1 << 20), back(1 << 20);
  for (size_t i = 0; i < host.size(); ++i)
    host[i] = static_cast<unsigned char>(i * 7 + 3);
  CUdeviceptr a = 0, b = 0;
  REQUIRE(cuMemAlloc(&a, host.size()) == CUDA_SUCCESS);
  REQUIRE(cuMemAlloc(&b, host.size()) == CUDA_SUCCESS);
  CHECK(cuMemcpyHtoD(a, host.data(), host.size()) == CUDA_SUCCESS);
  CHECK(cuMemcpyDtoD(b, a, host.size()) == CUDA_SUCCESS);
  CHECK(cuMemcpyDtoH(back.data(), b, host.size()) == CUDA_SUCCESS);
  CHECK(back == host);
  // Unified cuMemcpy, host to host through device addresses.
  CHECK(cuMemcpy(b, a, 100) == CUDA_SUCCESS);
  // Out of range and bogus pointers are errors, not crashes.
  CHECK(cuMemcpyDtoH(back.data(), a, host.size() + 1) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemcpyDtoH(back.data(), 0x1234, 16) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemcpyHtoD(0, host.data(), 16) == CUDA_ERROR_INVALID_VALUE);

  // 2D: a 100x50 region of a pitched allocation.
  CUdeviceptr pitched = 0;
  size_t pitch = 0;
  REQUIRE(cuMemAllocPitch(&pitched, &pitch, 100, 50, 4) == CUDA_SUCCESS);
  CHECK(pitch >= 100);
  CUDA_MEMCPY2D c2{};
  c2.srcMemoryType = CU_MEMORYTYPE_HOST;
  c2.srcHost = host.data();
  c2.srcPitch = 100;
  c2.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  c2.dstDevice = pitched;
  c2.dstPitch = pitch;
  c2.WidthInBytes = 100;
  c2.Height = 50;
  CHECK(cuMemcpy2D(&c2) == CUDA_SUCCESS);
  std::vector<unsigned char> rows(pitch * 50);
  CHECK(cuMemcpyDtoH(rows.data(), pitched, rows.size()) == CUDA_SUCCESS);
  for (int y = 0; y < 50; ++y)
    CHECK(std::memcmp(rows.data() + y * pitch, host.data() + y * 100, 100) == 0);

  // 3D: a 16x8x4 box from offset (2,1,1) of a 32x16x8 host volume.
  CUDA_MEMCPY3D c3{};
  c3.srcMemoryType = CU_MEMORYTYPE_HOST;
  c3.srcHost = host.data();
  c3.srcPitch = 32;
  c3.srcHeight = 16;
  c3.srcXInBytes = 2;
  c3.srcY = 1;
  c3.srcZ = 1;
  c3.dstMemoryType = CU_MEMORYTYPE_DEVICE;
  c3.dstDevice = b;
  c3.dstPitch = 16;
  c3.dstHeight = 8;
  c3.WidthInBytes = 16;
  c3.Height = 8;
  c3.Depth = 4;
  CHECK(cuMemcpy3D(&c3) == CUDA_SUCCESS);
  std::vector<unsigned char> box(16 * 8 * 4);
  CHECK(cuMemcpyDtoH(box.data(), b, box.size()) == CUDA_SUCCESS);
  bool same = true;
  for (int z = 0; z < 4; ++z)
    for (int y = 0; y < 8; ++y)
      for (int x = 0; x < 16; ++x)
        same &= box[(z * 8 + y) * 16 + x] == host[((z + 1) * 16 + (y + 1)) * 32 + x + 2];
  CHECK(same);
  CHECK(cuMemFree(a) == CUDA_SUCCESS);
  CHECK(cuMemFree(b) == CUDA_SUCCESS);
  CHECK(cuMemFree(pitched) == CUDA_SUCCESS);
}

TEST_CASE("memsets of 8, 16 and 32 bits, linear and 2D") {
  ContextFixture f;
  CUdeviceptr p = 0;
  REQUIRE(cuMemAlloc(&p, 4096) == CUDA_SUCCESS);
  std::vector<unsigned> words(1024);
  CHECK(cuMemsetD32(p, 0xdeadbeef, 1024) == CUDA_SUCCESS);
  CHECK(cuMemcpyDtoH(words.data(), p, 4096) == CUDA_SUCCESS);
  CHECK(words[0] == 0xdeadbeef);
  CHECK(words[1023] == 0xdeadbeef);
  CHECK(cuMemsetD16(p, 0x1234, 2048) == CUDA_SUCCESS);
  CHECK(cuMemcpyDtoH(words.data(), p, 4096) == CUDA_SUCCESS);
  CHECK(words[7] == 0x12341234);
  CHECK(cuMemsetD8(p, 0xab, 4096) == CUDA_SUCCESS);
  CHECK(cuMemsetD2D32(p, 256, 7, 10, 4) == CUDA_SUCCESS); // 10 words in each of 4 rows of 256 bytes
  CHECK(cuMemcpyDtoH(words.data(), p, 4096) == CUDA_SUCCESS);
  CHECK(words[0] == 7);
  CHECK(words[9] == 7);
  CHECK(words[10] == 0xabababab);
  CHECK(words[64] == 7);
  CHECK(words[64 * 4] == 0xabababab);
  CHECK(cuMemsetD32(p + 2, 1, 4) == CUDA_ERROR_INVALID_VALUE); // misaligned
  CHECK(cuMemsetD8(p, 0, 4097) == CUDA_ERROR_INVALID_VALUE);   // past the end
  CHECK(cuMemFree(p) == CUDA_SUCCESS);
}

TEST_CASE("pinned, mapped and registered host memory") {
  ContextFixture f;
  void *pinned = nullptr;
  REQUIRE(cuMemHostAlloc(&pinned, 8192, CU_MEMHOSTALLOC_DEVICEMAP) == CUDA_SUCCESS);
  CUdeviceptr mapped = 0;
  CHECK(cuMemHostGetDevicePointer(&mapped, pinned, 0) == CUDA_SUCCESS);
  CHECK(mapped == reinterpret_cast<CUdeviceptr>(pinned)); // unified addressing
  unsigned flags = 0;
  CHECK(cuMemHostGetFlags(&flags, pinned) == CUDA_SUCCESS);
  CHECK((flags & CU_MEMHOSTALLOC_DEVICEMAP) != 0);
  unsigned type = 0;
  CHECK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, mapped) == CUDA_SUCCESS);
  CHECK(type == CU_MEMORYTYPE_HOST);
  CHECK(cuMemFreeHost(pinned) == CUDA_SUCCESS);
  CHECK(cuMemFreeHost(pinned) == CUDA_ERROR_INVALID_VALUE);

  std::vector<char> buffer(1 << 16);
  CHECK(cuMemHostRegister(buffer.data(), buffer.size(), 0) == CUDA_SUCCESS);
  CHECK(cuMemHostRegister(buffer.data(), buffer.size(), 0) == CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED);
  CHECK(cuMemHostUnregister(buffer.data()) == CUDA_SUCCESS);
  CHECK(cuMemHostUnregister(buffer.data()) == CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED);

  // cuPointerGetAttributes on plain host memory: success, empty values.
  CUpointer_attribute attrs[] = {CU_POINTER_ATTRIBUTE_MEMORY_TYPE, CU_POINTER_ATTRIBUTE_CONTEXT};
  unsigned memType = 99;
  CUcontext ctx = reinterpret_cast<CUcontext>(1);
  void *data[] = {&memType, &ctx};
  CHECK(cuPointerGetAttributes(2, attrs, data, reinterpret_cast<CUdeviceptr>(buffer.data())) == CUDA_SUCCESS);
  CHECK(memType == 0);
  CHECK(ctx == nullptr);
}

TEST_CASE("managed memory is reachable from the host") {
  ContextFixture f;
  CUdeviceptr p = 0;
  REQUIRE(cuMemAllocManaged(&p, 4096, CU_MEM_ATTACH_GLOBAL) == CUDA_SUCCESS);
  int managed = 0;
  CHECK(cuPointerGetAttribute(&managed, CU_POINTER_ATTRIBUTE_IS_MANAGED, p) == CUDA_SUCCESS);
  CHECK(managed == 1);
  CHECK(cuMemsetD32(p, 5, 1024) == CUDA_SUCCESS);
  CHECK(cuCtxSynchronize() == CUDA_SUCCESS);
  CHECK(reinterpret_cast<int *>(p)[1023] == 5);
  CHECK(cuMemFree(p) == CUDA_SUCCESS);
}

TEST_CASE("stream-ordered allocation") {
  ContextFixture f;
  CUstream s = nullptr;
  REQUIRE(cuStreamCreate(&s, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  CUmemoryPool pool = nullptr;
  CHECK(cuDeviceGetDefaultMemPool(&pool, 0) == CUDA_SUCCESS);
  CUdeviceptr p = 0;
  CHECK(cuMemAllocAsync(&p, 1 << 20, s) == CUDA_SUCCESS);
  cuuint64_t used = 0;
  CHECK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used) == CUDA_SUCCESS);
  CHECK(used >= (1 << 20));
  CHECK(cuMemsetD8Async(p, 1, 1 << 20, s) == CUDA_SUCCESS);
  CHECK(cuMemFreeAsync(p, s) == CUDA_SUCCESS);
  CHECK(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(cuMemPoolGetAttribute(pool, CU_MEMPOOL_ATTR_USED_MEM_CURRENT, &used) == CUDA_SUCCESS);
  CHECK(used == 0);
  CHECK(cuStreamDestroy(s) == CUDA_SUCCESS);
}
