// Stream-ordered allocation: memory pools, cuMemAllocAsync/cuMemFreeAsync.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/capture.h"
#include "runtime/runtime.h"

namespace cuvirt {
namespace {

Expected<MemPool *> checkPool(CUmemoryPool handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  MemPool *p = (*rt)->pools.find(handle);
  if (p == nullptr)
    return error(CUDA_ERROR_INVALID_VALUE, "invalid memory pool {}", static_cast<const void *>(handle));
  return p;
}

Expected<Device *> deviceOfLocation(const CUmemLocation *location, CUmemAllocationType type) {
  if (location == nullptr || type != CU_MEM_ALLOCATION_TYPE_PINNED)
    return error(CUDA_ERROR_INVALID_VALUE, "memory pools: only device-located pinned pools are supported");
  if (location->type != CU_MEM_LOCATION_TYPE_DEVICE)
    return error(CUDA_ERROR_NOT_SUPPORTED, "memory pools located on the host are not supported yet");
  return deviceByOrdinal(location->id);
}

Status allocAsync(CUdeviceptr *dptr, size_t bytes, MemPool *pool, CUstream hStream) {
  if (dptr == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  Context *c = (*s)->context;
  if (pool == nullptr)
    pool = c->device->currentPool;
  if (pool->device != c->device)
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemAllocAsync: the pool belongs to another device");
  if (capturing(*s))
    return captureAlloc(*s, dptr, bytes, pool);
  // The memory exists at once, so it is ready whenever the stream gets to it.
  auto p = allocateDevice(c->device, c, bytes, MemKind::Device);
  if (!p)
    return p.status();
  {
    auto *rt = *runtime();
    std::unique_lock lock(rt->allocationsMutex);
    rt->allocations[*p].pool = pool;
  }
  std::lock_guard lock(pool->mutex);
  pool->used += bytes;
  pool->usedHigh = std::max(pool->usedHigh, pool->used);
  *dptr = *p;
  return {};
}

} // namespace

namespace api {

CUresult cuDeviceGetDefaultMemPool(CUmemoryPool *pool_out, CUdevice dev) {
  if (pool_out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(dev);
  if (!d)
    return d.status();
  *pool_out = reinterpret_cast<CUmemoryPool>(&(*d)->defaultPool);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetMemPool(CUmemoryPool *pool, CUdevice dev) {
  if (pool == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(dev);
  if (!d)
    return d.status();
  *pool = reinterpret_cast<CUmemoryPool>((*d)->currentPool);
  return CUDA_SUCCESS;
}

CUresult cuDeviceSetMemPool(CUdevice dev, CUmemoryPool pool) {
  auto d = deviceByOrdinal(dev);
  if (!d)
    return d.status();
  auto p = checkPool(pool);
  if (!p)
    return p.status();
  if ((*p)->device != *d)
    return CUDA_ERROR_INVALID_VALUE;
  (*d)->currentPool = *p;
  return CUDA_SUCCESS;
}

CUresult cuMemGetDefaultMemPool(CUmemoryPool *pool_out, CUmemLocation *location, CUmemAllocationType type) {
  if (pool_out == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceOfLocation(location, type);
  if (!d)
    return d.status();
  *pool_out = reinterpret_cast<CUmemoryPool>(&(*d)->defaultPool);
  return CUDA_SUCCESS;
}

CUresult cuMemGetMemPool(CUmemoryPool *pool, CUmemLocation *location, CUmemAllocationType type) {
  if (pool == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceOfLocation(location, type);
  if (!d)
    return d.status();
  *pool = reinterpret_cast<CUmemoryPool>((*d)->currentPool);
  return CUDA_SUCCESS;
}

CUresult cuMemSetMemPool(CUmemLocation *location, CUmemAllocationType type, CUmemoryPool pool) {
  auto d = deviceOfLocation(location, type);
  if (!d)
    return d.status();
  return api::cuDeviceSetMemPool((*d)->ordinal, pool);
}

CUresult cuMemPoolCreate(CUmemoryPool *pool, const CUmemPoolProps *props) {
  if (pool == nullptr || props == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceOfLocation(&props->location, props->allocType);
  if (!d)
    return d.status();
  auto *p = new MemPool;
  p->device = *d;
  (*runtime())->pools.add(p);
  *pool = reinterpret_cast<CUmemoryPool>(p);
  return CUDA_SUCCESS;
}

CUresult cuMemPoolDestroy(CUmemoryPool pool) {
  auto p = checkPool(pool);
  if (!p)
    return p.status();
  if (*p == &(*p)->device->defaultPool)
    return error(CUDA_ERROR_INVALID_VALUE, "the default memory pool cannot be destroyed");
  if ((*p)->device->currentPool == *p)
    (*p)->device->currentPool = &(*p)->device->defaultPool;
  (*runtime())->pools.remove(*p);
  delete *p; // its live allocations stay valid until freed, as plain device memory
  return CUDA_SUCCESS;
}

CUresult cuMemPoolSetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  if (value == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto p = checkPool(pool);
  if (!p)
    return p.status();
  std::lock_guard lock((*p)->mutex);
  switch (attr) {
  case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    (*p)->reuseFollowEvents = *static_cast<int *>(value);
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    (*p)->reuseOpportunistic = *static_cast<int *>(value);
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
    (*p)->reuseInternal = *static_cast<int *>(value);
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
    (*p)->releaseThreshold = *static_cast<cuuint64_t *>(value);
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
  case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
    if (*static_cast<cuuint64_t *>(value) != 0)
      return CUDA_ERROR_INVALID_VALUE; // only a reset to 0 is allowed
    (*p)->usedHigh = (*p)->used;
    return CUDA_SUCCESS;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuMemPoolGetAttribute(CUmemoryPool pool, CUmemPool_attribute attr, void *value) {
  if (value == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto p = checkPool(pool);
  if (!p)
    return p.status();
  std::lock_guard lock((*p)->mutex);
  switch (attr) {
  case CU_MEMPOOL_ATTR_REUSE_FOLLOW_EVENT_DEPENDENCIES:
    *static_cast<int *>(value) = (*p)->reuseFollowEvents;
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_REUSE_ALLOW_OPPORTUNISTIC:
    *static_cast<int *>(value) = (*p)->reuseOpportunistic;
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_REUSE_ALLOW_INTERNAL_DEPENDENCIES:
    *static_cast<int *>(value) = (*p)->reuseInternal;
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_RELEASE_THRESHOLD:
    *static_cast<cuuint64_t *>(value) = (*p)->releaseThreshold;
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_RESERVED_MEM_CURRENT:
  case CU_MEMPOOL_ATTR_USED_MEM_CURRENT:
    *static_cast<cuuint64_t *>(value) = (*p)->used;
    return CUDA_SUCCESS;
  case CU_MEMPOOL_ATTR_RESERVED_MEM_HIGH:
  case CU_MEMPOOL_ATTR_USED_MEM_HIGH:
    *static_cast<cuuint64_t *>(value) = (*p)->usedHigh;
    return CUDA_SUCCESS;
  default:
    return CUDA_ERROR_INVALID_VALUE;
  }
}

CUresult cuMemPoolTrimTo(CUmemoryPool pool, size_t) {
  auto p = checkPool(pool);
  return p ? CUDA_SUCCESS : p.status().code(); // freed memory is returned at once already
}

CUresult cuMemPoolSetAccess(CUmemoryPool pool, const CUmemAccessDesc *map, size_t count) {
  auto p = checkPool(pool);
  if (!p)
    return p.status();
  if (map == nullptr && count != 0)
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

CUresult cuMemPoolGetAccess(CUmemAccess_flags *flags, CUmemoryPool pool, CUmemLocation *location) {
  if (flags == nullptr || location == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto p = checkPool(pool);
  if (!p)
    return p.status();
  *flags = location->type == CU_MEM_LOCATION_TYPE_DEVICE && location->id == (*p)->device->ordinal
               ? CU_MEM_ACCESS_FLAGS_PROT_READWRITE
               : CU_MEM_ACCESS_FLAGS_PROT_NONE;
  return CUDA_SUCCESS;
}

CUresult cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream) {
  return allocAsync(dptr, bytesize, nullptr, hStream);
}

CUresult cuMemAllocFromPoolAsync(CUdeviceptr *dptr, size_t bytesize, CUmemoryPool pool, CUstream hStream) {
  auto p = checkPool(pool);
  if (!p)
    return p.status();
  return allocAsync(dptr, bytesize, *p, hStream);
}

CUresult cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream) {
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  if (capturing(*s))
    return captureFree(*s, dptr);
  auto a = findAllocation(dptr);
  if (!a || a->base != dptr || (a->kind != MemKind::Device && a->kind != MemKind::Managed))
    return error(CUDA_ERROR_INVALID_VALUE, "cuMemFreeAsync: 0x{:x} is not a device allocation", dptr);
  if (graphMemoryFree(dptr))
    return CUDA_SUCCESS; // graph memory: only marked freed, its graph keeps the range
  // Freed when the stream reaches this point, after the work that uses it.
  return submit(*s, [dptr](Queue &q) { q.hostFunc([dptr] { (void)freeDevice(dptr); }); });
}

} // namespace api
} // namespace cuvirt
