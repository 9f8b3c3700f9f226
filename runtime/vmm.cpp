// Virtual memory management: address reservations, physical allocations
// (cuMemCreate), mappings, access, and sharing them as POSIX descriptors.
// The runtime reserves addresses (PROT_NONE, like the device windows); the
// backend makes physical memory and maps it (BackendDevice::createPhysical).
// Mapped ranges are entered in the allocation map, so copies, fills,
// kernels and pointer queries treat them as device memory.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/runtime.h"
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

namespace cuvirt {
namespace {

// What GPUs report, so programs that assume 2 MiB pages keep working; it is
// also the huge page size the kernel can back a mapping with.
constexpr std::size_t kGranularity = 2u << 20;

struct Physical {
  Device *device = nullptr;
  CUmemAllocationProp prop{};
  std::shared_ptr<PhysicalMemory> memory;
  int handleRefs = 1; ///< cuMemCreate/import/retain, less cuMemRelease
  int mappings = 0;
};

struct Mapping {
  std::size_t size = 0, offset = 0;
  CUmemGenericAllocationHandle handle = 0;
  std::shared_ptr<Physical> physical;
  unsigned access = CU_MEM_ACCESS_FLAGS_PROT_NONE; ///< the physical memory's device's
};

struct Reservation {
  std::size_t size = 0;
  std::map<std::uint64_t, Mapping> mappings; ///< by address
};

struct State {
  std::mutex mutex;
  std::map<CUmemGenericAllocationHandle, std::shared_ptr<Physical>> handles;
  std::map<std::uint64_t, Reservation> reservations; ///< by base address
  CUmemGenericAllocationHandle next = 1;
};

State &state() {
  static auto *s = new State; // never destroyed, like the runtime
  return *s;
}

bool aligned(std::uint64_t v) { return v % kGranularity == 0; }

/// The reservation holding [address, address + bytes), or null.
Reservation *reservationOf(State &s, std::uint64_t address, std::size_t bytes) {
  auto it = s.reservations.upper_bound(address);
  if (it == s.reservations.begin())
    return nullptr;
  --it;
  if (address + bytes > it->first + it->second.size)
    return nullptr;
  return &it->second;
}

/// The mapping holding `address`, or end().
std::map<std::uint64_t, Mapping>::iterator mappingOf(Reservation &r, std::uint64_t address) {
  auto it = r.mappings.upper_bound(address);
  if (it == r.mappings.begin())
    return r.mappings.end();
  --it;
  return address < it->first + it->second.size ? it : r.mappings.end();
}

using Parts = std::vector<std::map<std::uint64_t, Mapping>::iterator>;

/// The mappings that cover [address, address + bytes) without a gap (exactly,
/// from the first one's start to the last one's end, if `whole`), or none.
Parts tiling(Reservation &r, std::uint64_t address, std::size_t bytes, bool whole) {
  const bool fromStart = whole;
  Parts out;
  auto it = fromStart ? r.mappings.find(address) : mappingOf(r, address);
  std::uint64_t at = it == r.mappings.end() ? address : it->first;
  while (it != r.mappings.end() && it->first == at && at < address + bytes) {
    out.push_back(it);
    at += it->second.size;
    ++it;
  }
  if (at < address + bytes || (fromStart && at != address + bytes))
    out.clear();
  return out;
}

/// Drops a physical allocation's bookkeeping once nothing refers to it.
void maybeForget(State &s, CUmemGenericAllocationHandle handle) {
  auto it = s.handles.find(handle);
  if (it == s.handles.end() || it->second->handleRefs > 0 || it->second->mappings > 0)
    return;
  Device *d = it->second->device;
  const std::size_t bytes = it->second->memory->size();
  s.handles.erase(it);
  std::lock_guard lock(d->memoryMutex);
  d->liveBytes -= std::min(d->liveBytes, bytes);
}

/// Re-enters a reservation's mapped ranges in the allocation map: one entry
/// per run of adjacent mappings of one device, so a copy or a kernel may
/// cross from one mapping into the next, as the VA range is contiguous.
void refreshRecords(std::uint64_t base, Reservation &r) {
  auto *rt = *runtime();
  std::unique_lock lock(rt->allocationsMutex);
  auto it = rt->allocations.lower_bound(base);
  while (it != rt->allocations.end() && it->first < base + r.size)
    it = it->second.vmm ? rt->allocations.erase(it) : std::next(it);
  Allocation run;
  auto flush = [&] {
    if (run.size != 0)
      rt->allocations[run.base] = run;
    run = Allocation();
  };
  for (auto &[address, m] : r.mappings) {
    if (run.size != 0 && (run.base + run.size != address || run.device != m.physical->device))
      flush();
    if (run.size == 0) {
      run.base = address;
      run.kind = MemKind::Device;
      run.device = m.physical->device;
      run.vmm = true;
      run.bufferId = rt->nextId++;
    }
    run.size += m.size;
    run.flags |= m.physical->prop.requestedHandleTypes;
  }
  flush();
}

Expected<Device *> vmmDevice(const CUmemLocation &location) {
  if (location.type != CU_MEM_LOCATION_TYPE_DEVICE)
    return error(location.type == CU_MEM_LOCATION_TYPE_HOST || location.type == CU_MEM_LOCATION_TYPE_HOST_NUMA
                     ? CUDA_ERROR_NOT_SUPPORTED
                     : CUDA_ERROR_INVALID_VALUE,
                 "virtual memory management: location type {} is not supported (devices only)",
                 static_cast<int>(location.type));
  auto d = deviceByOrdinal(location.id);
  if (!d)
    return d.status();
  if (!(*d)->backend->supportsVmm())
    return error(CUDA_ERROR_NOT_SUPPORTED, "device {} has no virtual memory management", location.id);
  return *d;
}

Status checkProp(const CUmemAllocationProp *prop, Device **device) {
  if (prop == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (prop->type != CU_MEM_ALLOCATION_TYPE_PINNED)
    return error(
        prop->type == CU_MEM_ALLOCATION_TYPE_MANAGED ? CUDA_ERROR_NOT_SUPPORTED : CUDA_ERROR_INVALID_VALUE,
        "cuMemCreate: allocation type {} is not supported (pinned only)", static_cast<int>(prop->type));
  if ((prop->requestedHandleTypes & ~CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) != 0)
    return error(CUDA_ERROR_NOT_SUPPORTED, "cuMemCreate: handle types 0x{:x} (only POSIX descriptors)",
                 static_cast<unsigned>(prop->requestedHandleTypes));
  auto d = vmmDevice(prop->location);
  if (!d)
    return d.status();
  *device = *d;
  return {};
}

bool anyVmmDevice(Runtime *rt) {
  for (auto &d : rt->devices)
    if (d->backend->supportsVmm())
      return true;
  return false;
}

Expected<CUmemGenericAllocationHandle> addPhysical(State &s, Device *d, const CUmemAllocationProp &prop,
                                                   std::shared_ptr<PhysicalMemory> memory) {
  auto p = std::make_shared<Physical>();
  p->device = d;
  p->prop = prop;
  p->prop.allocFlags.compressionType = 0; // no compressible memory here
  p->memory = std::move(memory);
  const CUmemGenericAllocationHandle handle = s.next++;
  s.handles.emplace(handle, std::move(p));
  return handle;
}

} // namespace

unsigned vmmAccess(std::uint64_t address, const Device *device) {
  State &s = state();
  std::lock_guard lock(s.mutex);
  Reservation *r = reservationOf(s, address, 1);
  if (r == nullptr)
    return CU_MEM_ACCESS_FLAGS_PROT_NONE;
  auto m = mappingOf(*r, address);
  if (m == r->mappings.end() || m->second.physical->device != device)
    return CU_MEM_ACCESS_FLAGS_PROT_NONE;
  return m->second.access;
}

bool vmmHostAccessible(std::uint64_t address, std::size_t bytes, bool write) {
  const unsigned need = write ? CU_MEM_ACCESS_FLAGS_PROT_READWRITE : CU_MEM_ACCESS_FLAGS_PROT_READ;
  State &s = state();
  std::lock_guard lock(s.mutex);
  Reservation *r = reservationOf(s, address, bytes);
  if (r == nullptr)
    return false;
  Parts parts = tiling(*r, address, bytes, false);
  if (parts.empty())
    return false;
  for (auto &m : parts)
    if ((m->second.access & need) != need)
      return false;
  return true;
}

namespace api {

CUresult cuMemGetAllocationGranularity(size_t *granularity, const CUmemAllocationProp *prop,
                                       CUmemAllocationGranularity_flags option) {
  if (granularity == nullptr ||
      (option != CU_MEM_ALLOC_GRANULARITY_MINIMUM && option != CU_MEM_ALLOC_GRANULARITY_RECOMMENDED))
    return CUDA_ERROR_INVALID_VALUE;
  Device *d = nullptr;
  CUVIRT_TRY(checkProp(prop, &d));
  *granularity = kGranularity;
  return CUDA_SUCCESS;
}

CUresult cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment, CUdeviceptr addr,
                             unsigned long long flags) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  const std::size_t page = sysconf(_SC_PAGESIZE);
  if (ptr == nullptr || flags != 0 || size == 0 || size % page != 0 || addr % page != 0 ||
      (alignment & (alignment - 1)) != 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemAddressReserve: bad size {}, alignment {} or address 0x{:x}",
                 size, alignment, addr);
  if (!anyVmmDevice(*rt))
    return error(CUDA_ERROR_NOT_SUPPORTED, "cuMemAddressReserve: no device has virtual memory management");
  alignment = std::max<std::size_t>(alignment == 0 ? kGranularity : alignment, page);
  void *p = MAP_FAILED;
  const int kFlags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  if (addr != 0 && addr % alignment == 0) {
    // The hint is honoured when the range is free; otherwise it is only a hint.
    p = mmap(reinterpret_cast<void *>(addr), size, PROT_NONE, kFlags | MAP_FIXED_NOREPLACE, -1, 0);
    if (p != MAP_FAILED && reinterpret_cast<std::uint64_t>(p) != addr) {
      munmap(p, size);
      p = MAP_FAILED;
    }
  }
  if (p == MAP_FAILED) {
    // Over-reserve, then trim to the alignment.
    const std::size_t span = size + alignment - page;
    void *q = mmap(nullptr, span, PROT_NONE, kFlags, -1, 0);
    if (q == MAP_FAILED)
      return error(CUDA_ERROR_OUT_OF_MEMORY, "cuMemAddressReserve: no {} bytes of address space", size);
    const auto start = reinterpret_cast<std::uint64_t>(q);
    const std::uint64_t at = (start + alignment - 1) / alignment * alignment;
    if (at > start)
      munmap(q, at - start);
    if (start + span > at + size)
      munmap(reinterpret_cast<void *>(at + size), start + span - (at + size));
    p = reinterpret_cast<void *>(at);
  }
  State &s = state();
  std::lock_guard lock(s.mutex);
  s.reservations[reinterpret_cast<std::uint64_t>(p)].size = size;
  *ptr = reinterpret_cast<CUdeviceptr>(p);
  return CUDA_SUCCESS;
}

CUresult cuMemAddressFree(CUdeviceptr ptr, size_t size) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  State &s = state();
  std::lock_guard lock(s.mutex);
  auto it = s.reservations.find(ptr);
  if (it == s.reservations.end() || it->second.size != size)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemAddressFree: 0x{:x} (+{}) is not a reservation", ptr, size);
  if (!it->second.mappings.empty())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemAddressFree: 0x{:x} still has {} mapping(s); unmap first",
                 ptr, it->second.mappings.size());
  munmap(reinterpret_cast<void *>(ptr), size);
  s.reservations.erase(it);
  return CUDA_SUCCESS;
}

CUresult cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size, const CUmemAllocationProp *prop,
                     unsigned long long flags) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (handle == nullptr || flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  Device *d = nullptr;
  CUVIRT_TRY(checkProp(prop, &d));
  if (size == 0 || !aligned(size))
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemCreate: size {} is not a multiple of the granularity ({})",
                 size, kGranularity);
  {
    std::lock_guard lock(d->memoryMutex);
    if (d->liveBytes + size > d->props().totalMemory)
      return error(CUDA_ERROR_OUT_OF_MEMORY,
                   "cuMemCreate: out of memory: {} bytes requested, {} of {} in use", size, d->liveBytes,
                   d->props().totalMemory);
    d->liveBytes += size;
  }
  auto memory = d->backend->createPhysical(size);
  if (!memory) {
    std::lock_guard lock(d->memoryMutex);
    d->liveBytes -= size;
    return memory.status();
  }
  State &s = state();
  std::lock_guard lock(s.mutex);
  auto h = addPhysical(s, d, *prop, memory.take());
  if (!h)
    return h.status();
  *handle = *h;
  return CUDA_SUCCESS;
}

CUresult cuMemRelease(CUmemGenericAllocationHandle handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  State &s = state();
  std::lock_guard lock(s.mutex);
  auto it = s.handles.find(handle);
  if (it == s.handles.end() || it->second->handleRefs == 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemRelease: {} is not a live allocation handle", handle);
  --it->second->handleRefs;
  maybeForget(s, handle); // the memory stays while it is mapped
  return CUDA_SUCCESS;
}

CUresult cuMemMap(CUdeviceptr ptr, size_t size, size_t offset, CUmemGenericAllocationHandle handle,
                  unsigned long long flags) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (flags != 0 || size == 0 || !aligned(ptr) || !aligned(size) || !aligned(offset))
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemMap: 0x{:x} (+{}, offset {}) is not granularity-aligned",
                 ptr, size, offset);
  State &s = state();
  std::lock_guard lock(s.mutex);
  auto h = s.handles.find(handle);
  if (h == s.handles.end() || h->second->handleRefs == 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemMap: {} is not a live allocation handle", handle);
  Physical &p = *h->second;
  if (offset + size > p.memory->size())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemMap: offset {} + size {} run past the allocation ({} bytes)",
                 offset, size, p.memory->size());
  Reservation *r = reservationOf(s, ptr, size);
  if (r == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemMap: 0x{:x} (+{}) is not inside one reservation", ptr, size);
  // No overlap with an existing mapping.
  auto next = r->mappings.lower_bound(ptr);
  if ((next != r->mappings.end() && next->first < ptr + size) || mappingOf(*r, ptr) != r->mappings.end())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemMap: 0x{:x} (+{}) is already mapped", ptr, size);
  CUVIRT_TRY(p.device->backend->mapPhysical(ptr, size, *p.memory, offset));
  Mapping &m = r->mappings[ptr];
  m.size = size;
  m.offset = offset;
  m.handle = handle;
  m.physical = h->second;
  ++p.mappings;
  auto base = s.reservations.upper_bound(ptr);
  --base;
  refreshRecords(base->first, *r);
  return CUDA_SUCCESS;
}

CUresult cuMemUnmap(CUdeviceptr ptr, size_t size) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  // Work already queued may still use the range, as with cuMemFree.
  if (Context *c = currentContext(); c != nullptr)
    (void)synchronizeContext(c);
  State &s = state();
  std::lock_guard lock(s.mutex);
  Reservation *r = size == 0 ? nullptr : reservationOf(s, ptr, size);
  if (r == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemUnmap: 0x{:x} (+{}) is not in a reservation", ptr, size);
  auto parts = tiling(*r, ptr, size, true);
  if (parts.empty())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemUnmap: 0x{:x} (+{}) is not a whole mapped range", ptr, size);
  Status result;
  for (auto it : parts) {
    Mapping m = std::move(it->second);
    const std::uint64_t address = it->first;
    r->mappings.erase(it);
    if (Status st = m.physical->device->backend->unmapPhysical(address, m.size); !st.ok())
      result = st;
    --m.physical->mappings;
    maybeForget(s, m.handle); // frees the memory if its handles were released
  }
  auto base = s.reservations.upper_bound(ptr);
  --base;
  refreshRecords(base->first, *r);
  return result;
}

CUresult cuMemSetAccess(CUdeviceptr ptr, size_t size, const CUmemAccessDesc *desc, size_t count) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (desc == nullptr || count == 0 || size == 0)
    return CUDA_ERROR_INVALID_VALUE;
  for (size_t i = 0; i < count; ++i) {
    const unsigned f = desc[i].flags;
    if (f != CU_MEM_ACCESS_FLAGS_PROT_NONE && f != CU_MEM_ACCESS_FLAGS_PROT_READ &&
        f != CU_MEM_ACCESS_FLAGS_PROT_READWRITE)
      return error(CUDA_ERROR_INVALID_VALUE, "cuMemSetAccess: unknown access flags 0x{:x}", f);
    if (desc[i].location.type != CU_MEM_LOCATION_TYPE_DEVICE)
      return error(CUDA_ERROR_INVALID_VALUE, "cuMemSetAccess: location type {} (devices only)",
                   static_cast<int>(desc[i].location.type));
    auto d = deviceByOrdinal(desc[i].location.id);
    if (!d)
      return d.status();
  }
  State &s = state();
  std::lock_guard lock(s.mutex);
  Reservation *r = reservationOf(s, ptr, size);
  Parts parts = r == nullptr ? Parts() : tiling(*r, ptr, size, false);
  if (parts.empty())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemSetAccess: 0x{:x} (+{}) is not fully mapped", ptr, size);
  // Each device sees its own memory; another device would need peer access,
  // which no cuvirt device has.
  for (auto it : parts)
    for (size_t i = 0; i < count; ++i)
      if (desc[i].location.id != it->second.physical->device->ordinal &&
          desc[i].flags != CU_MEM_ACCESS_FLAGS_PROT_NONE)
        return error(CUDA_ERROR_INVALID_DEVICE, "cuMemSetAccess: device {} cannot access memory of device {}",
                     desc[i].location.id, it->second.physical->device->ordinal);
  for (auto it : parts)
    for (size_t i = 0; i < count; ++i) {
      if (desc[i].location.id != it->second.physical->device->ordinal)
        continue;
      const std::uint64_t from = std::max<std::uint64_t>(it->first, ptr);
      const std::uint64_t to = std::min<std::uint64_t>(it->first + it->second.size, ptr + size);
      CUVIRT_TRY(it->second.physical->device->backend->setAccess(from, to - from, desc[i].flags));
      it->second.access = desc[i].flags;
    }
  return CUDA_SUCCESS;
}

CUresult cuMemGetAccess(unsigned long long *flags, const CUmemLocation *location, CUdeviceptr ptr) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (flags == nullptr || location == nullptr || location->type != CU_MEM_LOCATION_TYPE_DEVICE)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(location->id);
  if (!d)
    return d.status();
  State &s = state();
  std::lock_guard lock(s.mutex);
  Reservation *r = reservationOf(s, ptr, 1);
  if (r == nullptr || mappingOf(*r, ptr) == r->mappings.end())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemGetAccess: 0x{:x} is not mapped", ptr);
  const Mapping &m = mappingOf(*r, ptr)->second;
  *flags = m.physical->device == *d ? m.access : unsigned(CU_MEM_ACCESS_FLAGS_PROT_NONE);
  return CUDA_SUCCESS;
}

CUresult cuMemRetainAllocationHandle(CUmemGenericAllocationHandle *handle, void *addr) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (handle == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  const auto address = reinterpret_cast<std::uint64_t>(addr);
  State &s = state();
  std::lock_guard lock(s.mutex);
  Reservation *r = reservationOf(s, address, 1);
  auto m = r == nullptr ? std::map<std::uint64_t, Mapping>::iterator() : mappingOf(*r, address);
  if (r == nullptr || m == r->mappings.end())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemRetainAllocationHandle: {} is not mapped", addr);
  ++m->second.physical->handleRefs;
  *handle = m->second.handle;
  return CUDA_SUCCESS;
}

CUresult cuMemGetAllocationPropertiesFromHandle(CUmemAllocationProp *prop,
                                                CUmemGenericAllocationHandle handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (prop == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  State &s = state();
  std::lock_guard lock(s.mutex);
  auto it = s.handles.find(handle);
  if (it == s.handles.end())
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemGetAllocationPropertiesFromHandle: unknown handle {}",
                 handle);
  *prop = it->second->prop;
  return CUDA_SUCCESS;
}

CUresult cuMemExportToShareableHandle(void *shareableHandle, CUmemGenericAllocationHandle handle,
                                      CUmemAllocationHandleType handleType, unsigned long long flags) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (shareableHandle == nullptr || flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  if (handleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
    return error(CUDA_ERROR_NOT_SUPPORTED,
                 "cuMemExportToShareableHandle: handle type {} (POSIX descriptors only)",
                 static_cast<int>(handleType));
  State &s = state();
  std::lock_guard lock(s.mutex);
  auto it = s.handles.find(handle);
  if (it == s.handles.end() || it->second->handleRefs == 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemExportToShareableHandle: {} is not a live handle", handle);
  if ((it->second->prop.requestedHandleTypes & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR) == 0 ||
      it->second->memory->fd() < 0)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuMemExportToShareableHandle: the allocation was not created exportable as a descriptor");
  // A new descriptor the caller owns (and closes), as CUDA hands out.
  const int fd = fcntl(it->second->memory->fd(), F_DUPFD, 0);
  if (fd < 0)
    return error(CUDA_ERROR_OUT_OF_MEMORY, "cuMemExportToShareableHandle: {}", std::strerror(errno));
  *static_cast<int *>(shareableHandle) = fd;
  return CUDA_SUCCESS;
}

CUresult cuMemImportFromShareableHandle(CUmemGenericAllocationHandle *handle, void *osHandle,
                                        CUmemAllocationHandleType shHandleType) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (handle == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (shHandleType != CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR)
    return error(CUDA_ERROR_NOT_SUPPORTED,
                 "cuMemImportFromShareableHandle: handle type {} (POSIX descriptors only)",
                 static_cast<int>(shHandleType));
  // The descriptor travels in the pointer's value, as in CUDA.
  const int fd = static_cast<int>(reinterpret_cast<std::intptr_t>(osHandle));
  Device *d = nullptr;
  for (auto &dev : (*rt)->devices)
    if (dev->backend->supportsVmm()) {
      d = dev.get();
      break;
    }
  if (d == nullptr)
    return error(CUDA_ERROR_NOT_SUPPORTED,
                 "cuMemImportFromShareableHandle: no device has virtual memory management");
  auto memory = d->backend->importPhysical(fd);
  if (!memory)
    return memory.status();
  if (!aligned((*memory)->size()))
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuMemImportFromShareableHandle: size {} is not granularity-aligned", (*memory)->size());
  {
    std::lock_guard lock(d->memoryMutex);
    d->liveBytes += (*memory)->size();
  }
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location = {CU_MEM_LOCATION_TYPE_DEVICE, d->ordinal};
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  State &s = state();
  std::lock_guard lock(s.mutex);
  auto h = addPhysical(s, d, prop, memory.take());
  if (!h)
    return h.status();
  *handle = *h;
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt
