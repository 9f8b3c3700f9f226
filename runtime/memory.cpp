// Allocations: device, host (pinned/mapped), registered, managed and
// stream-ordered memory; address ranges and pointer attributes.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/capture.h"
#include "runtime/log.h"
#include "runtime/runtime.h"
#include <cstring>
#include <sys/mman.h>
#include <unistd.h>

namespace cuvirt {
namespace {

constexpr std::size_t kGranule = 256;          // CUDA's allocation alignment
constexpr std::size_t kCommitChunk = 2u << 20; // window memory is backed in these steps
constexpr std::size_t kReleaseThreshold = 1u << 20;

std::size_t roundUp(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

std::size_t reservedSize(std::size_t bytes) {
  return bytes >= kReleaseThreshold ? roundUp(bytes, std::size_t(64) << 10)
                                    : roundUp(std::max<std::size_t>(bytes, 1), kGranule);
}

void insertAllocation(const Allocation &a) {
  auto *rt = *runtime();
  std::unique_lock lock(rt->allocationsMutex);
  rt->allocations[a.base] = a;
}

} // namespace

Status AddressWindow::reserve(std::size_t bytes) {
  void *p = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cannot reserve a {} GiB device address window", bytes >> 30);
  // Keep address 0 of the window unused: a device pointer is never NULL.
  base_ = reinterpret_cast<std::uint64_t>(p);
  size_ = bytes;
  highWater_ = base_ + (std::uint64_t(64) << 10);
  return {};
}

std::uint64_t AddressWindow::take(std::size_t bytes) {
  auto it = freeBySize_.lower_bound(bytes);
  if (it != freeBySize_.end()) {
    std::size_t size = it->first;
    std::uint64_t address = it->second;
    freeBySize_.erase(it);
    freeByAddress_.erase(address);
    if (size > bytes) {
      freeByAddress_[address + bytes] = size - bytes;
      freeBySize_.emplace(size - bytes, address + bytes);
    }
    return address;
  }
  if (highWater_ + bytes > base_ + size_)
    return 0;
  std::uint64_t address = highWater_;
  highWater_ += bytes;
  return address;
}

void AddressWindow::give(std::uint64_t address, std::size_t bytes) {
  auto eraseSized = [&](std::uint64_t a, std::size_t s) {
    auto [lo, hi] = freeBySize_.equal_range(s);
    for (auto i = lo; i != hi; ++i)
      if (i->second == a) {
        freeBySize_.erase(i);
        return;
      }
  };
  // Coalesce with the neighbours on both sides.
  auto next = freeByAddress_.lower_bound(address);
  if (next != freeByAddress_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second == address) {
      address = prev->first;
      bytes += prev->second;
      eraseSized(prev->first, prev->second);
      freeByAddress_.erase(prev);
    }
  }
  next = freeByAddress_.lower_bound(address);
  if (next != freeByAddress_.end() && address + bytes == next->first) {
    bytes += next->second;
    eraseSized(next->first, next->second);
    freeByAddress_.erase(next);
  }
  if (address + bytes == highWater_) {
    highWater_ = address; // give the top back to the bump region
    return;
  }
  freeByAddress_[address] = bytes;
  freeBySize_.emplace(bytes, address);
}

Expected<std::uint64_t> allocateDevice(Device *d, Context *context, std::size_t bytes, MemKind kind,
                                       unsigned flags) {
  if (bytes == 0)
    return error(CUDA_ERROR_INVALID_VALUE, "allocation of 0 bytes");
  const std::size_t reserved = reservedSize(bytes);
  std::uint64_t address = 0;
  {
    std::lock_guard lock(d->memoryMutex);
    if (bytes > d->props().totalMemory || d->liveBytes + reserved > d->props().totalMemory)
      return error(CUDA_ERROR_OUT_OF_MEMORY, "out of memory: {} bytes requested, {} of {} in use", bytes,
                   d->liveBytes, d->props().totalMemory);
    address = d->window.take(reserved);
    if (address == 0)
      return error(CUDA_ERROR_OUT_OF_MEMORY, "device address window exhausted ({} bytes requested)", bytes);
    if (address + reserved > d->committedEnd) {
      std::uint64_t from = std::max(d->committedEnd, d->window.base());
      std::uint64_t to = roundUp(address + reserved - d->window.base(), kCommitChunk) + d->window.base();
      to = std::min<std::uint64_t>(to, d->window.base() + d->window.size());
      Status s = d->backend->commit(from, to - from);
      if (!s.ok()) {
        d->window.give(address, reserved);
        return s;
      }
      d->committedEnd = to;
    }
    d->liveBytes += reserved;
  }
  Allocation a;
  a.base = address;
  a.size = bytes;
  a.reserved = reserved;
  a.kind = kind;
  a.device = d;
  a.context = context;
  a.flags = flags;
  a.bufferId = (*runtime())->nextId++;
  insertAllocation(a);
  return address;
}

std::optional<Allocation> findAllocation(std::uint64_t address) {
  auto *rt = runtimeIfInitialized();
  if (rt == nullptr)
    return std::nullopt;
  std::shared_lock lock(rt->allocationsMutex);
  auto it = rt->allocations.upper_bound(address);
  if (it == rt->allocations.begin())
    return std::nullopt;
  --it;
  const Allocation &a = it->second;
  if (address >= a.base + std::max<std::size_t>(a.size, 1))
    return std::nullopt;
  return a;
}

Status freeDevice(std::uint64_t address) {
  if (graphMemoryFree(address))
    return {}; // a graph's memory: its range lives as long as the graph
  auto *rt = *runtime();
  Allocation a;
  {
    std::unique_lock lock(rt->allocationsMutex);
    auto it = rt->allocations.find(address);
    if (it == rt->allocations.end() || it->second.kind == MemKind::Host ||
        it->second.kind == MemKind::Registered || it->second.vmm || it->second.ipc)
      return error(CUDA_ERROR_INVALID_VALUE, "cuMemFree: 0x{:x} is not a device allocation", address);
    a = it->second;
    rt->allocations.erase(it);
  }
  ipcAllocationFreed(a); // exported pages go back to private memory first
  Device *d = a.device;
  if (a.kind == MemKind::Managed)
    d->backend->unmanage(a.base, a.size);
  if (a.pool != nullptr) {
    std::lock_guard lock(a.pool->mutex);
    a.pool->used -= a.size;
  }
  if (a.reserved >= kReleaseThreshold) {
    // Give large blocks' memory back to the system; the range stays mapped.
    std::uint64_t page = sysconf(_SC_PAGESIZE);
    std::uint64_t from = roundUp(a.base, page), to = (a.base + a.reserved) / page * page;
    if (to > from)
      d->backend->release(from, to - from);
  }
  std::lock_guard lock(d->memoryMutex);
  d->window.give(a.base, a.reserved);
  d->liveBytes -= a.reserved;
  return {};
}

void freeContextAllocations(Context *context) {
  auto *rt = *runtime();
  ipcContextGone(context); // cuIpcOpenMemHandle mappings, which cuMemFree refuses
  std::vector<std::pair<std::uint64_t, MemKind>> owned;
  {
    std::shared_lock lock(rt->allocationsMutex);
    for (auto &[base, a] : rt->allocations)
      if (a.context == context)
        owned.emplace_back(base, a.kind);
  }
  for (auto [base, kind] : owned) {
    if (kind == MemKind::Device || kind == MemKind::Managed) {
      (void)freeDevice(base);
    } else {
      std::unique_lock lock(rt->allocationsMutex);
      rt->allocations.erase(base);
      if (kind == MemKind::Host)
        std::free(reinterpret_cast<void *>(base));
    }
  }
}

namespace {

Status hostAlloc(void **pp, std::size_t bytes, unsigned flags) {
  if (pp == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  if (bytes == 0) {
    *pp = nullptr;
    return error(CUDA_ERROR_INVALID_VALUE, "host allocation of 0 bytes");
  }
  if ((flags & ~(CU_MEMHOSTALLOC_PORTABLE | CU_MEMHOSTALLOC_DEVICEMAP | CU_MEMHOSTALLOC_WRITECOMBINED)) != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemHostAlloc: unknown flags 0x{:x}", flags);
  if (bytes > (*c)->device->props().totalMemory)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "out of host memory: {} bytes requested", bytes);
  void *p = std::aligned_alloc(4096, roundUp(bytes, 4096));
  if (p == nullptr)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "out of host memory: {} bytes requested", bytes);
  Allocation a;
  a.base = reinterpret_cast<std::uint64_t>(p);
  a.size = bytes;
  a.kind = MemKind::Host;
  a.device = (*c)->device;
  a.context = *c;
  // Every pinned allocation is mapped under unified addressing.
  a.flags = flags | CU_MEMHOSTALLOC_DEVICEMAP;
  a.bufferId = (*runtime())->nextId++;
  insertAllocation(a);
  *pp = p;
  return {};
}

} // namespace

namespace api {

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize) {
  if (dptr == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (Status s = captureUnsafeCall("cuMemAlloc"); !s.ok())
    return s;
  auto c = requireContext();
  if (!c)
    return c.status();
  auto p = allocateDevice((*c)->device, *c, bytesize, MemKind::Device);
  if (!p)
    return p.status();
  *dptr = *p;
  return CUDA_SUCCESS;
}

CUresult cuMemAllocManaged(CUdeviceptr *dptr, size_t bytesize, unsigned int flags) {
  if (dptr == nullptr || (flags != CU_MEM_ATTACH_GLOBAL && flags != CU_MEM_ATTACH_HOST))
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  auto p = allocateDevice((*c)->device, *c, bytesize, MemKind::Managed, flags);
  if (!p)
    return p.status();
  // A device whose memory the host cannot see keeps a host copy coherent.
  if (Status s = (*c)->device->backend->manage(*p, bytesize); !s.ok()) {
    (void)freeDevice(*p);
    return s.code();
  }
  *dptr = *p;
  return CUDA_SUCCESS;
}

CUresult cuMemAllocPitch_v2(CUdeviceptr *dptr, size_t *pPitch, size_t widthInBytes, size_t height,
                            unsigned int elementSizeBytes) {
  if (dptr == nullptr || pPitch == nullptr || widthInBytes == 0 || height == 0 ||
      (elementSizeBytes != 4 && elementSizeBytes != 8 && elementSizeBytes != 16))
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  const std::size_t pitch = roundUp(widthInBytes, 512);
  auto p = allocateDevice((*c)->device, *c, pitch * height, MemKind::Device);
  if (!p)
    return p.status();
  *dptr = *p;
  *pPitch = pitch;
  return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr dptr) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (dptr == 0)
    return CUDA_SUCCESS;
  if (Status c = captureUnsafeCall("cuMemFree"); !c.ok())
    return c;
  // cuMemFree synchronises with the device, as CUDA's does.
  auto a = findAllocation(dptr);
  if (a && a->context != nullptr && (*rt)->contexts.contains(a->context))
    (void)synchronizeContext(a->context);
  return freeDevice(dptr);
}

CUresult cuMemGetInfo_v2(size_t *free, size_t *total) {
  auto c = requireContext();
  if (!c)
    return c.status();
  Device *d = (*c)->device;
  const std::size_t totalBytes = d->props().totalMemory;
  std::size_t freeBytes;
  {
    std::lock_guard lock(d->memoryMutex);
    freeBytes = totalBytes - std::min(totalBytes, d->liveBytes);
  }
  if (free != nullptr)
    *free = freeBytes;
  if (total != nullptr)
    *total = totalBytes;
  return CUDA_SUCCESS;
}

CUresult cuMemGetAddressRange_v2(CUdeviceptr *pbase, size_t *psize, CUdeviceptr dptr) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  // Page-locked host memory is mapped into the unified address space too
  // (numba sizes mapped arrays this way).
  auto a = findAllocation(dptr);
  if (!a)
    return error(CUDA_ERROR_NOT_FOUND, "cuMemGetAddressRange: 0x{:x} is not in an allocation", dptr);
  if (pbase != nullptr)
    *pbase = a->base;
  if (psize != nullptr)
    *psize = a->size;
  return CUDA_SUCCESS;
}

CUresult cuMemAllocHost_v2(void **pp, size_t bytesize) { return hostAlloc(pp, bytesize, 0); }

CUresult cuMemHostAlloc(void **pp, size_t bytesize, unsigned int flags) {
  return hostAlloc(pp, bytesize, flags);
}

CUresult cuMemFreeHost(void *p) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  const auto address = reinterpret_cast<std::uint64_t>(p);
  {
    std::unique_lock lock((*rt)->allocationsMutex);
    auto it = (*rt)->allocations.find(address);
    if (it == (*rt)->allocations.end() || it->second.kind != MemKind::Host)
      return error(CUDA_ERROR_INVALID_VALUE, "cuMemFreeHost: {} was not allocated by cuMemHostAlloc", p);
    (*rt)->allocations.erase(it);
  }
  std::free(p);
  return CUDA_SUCCESS;
}

CUresult cuMemHostRegister_v2(void *p, size_t bytesize, unsigned int flags) {
  auto c = requireContext();
  if (!c)
    return c.status();
  if (p == nullptr || bytesize == 0)
    return CUDA_ERROR_INVALID_VALUE;
  const auto base = reinterpret_cast<std::uint64_t>(p);
  if (auto a = findAllocation(base); a || findAllocation(base + bytesize - 1))
    return error(CUDA_ERROR_HOST_MEMORY_ALREADY_REGISTERED, "cuMemHostRegister: {} is already registered", p);
  Allocation a;
  a.base = base;
  a.size = bytesize;
  a.kind = MemKind::Registered;
  a.device = (*c)->device;
  a.context = *c;
  a.flags = flags | CU_MEMHOSTREGISTER_DEVICEMAP;
  a.bufferId = (*runtime())->nextId++;
  insertAllocation(a);
  return CUDA_SUCCESS;
}

CUresult cuMemHostRegister(void *p, size_t bytesize, unsigned int flags) {
  return api::cuMemHostRegister_v2(p, bytesize, flags);
}

CUresult cuMemHostUnregister(void *p) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  std::unique_lock lock((*rt)->allocationsMutex);
  auto it = (*rt)->allocations.find(reinterpret_cast<std::uint64_t>(p));
  if (it == (*rt)->allocations.end() || it->second.kind != MemKind::Registered)
    return error(CUDA_ERROR_HOST_MEMORY_NOT_REGISTERED, "cuMemHostUnregister: {} is not registered", p);
  (*rt)->allocations.erase(it);
  return CUDA_SUCCESS;
}

CUresult cuMemHostGetDevicePointer_v2(CUdeviceptr *pdptr, void *p, unsigned int flags) {
  if (pdptr == nullptr || flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  auto a = findAllocation(reinterpret_cast<std::uint64_t>(p));
  if (!a || (a->kind != MemKind::Host && a->kind != MemKind::Registered))
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemHostGetDevicePointer: {} is not pinned host memory", p);
  if (!(*c)->device->backend->hostVisible())
    return error(CUDA_ERROR_NOT_SUPPORTED, "mapped host memory is not reachable from this device");
  *pdptr = reinterpret_cast<CUdeviceptr>(p); // unified addressing: the same address
  return CUDA_SUCCESS;
}

CUresult cuMemHostGetFlags(unsigned int *pFlags, void *p) {
  if (pFlags == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  auto a = findAllocation(reinterpret_cast<std::uint64_t>(p));
  if (!a || (a->kind != MemKind::Host && a->kind != MemKind::Registered))
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemHostGetFlags: {} is not pinned host memory", p);
  *pFlags = a->flags;
  return CUDA_SUCCESS;
}

CUresult cuPointerGetAttribute(void *data, CUpointer_attribute attribute, CUdeviceptr ptr) {
  if (data == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  auto a = findAllocation(ptr);
  if (!a)
    return error(CUDA_ERROR_INVALID_VALUE, "cuPointerGetAttribute: 0x{:x} is not a CUDA pointer", ptr);
  const bool host = a->kind == MemKind::Host || a->kind == MemKind::Registered;
  switch (attribute) {
  case CU_POINTER_ATTRIBUTE_CONTEXT:
    *static_cast<CUcontext *>(data) = reinterpret_cast<CUcontext>(a->context);
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
    *static_cast<unsigned *>(data) = host ? CU_MEMORYTYPE_HOST : CU_MEMORYTYPE_DEVICE;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
    *static_cast<CUdeviceptr *>(data) = ptr;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_HOST_POINTER:
    if (!host && a->kind != MemKind::Managed)
      return CUDA_ERROR_INVALID_VALUE;
    *static_cast<void **>(data) = reinterpret_cast<void *>(ptr);
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_P2P_TOKENS:
    return CUDA_ERROR_NOT_SUPPORTED;
  case CU_POINTER_ATTRIBUTE_SYNC_MEMOPS:
    *static_cast<int *>(data) = 1;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    *static_cast<unsigned long long *>(data) = a->bufferId;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_IS_MANAGED:
    *static_cast<int *>(data) = a->kind == MemKind::Managed;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
    *static_cast<int *>(data) = a->device ? a->device->ordinal : 0;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_IS_LEGACY_CUDA_IPC_CAPABLE: // runtime/ipc.cpp
    *static_cast<int *>(data) = a->kind == MemKind::Device && !a->vmm && !a->ipc && a->device != nullptr &&
                                a->device->backend->hostVisible();
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    *static_cast<CUdeviceptr *>(data) = a->base;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    *static_cast<size_t *>(data) = a->size;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_MAPPED:
    *static_cast<int *>(data) = 1;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
    *static_cast<unsigned long long *>(data) = a->vmm ? a->flags : unsigned(CU_MEM_HANDLE_TYPE_NONE);
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_IS_GPU_DIRECT_RDMA_CAPABLE:
    *static_cast<int *>(data) = 0;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_ACCESS_FLAGS:
    *static_cast<unsigned *>(data) = !a->vmm ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE
                                     : vmmAccess(ptr, a->device) == CU_MEM_ACCESS_FLAGS_PROT_READWRITE
                                         ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READWRITE
                                     : vmmAccess(ptr, a->device) == CU_MEM_ACCESS_FLAGS_PROT_READ
                                         ? CU_POINTER_ATTRIBUTE_ACCESS_FLAG_READ
                                         : CU_POINTER_ATTRIBUTE_ACCESS_FLAG_NONE;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
    *static_cast<CUmemoryPool *>(data) = reinterpret_cast<CUmemoryPool>(a->pool);
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
    *static_cast<size_t *>(data) = a->size;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
    *static_cast<CUdeviceptr *>(data) = a->base;
    return CUDA_SUCCESS;
  case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
    *static_cast<unsigned long long *>(data) = a->bufferId;
    return CUDA_SUCCESS;
  default:
    return error(CUDA_ERROR_INVALID_VALUE, "cuPointerGetAttribute: unknown attribute {}",
                 static_cast<int>(attribute));
  }
}

CUresult cuPointerGetAttributes(unsigned int numAttributes, CUpointer_attribute *attributes, void **data,
                                CUdeviceptr ptr) {
  if (attributes == nullptr || data == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  const bool known = findAllocation(ptr).has_value();
  for (unsigned i = 0; i < numAttributes; ++i) {
    if (data[i] == nullptr)
      continue;
    if (known) {
      CUresult r = api::cuPointerGetAttribute(data[i], attributes[i], ptr);
      if (r == CUDA_SUCCESS || r == CUDA_ERROR_NOT_SUPPORTED)
        continue;
    }
    // Unlike the singular form, an unknown pointer is not an error: the
    // attributes get their empty values.
    switch (attributes[i]) {
    case CU_POINTER_ATTRIBUTE_CONTEXT:
      *static_cast<CUcontext *>(data[i]) = nullptr;
      break;
    case CU_POINTER_ATTRIBUTE_MEMORY_TYPE:
      *static_cast<unsigned *>(data[i]) = 0;
      break;
    case CU_POINTER_ATTRIBUTE_DEVICE_POINTER:
    case CU_POINTER_ATTRIBUTE_RANGE_START_ADDR:
    case CU_POINTER_ATTRIBUTE_MAPPING_BASE_ADDR:
      *static_cast<CUdeviceptr *>(data[i]) = 0;
      break;
    case CU_POINTER_ATTRIBUTE_HOST_POINTER:
    case CU_POINTER_ATTRIBUTE_MEMPOOL_HANDLE:
      *static_cast<void **>(data[i]) = nullptr;
      break;
    case CU_POINTER_ATTRIBUTE_BUFFER_ID:
    case CU_POINTER_ATTRIBUTE_MEMORY_BLOCK_ID:
    case CU_POINTER_ATTRIBUTE_ALLOWED_HANDLE_TYPES:
      *static_cast<unsigned long long *>(data[i]) = 0;
      break;
    case CU_POINTER_ATTRIBUTE_RANGE_SIZE:
    case CU_POINTER_ATTRIBUTE_MAPPING_SIZE:
      *static_cast<size_t *>(data[i]) = 0;
      break;
    case CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL:
      *static_cast<int *>(data[i]) = -2; // CUDA's "no device" ordinal
      break;
    case CU_POINTER_ATTRIBUTE_P2P_TOKENS:
      break;
    default:
      *static_cast<int *>(data[i]) = 0;
      break;
    }
  }
  return CUDA_SUCCESS;
}

CUresult cuPointerSetAttribute(const void *value, CUpointer_attribute attribute, CUdeviceptr ptr) {
  if (value == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (!findAllocation(ptr))
    return error(CUDA_ERROR_INVALID_VALUE, "cuPointerSetAttribute: 0x{:x} is not a CUDA pointer", ptr);
  if (attribute != CU_POINTER_ATTRIBUTE_SYNC_MEMOPS)
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS; // all cuvirt memory operations are synchronous already
}

CUresult cuMemAdvise_v2(CUdeviceptr devPtr, size_t count, CUmem_advise, CUmemLocation) {
  auto a = findAllocation(devPtr);
  if (!a || a->kind != MemKind::Managed || devPtr + count > a->base + a->size)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemAdvise: 0x{:x} is not managed memory", devPtr);
  return CUDA_SUCCESS; // a hint; the CPU device has one memory
}

CUresult cuMemAdvise(CUdeviceptr devPtr, size_t count, CUmem_advise advice, CUdevice device) {
  CUmemLocation location{CU_MEM_LOCATION_TYPE_DEVICE, device};
  return api::cuMemAdvise_v2(devPtr, count, advice, location);
}

CUresult cuMemPrefetchAsync_v2(CUdeviceptr devPtr, size_t count, CUmemLocation, unsigned int,
                               CUstream hStream) {
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  auto a = findAllocation(devPtr);
  if (!a || a->kind != MemKind::Managed || devPtr + count > a->base + a->size)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemPrefetchAsync: 0x{:x} is not managed memory", devPtr);
  return CUDA_SUCCESS;
}

CUresult cuMemPrefetchAsync(CUdeviceptr devPtr, size_t count, CUdevice dstDevice, CUstream hStream) {
  CUmemLocation location{CU_MEM_LOCATION_TYPE_DEVICE, dstDevice};
  return api::cuMemPrefetchAsync_v2(devPtr, count, location, 0, hStream);
}

CUresult cuMemRangeGetAttribute(void *data, size_t dataSize, CUmem_range_attribute attribute,
                                CUdeviceptr devPtr, size_t count) {
  if (data == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto a = findAllocation(devPtr);
  if (!a || a->kind != MemKind::Managed || devPtr + count > a->base + a->size)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemRangeGetAttribute: 0x{:x} is not managed memory", devPtr);
  switch (attribute) {
  case CU_MEM_RANGE_ATTRIBUTE_READ_MOSTLY:
    if (dataSize < 4)
      return CUDA_ERROR_INVALID_VALUE;
    *static_cast<int *>(data) = 0;
    return CUDA_SUCCESS;
  case CU_MEM_RANGE_ATTRIBUTE_PREFERRED_LOCATION:
  case CU_MEM_RANGE_ATTRIBUTE_LAST_PREFETCH_LOCATION:
    if (dataSize < 4)
      return CUDA_ERROR_INVALID_VALUE;
    *static_cast<int *>(data) = CU_DEVICE_INVALID;
    return CUDA_SUCCESS;
  case CU_MEM_RANGE_ATTRIBUTE_ACCESSED_BY:
    std::memset(data, 0xff, dataSize);
    return CUDA_SUCCESS;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

} // namespace api
} // namespace cuvirt
