// Virtual memory management through the driver API: reservations, physical
// allocations, mappings that copies, fills and kernels use across mapping
// boundaries, access flags, handle lifetime, pointer queries, and sharing
// as a POSIX descriptor (checked from a child process without CUDA).
#include "conformance.h"
#include <cstdint>
#include <cstring>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

namespace {

const char *kFillPtx = R"(
.version 8.0
.target sm_75
.address_size 64
.visible .entry fill(.param .u64 p, .param .u32 n)
{
  .reg .b32 %r<6>;
  .reg .b64 %rd<4>;
  .reg .pred %q;
  ld.param.u64 %rd1, [p];
  ld.param.u32 %r1, [n];
  mov.u32 %r2, %ctaid.x;
  mov.u32 %r3, %ntid.x;
  mov.u32 %r4, %tid.x;
  mad.lo.s32 %r5, %r2, %r3, %r4;
  setp.ge.u32 %q, %r5, %r1;
  @%q bra DONE;
  mul.wide.u32 %rd2, %r5, 4;
  add.s64 %rd3, %rd1, %rd2;
  st.global.u32 [%rd3], %r5;
DONE:
  ret;
}
)";

CUmemAllocationProp deviceProp(unsigned long long handleTypes = CU_MEM_HANDLE_TYPE_NONE) {
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  prop.requestedHandleTypes = static_cast<CUmemAllocationHandleType>(handleTypes);
  return prop;
}

size_t granularity() {
  CUmemAllocationProp prop = deviceProp();
  size_t g = 0;
  REQUIRE(cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM) == CUDA_SUCCESS);
  REQUIRE(g > 0);
  return g;
}

CUresult setReadWrite(CUdeviceptr p, size_t bytes, unsigned flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE) {
  CUmemAccessDesc desc{};
  desc.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  desc.location.id = 0;
  desc.flags = static_cast<CUmemAccess_flags>(flags);
  return cuMemSetAccess(p, bytes, &desc, 1);
}

} // namespace

TEST_CASE("vmm: the device reports virtual memory management and descriptor handles") {
  ContextFixture f;
  int vmm = 0, fd = 0;
  CHECK(cuDeviceGetAttribute(&vmm, CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED, 0) ==
        CUDA_SUCCESS);
  CHECK(cuDeviceGetAttribute(&fd, CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED, 0) ==
        CUDA_SUCCESS);
  CHECK(vmm == 1);
  CHECK(fd == 1);
  size_t g = 0, rec = 0;
  CUmemAllocationProp prop = deviceProp();
  CHECK(cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM) == CUDA_SUCCESS);
  CHECK(cuMemGetAllocationGranularity(&rec, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED) == CUDA_SUCCESS);
  CHECK(g == 2u << 20);
  CHECK(rec % g == 0);
  CHECK(cuMemGetAllocationGranularity(&g, nullptr, CU_MEM_ALLOC_GRANULARITY_MINIMUM) ==
        CUDA_ERROR_INVALID_VALUE);
  prop.location.id = 99;
  CHECK(cuMemGetAllocationGranularity(&g, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM) ==
        CUDA_ERROR_INVALID_DEVICE);
}

TEST_CASE("vmm: two physical allocations mapped back to back act as one device range") {
  ContextFixture f;
  const size_t g = granularity();
  size_t free0 = 0, total = 0;
  REQUIRE(cuMemGetInfo(&free0, &total) == CUDA_SUCCESS);

  CUdeviceptr va = 0;
  REQUIRE(cuMemAddressReserve(&va, 4 * g, 0, 0, 0) == CUDA_SUCCESS);
  CHECK(va % g == 0);
  CUmemAllocationProp prop = deviceProp();
  CUmemGenericAllocationHandle h1 = 0, h2 = 0;
  REQUIRE(cuMemCreate(&h1, g, &prop, 0) == CUDA_SUCCESS);
  REQUIRE(cuMemCreate(&h2, 2 * g, &prop, 0) == CUDA_SUCCESS);
  size_t free1 = 0;
  REQUIRE(cuMemGetInfo(&free1, &total) == CUDA_SUCCESS);
  CHECK(free0 - free1 == 3 * g);

  REQUIRE(cuMemMap(va, g, 0, h1, 0) == CUDA_SUCCESS);
  REQUIRE(cuMemMap(va + g, 2 * g, 0, h2, 0) == CUDA_SUCCESS);
  unsigned long long access = 99;
  CUmemLocation loc{CU_MEM_LOCATION_TYPE_DEVICE, 0};
  CHECK(cuMemGetAccess(&access, &loc, va) == CUDA_SUCCESS);
  CHECK(access == CU_MEM_ACCESS_FLAGS_PROT_NONE); // mappings start inaccessible
  REQUIRE(setReadWrite(va, 3 * g) == CUDA_SUCCESS);
  CHECK(cuMemGetAccess(&access, &loc, va + g + 64) == CUDA_SUCCESS);
  CHECK(access == CU_MEM_ACCESS_FLAGS_PROT_READWRITE);

  // A fill, a kernel and copies that cross from one mapping into the next.
  const size_t n = 3 * g / 4;
  REQUIRE(cuMemsetD32(va, 0xdeadbeef, n) == CUDA_SUCCESS);
  CUmodule mod = nullptr;
  CUfunction fn = nullptr;
  REQUIRE(cuModuleLoadData(&mod, kFillPtx) == CUDA_SUCCESS);
  REQUIRE(cuModuleGetFunction(&fn, mod, "fill") == CUDA_SUCCESS);
  unsigned count = static_cast<unsigned>(n);
  void *args[] = {&va, &count};
  REQUIRE(cuLaunchKernel(fn, static_cast<unsigned>((n + 255) / 256), 1, 1, 256, 1, 1, 0, nullptr, args,
                         nullptr) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS);
  std::vector<std::uint32_t> host(n);
  REQUIRE(cuMemcpyDtoH(host.data(), va, n * 4) == CUDA_SUCCESS);
  bool ok = true;
  for (size_t i = 0; i < n; ++i)
    ok &= host[i] == i;
  CHECK(ok);
  const std::uint32_t marks[4] = {1, 2, 3, 4};
  REQUIRE(cuMemcpyHtoD(va + g - 8, marks, sizeof marks) == CUDA_SUCCESS);
  std::uint32_t back[4] = {};
  REQUIRE(cuMemcpy(reinterpret_cast<CUdeviceptr>(back), va + g - 8, sizeof back) == CUDA_SUCCESS);
  CHECK(std::memcmp(back, marks, sizeof back) == 0);

  // Pointer queries see one device range over the adjacent mappings.
  unsigned type = 0;
  CHECK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, va + g + 5) == CUDA_SUCCESS);
  CHECK(type == CU_MEMORYTYPE_DEVICE);
  int ordinal = -1;
  CHECK(cuPointerGetAttribute(&ordinal, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, va) == CUDA_SUCCESS);
  CHECK(ordinal == 0);
  unsigned accessFlags = 0;
  CHECK(cuPointerGetAttribute(&accessFlags, CU_POINTER_ATTRIBUTE_ACCESS_FLAGS, va) == CUDA_SUCCESS);
  CHECK(accessFlags == CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE);
  CUdeviceptr base = 0;
  size_t size = 0;
  CHECK(cuMemGetAddressRange(&base, &size, va + 2 * g) == CUDA_SUCCESS);
  CHECK(base == va);
  CHECK(size == 3 * g);
  CHECK(cuMemFree(va) == CUDA_ERROR_INVALID_VALUE); // not cuMemAlloc memory

  // The handle behind any address of a mapping; properties from the handle.
  CUmemGenericAllocationHandle got = 0;
  CHECK(cuMemRetainAllocationHandle(&got, reinterpret_cast<void *>(va + g + 100)) == CUDA_SUCCESS);
  CHECK(got == h2);
  CHECK(cuMemRelease(got) == CUDA_SUCCESS);
  CHECK(cuMemRetainAllocationHandle(&got, reinterpret_cast<void *>(va + 3 * g)) == CUDA_ERROR_INVALID_VALUE);
  CUmemAllocationProp back2{};
  CHECK(cuMemGetAllocationPropertiesFromHandle(&back2, h1) == CUDA_SUCCESS);
  CHECK(back2.type == CU_MEM_ALLOCATION_TYPE_PINNED);
  CHECK(back2.location.type == CU_MEM_LOCATION_TYPE_DEVICE);
  CHECK(back2.location.id == 0);

  // Mistakes.
  CHECK(cuMemMap(va + 3 * g, g, 0, h1, 0) == CUDA_SUCCESS); // the same memory twice (aliases)
  CHECK(cuMemUnmap(va + 3 * g, g) == CUDA_SUCCESS);
  CHECK(cuMemMap(va, g, 0, h1, 0) == CUDA_ERROR_INVALID_VALUE);                // already mapped
  CHECK(cuMemMap(va + 3 * g + 4096, g, 0, h1, 0) == CUDA_ERROR_INVALID_VALUE); // unaligned
  CHECK(cuMemMap(va + 3 * g, 2 * g, 0, h2, 0) == CUDA_ERROR_INVALID_VALUE);    // past the reservation
  CHECK(cuMemMap(va + 3 * g, g, 2 * g, h2, 0) == CUDA_ERROR_INVALID_VALUE);    // past the allocation
  CHECK(cuMemMap(va + 3 * g, g, 0, h1, 1) == CUDA_ERROR_INVALID_VALUE);        // flags
  CHECK(cuMemUnmap(va + g, g) == CUDA_ERROR_INVALID_VALUE);                    // part of a mapping
  CHECK(setReadWrite(va, 4 * g) == CUDA_ERROR_INVALID_VALUE);                  // not all mapped
  CHECK(setReadWrite(va, g, 5) == CUDA_ERROR_INVALID_VALUE);                   // unknown flags
  CHECK(cuMemAddressFree(va, 4 * g) == CUDA_ERROR_INVALID_VALUE);              // still mapped
  CHECK(cuMemAddressFree(va + g, g) == CUDA_ERROR_INVALID_VALUE);              // not a reservation

  // Released handles keep their memory while mapped.
  CHECK(cuMemRelease(h1) == CUDA_SUCCESS);
  CHECK(cuMemRelease(h2) == CUDA_SUCCESS);
  CHECK(cuMemRelease(h1) == CUDA_ERROR_INVALID_VALUE);
  std::uint32_t again[4] = {};
  REQUIRE(cuMemcpyDtoH(again, va + g - 8, sizeof again) == CUDA_SUCCESS);
  CHECK(std::memcmp(again, marks, sizeof again) == 0);

  // One call unmaps both mappings; the range is a plain reservation again.
  CHECK(cuMemUnmap(va, 3 * g) == CUDA_SUCCESS);
  CHECK(cuPointerGetAttribute(&type, CU_POINTER_ATTRIBUTE_MEMORY_TYPE, va) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemGetAccess(&access, &loc, va) == CUDA_ERROR_INVALID_VALUE);
  size_t free2 = 0;
  REQUIRE(cuMemGetInfo(&free2, &total) == CUDA_SUCCESS);
  CHECK(free2 == free0); // the memory went back
  CHECK(cuMemAddressFree(va, 4 * g) == CUDA_SUCCESS);
  CHECK(cuMemAddressFree(va, 4 * g) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuModuleUnload(mod) == CUDA_SUCCESS);
}

TEST_CASE("vmm: read-only access, aliasing and creation errors") {
  ContextFixture f;
  const size_t g = granularity();
  CUmemAllocationProp prop = deviceProp();
  CUmemGenericAllocationHandle h = 0;
  CHECK(cuMemCreate(&h, g + 4096, &prop, 0) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemCreate(&h, g, &prop, 1) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemCreate(nullptr, g, &prop, 0) == CUDA_ERROR_INVALID_VALUE);
  CUmemAllocationProp bad = deviceProp(CU_MEM_HANDLE_TYPE_WIN32);
  CHECK(cuMemCreate(&h, g, &bad, 0) == CUDA_ERROR_NOT_SUPPORTED);
  bad = deviceProp();
  bad.location.id = 42;
  CHECK(cuMemCreate(&h, g, &bad, 0) == CUDA_ERROR_INVALID_DEVICE);
  CHECK(cuMemAddressReserve(nullptr, g, 0, 0, 0) == CUDA_ERROR_INVALID_VALUE);
  CUdeviceptr r = 0;
  CHECK(cuMemAddressReserve(&r, g + 1, 0, 0, 0) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemAddressReserve(&r, g, 3 * 4096, 0, 0) == CUDA_ERROR_INVALID_VALUE); // not a power of two

  REQUIRE(cuMemCreate(&h, g, &prop, 0) == CUDA_SUCCESS);
  CUdeviceptr a = 0, b = 0;
  REQUIRE(cuMemAddressReserve(&a, g, 0, 0, 0) == CUDA_SUCCESS);
  REQUIRE(cuMemAddressReserve(&b, g, 4 * g, 0, 0) == CUDA_SUCCESS);
  CHECK(b % (4 * g) == 0);
  REQUIRE(cuMemMap(a, g, 0, h, 0) == CUDA_SUCCESS);
  REQUIRE(cuMemMap(b, g, 0, h, 0) == CUDA_SUCCESS);
  REQUIRE(setReadWrite(a, g) == CUDA_SUCCESS);
  REQUIRE(setReadWrite(b, g, CU_MEM_ACCESS_FLAGS_PROT_READ) == CUDA_SUCCESS);
  unsigned long long access = 0;
  CUmemLocation loc{CU_MEM_LOCATION_TYPE_DEVICE, 0};
  CHECK(cuMemGetAccess(&access, &loc, b) == CUDA_SUCCESS);
  CHECK(access == CU_MEM_ACCESS_FLAGS_PROT_READ);
  unsigned flags = 0;
  CHECK(cuPointerGetAttribute(&flags, CU_POINTER_ATTRIBUTE_ACCESS_FLAGS, b) == CUDA_SUCCESS);
  CHECK(flags == CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READ);
  // Both ranges are views of the same physical memory.
  REQUIRE(cuMemsetD32(a + 64, 0x1234abcd, 1) == CUDA_SUCCESS);
  std::uint32_t v = 0;
  REQUIRE(cuMemcpyDtoH(&v, b + 64, 4) == CUDA_SUCCESS);
  CHECK(v == 0x1234abcd);
  // Host-side copies and fills into the read-only view are errors, not a
  // fault of the whole process; reading it is fine.
  std::uint32_t w = 7;
  CHECK(cuMemcpyHtoD(b + 64, &w, 4) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemsetD32(b, 0, 4) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemcpyDtoD(b, a, 64) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemcpyDtoD(a + 1024, b + 64, 4) == CUDA_SUCCESS);
  REQUIRE(cuCtxSynchronize() == CUDA_SUCCESS); // the copy is asynchronous; access changes are not ordered
  REQUIRE(setReadWrite(b, g, CU_MEM_ACCESS_FLAGS_PROT_NONE) == CUDA_SUCCESS);
  CHECK(cuMemcpyDtoH(&v, b + 64, 4) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuMemcpyDtoD(a, b, 4) == CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuMemcpyDtoH(&v, a + 1024, 4) == CUDA_SUCCESS);
  CHECK(v == 0x1234abcd);
  CHECK(cuMemUnmap(a, g) == CUDA_SUCCESS);
  CHECK(cuMemUnmap(b, g) == CUDA_SUCCESS);
  CHECK(cuMemRelease(h) == CUDA_SUCCESS);
  CHECK(cuMemAddressFree(a, g) == CUDA_SUCCESS);
  CHECK(cuMemAddressFree(b, g) == CUDA_SUCCESS);
}

TEST_CASE("vmm: export as a POSIX descriptor, import, and share with another process") {
  ContextFixture f;
  const size_t g = granularity();
  CUmemAllocationProp plain = deviceProp();
  CUmemGenericAllocationHandle local = 0;
  REQUIRE(cuMemCreate(&local, g, &plain, 0) == CUDA_SUCCESS);
  int fd = -1;
  CHECK(cuMemExportToShareableHandle(&fd, local, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0) ==
        CUDA_ERROR_INVALID_VALUE); // not created exportable
  CHECK(cuMemRelease(local) == CUDA_SUCCESS);

  CUmemAllocationProp prop = deviceProp(CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  CUmemGenericAllocationHandle h = 0;
  REQUIRE(cuMemCreate(&h, g, &prop, 0) == CUDA_SUCCESS);
  CHECK(cuMemExportToShareableHandle(&fd, h, CU_MEM_HANDLE_TYPE_FABRIC, 0) == CUDA_ERROR_NOT_SUPPORTED);
  CHECK(cuMemExportToShareableHandle(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 1) ==
        CUDA_ERROR_INVALID_VALUE);
  REQUIRE(cuMemExportToShareableHandle(&fd, h, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR, 0) == CUDA_SUCCESS);
  REQUIRE(fd >= 0);

  CUdeviceptr va = 0;
  REQUIRE(cuMemAddressReserve(&va, 2 * g, 0, 0, 0) == CUDA_SUCCESS);
  REQUIRE(cuMemMap(va, g, 0, h, 0) == CUDA_SUCCESS);
  REQUIRE(setReadWrite(va, g) == CUDA_SUCCESS);
  unsigned long long types = 0;
  CHECK(cuPointerGetAttribute(&types, CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES, va) == CUDA_SUCCESS);
  CHECK(types == CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);

  // Imported in this process: a second handle on the same memory.
  CUmemGenericAllocationHandle imported = 0;
  REQUIRE(cuMemImportFromShareableHandle(&imported, reinterpret_cast<void *>(static_cast<std::intptr_t>(fd)),
                                         CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) == CUDA_SUCCESS);
  REQUIRE(cuMemMap(va + g, g, 0, imported, 0) == CUDA_SUCCESS);
  REQUIRE(setReadWrite(va + g, g) == CUDA_SUCCESS);
  REQUIRE(cuMemsetD32(va + 128, 77, 1) == CUDA_SUCCESS);
  std::uint32_t v = 0;
  REQUIRE(cuMemcpyDtoH(&v, va + g + 128, 4) == CUDA_SUCCESS);
  CHECK(v == 77);

  // Another process maps the descriptor and writes; this one sees it.
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    void *p = mmap(nullptr, g, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
      _exit(1);
    static_cast<std::uint32_t *>(p)[64] = 0xc0ffee;
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  REQUIRE(cuMemcpyDtoH(&v, va + 256, 4) == CUDA_SUCCESS);
  CHECK(v == 0xc0ffee);

  // Not a cuvirt memory descriptor.
  int pipefd[2];
  REQUIRE(pipe(pipefd) == 0);
  CUmemGenericAllocationHandle junk = 0;
  CHECK(cuMemImportFromShareableHandle(&junk, reinterpret_cast<void *>(static_cast<std::intptr_t>(pipefd[0])),
                                       CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) == CUDA_ERROR_INVALID_VALUE);
  close(pipefd[0]);
  close(pipefd[1]);

  close(fd);
  CHECK(cuMemUnmap(va, 2 * g) == CUDA_SUCCESS);
  CHECK(cuMemRelease(h) == CUDA_SUCCESS);
  CHECK(cuMemRelease(imported) == CUDA_SUCCESS);
  CHECK(cuMemAddressFree(va, 2 * g) == CUDA_SUCCESS);
}
