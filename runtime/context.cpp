// Contexts: primary contexts, the per-thread context stack, limits.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/runtime.h"
#include <algorithm>

namespace cuvirt {
namespace {

thread_local std::vector<Context *> t_stack;
void (*g_clearedHook)(const void *) = nullptr;

constexpr int kLeastPriority = 0, kGreatestPriority = -5;

void initLimits(Context *c) {
  c->limits[CU_LIMIT_STACK_SIZE] = 1024;
  c->limits[CU_LIMIT_PRINTF_FIFO_SIZE] = 1 << 20;
  c->limits[CU_LIMIT_MALLOC_HEAP_SIZE] = 8 << 20;
  c->limits[CU_LIMIT_DEV_RUNTIME_SYNC_DEPTH] = 2;
  c->limits[CU_LIMIT_DEV_RUNTIME_PENDING_LAUNCH_COUNT] = 2048;
  c->limits[CU_LIMIT_MAX_L2_FETCH_GRANULARITY] = 32;
  c->limits[CU_LIMIT_PERSISTING_L2_CACHE_SIZE] = 0;
}

Context *newContext(Device *device, unsigned flags, bool primary) {
  auto *c = new Context;
  c->device = device;
  c->flags = flags;
  c->isPrimary = primary;
  c->id = (*runtime())->nextId++;
  initLimits(c);
  (*runtime())->contexts.add(c);
  return c;
}

/// Frees everything a context owns; the context itself stays.
void clearContext(Context *c) {
  (void)synchronizeContext(c);
  std::vector<Module *> modules;
  std::vector<Stream *> streams;
  std::vector<Event *> events;
  {
    std::lock_guard lock(c->mutex);
    modules.assign(c->modules.begin(), c->modules.end());
    for (auto &[s, owner] : c->streams)
      streams.push_back(s);
    events.assign(c->events.begin(), c->events.end());
  }
  for (Module *m : modules)
    destroyModule(m);
  for (Stream *s : streams)
    destroyStream(s);
  for (Event *e : events) {
    (*runtime())->events.remove(e);
    std::lock_guard lock(c->mutex);
    c->events.erase(e);
    delete e;
  }
  freeContextAllocations(c);
  c->legacy = nullptr;
  c->sticky = CUDA_SUCCESS;
  if (g_clearedHook != nullptr)
    g_clearedHook(c);
}

void removeFromStack(Context *c) {
  t_stack.erase(std::remove(t_stack.begin(), t_stack.end(), c), t_stack.end());
}

} // namespace

void setContextClearedHook(void (*hook)(const void *)) { g_clearedHook = hook; }

void Context::asyncError(CUresult code, const std::string &message) {
  CUresult expected = CUDA_SUCCESS;
  sticky.compare_exchange_strong(expected, code);
  report(code, message);
}

Status Context::stickyStatus() const { return sticky.load(); }

Context *currentContext() {
  if (t_stack.empty())
    return nullptr;
  Context *c = t_stack.back();
  auto *rt = runtimeIfInitialized();
  return (rt != nullptr && rt->contexts.contains(c)) ? c : nullptr;
}

Expected<Context *> requireContext() {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  Context *c = currentContext();
  if (c == nullptr)
    return error(CUDA_ERROR_INVALID_CONTEXT, "no current context on this thread");
  // After an illegal address or a failed assert the context is unusable, as
  // on a GPU: every call that needs it returns that error until a reset.
  if (Status sticky = c->stickyStatus(); !sticky.ok())
    return sticky;
  return c;
}

Expected<Context *> checkContext(CUcontext handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  Context *c = (*rt)->contexts.find(handle);
  if (c == nullptr)
    return error(CUDA_ERROR_INVALID_CONTEXT, "invalid context handle {}", static_cast<const void *>(handle));
  return c;
}

void setCurrentContext(Context *context) {
  if (t_stack.empty())
    t_stack.push_back(context);
  else
    t_stack.back() = context;
}

Expected<Context *> retainPrimary(Device *device) {
  std::lock_guard lock(device->primaryMutex);
  if (device->primary == nullptr)
    device->primary = newContext(device, device->primaryFlags, true);
  device->primary->active = true;
  device->primary->flags = device->primaryFlags;
  ++device->primaryRefs;
  return device->primary;
}

namespace api {

CUresult cuDevicePrimaryCtxRetain(CUcontext *pctx, CUdevice dev) {
  if (pctx == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto device = deviceByOrdinal(dev);
  if (!device)
    return device.status();
  auto c = retainPrimary(*device);
  if (!c)
    return c.status();
  *pctx = reinterpret_cast<CUcontext>(*c);
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice dev) {
  auto device = deviceByOrdinal(dev);
  if (!device)
    return device.status();
  Device *d = *device;
  std::lock_guard lock(d->primaryMutex);
  if (d->primaryRefs <= 0)
    return error(CUDA_ERROR_INVALID_CONTEXT, "primary context of device {} is not retained", dev);
  if (--d->primaryRefs == 0) {
    // Its resources go with the last release, as CUDA's do.
    clearContext(d->primary);
    d->primary->active = false;
  }
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease(CUdevice dev) { return api::cuDevicePrimaryCtxRelease_v2(dev); }

CUresult cuDevicePrimaryCtxReset_v2(CUdevice dev) {
  auto device = deviceByOrdinal(dev);
  if (!device)
    return device.status();
  Device *d = *device;
  std::lock_guard lock(d->primaryMutex);
  if (d->primary != nullptr) {
    clearContext(d->primary);
    d->primary->active = d->primaryRefs > 0;
  }
  d->primaryFlags = 0;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxReset(CUdevice dev) { return api::cuDevicePrimaryCtxReset_v2(dev); }

CUresult cuDevicePrimaryCtxSetFlags_v2(CUdevice dev, unsigned int flags) {
  auto device = deviceByOrdinal(dev);
  if (!device)
    return device.status();
  if ((flags & ~(CU_CTX_SCHED_MASK | CU_CTX_LMEM_RESIZE_TO_MAX | CU_CTX_MAP_HOST | CU_CTX_SYNC_MEMOPS)) != 0)
    return CUDA_ERROR_INVALID_VALUE;
  std::lock_guard lock((*device)->primaryMutex);
  (*device)->primaryFlags = flags;
  if ((*device)->primary != nullptr)
    (*device)->primary->flags = flags;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxSetFlags(CUdevice dev, unsigned int flags) {
  return api::cuDevicePrimaryCtxSetFlags_v2(dev, flags);
}

CUresult cuDevicePrimaryCtxGetState(CUdevice dev, unsigned int *flags, int *active) {
  if (flags == nullptr || active == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto device = deviceByOrdinal(dev);
  if (!device)
    return device.status();
  std::lock_guard lock((*device)->primaryMutex);
  *flags = (*device)->primaryFlags;
  *active = (*device)->primaryRefs > 0 ? 1 : 0;
  return CUDA_SUCCESS;
}

CUresult cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  if (pctx == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto device = deviceByOrdinal(dev);
  if (!device)
    return device.status();
  Context *c = newContext(*device, flags, false);
  t_stack.push_back(c);
  *pctx = reinterpret_cast<CUcontext>(c);
  return CUDA_SUCCESS;
}

CUresult cuCtxCreate(CUcontext *pctx, unsigned int flags, CUdevice dev) {
  return api::cuCtxCreate_v2(pctx, flags, dev);
}

CUresult cuCtxCreate_v3(CUcontext *pctx, CUexecAffinityParam *, int numParams, unsigned int flags,
                        CUdevice dev) {
  if (numParams < 0)
    return CUDA_ERROR_INVALID_VALUE;
  return api::cuCtxCreate_v2(pctx, flags, dev);
}

CUresult cuCtxCreate_v4(CUcontext *pctx, CUctxCreateParams *, unsigned int flags, CUdevice dev) {
  return api::cuCtxCreate_v2(pctx, flags, dev);
}

CUresult cuCtxDestroy_v2(CUcontext ctx) {
  auto c = checkContext(ctx);
  if (!c)
    return c.status();
  if ((*c)->isPrimary)
    return error(CUDA_ERROR_INVALID_CONTEXT, "cuCtxDestroy: a primary context cannot be destroyed");
  clearContext(*c);
  (*runtime())->contexts.remove(*c);
  removeFromStack(*c);
  delete *c;
  return CUDA_SUCCESS;
}

CUresult cuCtxDestroy(CUcontext ctx) { return api::cuCtxDestroy_v2(ctx); }

CUresult cuCtxPushCurrent_v2(CUcontext ctx) {
  auto c = checkContext(ctx);
  if (!c)
    return c.status();
  t_stack.push_back(*c);
  return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent(CUcontext ctx) { return api::cuCtxPushCurrent_v2(ctx); }

CUresult cuCtxPopCurrent_v2(CUcontext *pctx) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (t_stack.empty())
    return error(CUDA_ERROR_INVALID_CONTEXT, "cuCtxPopCurrent: the context stack is empty");
  if (pctx != nullptr)
    *pctx = reinterpret_cast<CUcontext>(t_stack.back());
  t_stack.pop_back();
  return CUDA_SUCCESS;
}

CUresult cuCtxPopCurrent(CUcontext *pctx) { return api::cuCtxPopCurrent_v2(pctx); }

CUresult cuCtxSetCurrent(CUcontext ctx) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (ctx == nullptr) {
    if (!t_stack.empty())
      t_stack.pop_back();
    return CUDA_SUCCESS;
  }
  auto c = checkContext(ctx);
  if (!c)
    return c.status();
  setCurrentContext(*c);
  return CUDA_SUCCESS;
}

CUresult cuCtxGetCurrent(CUcontext *pctx) {
  if (pctx == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  *pctx = reinterpret_cast<CUcontext>(currentContext());
  return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice_v2(CUdevice *device, CUcontext ctx) {
  if (device == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = ctx != nullptr ? checkContext(ctx) : requireContext();
  if (!c)
    return c.status();
  *device = (*c)->device->ordinal;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetDevice(CUdevice *device) { return api::cuCtxGetDevice_v2(device, nullptr); }

CUresult cuCtxGetFlags(unsigned int *flags) {
  if (flags == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  *flags = (*c)->flags;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetFlags(unsigned int flags) {
  auto c = requireContext();
  if (!c)
    return c.status();
  (*c)->flags = flags;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetId(CUcontext ctx, unsigned long long *ctxId) {
  if (ctxId == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = ctx != nullptr ? checkContext(ctx) : requireContext();
  if (!c)
    return c.status();
  *ctxId = (*c)->id;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetApiVersion(CUcontext ctx, unsigned int *version) {
  if (version == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = ctx != nullptr ? checkContext(ctx) : requireContext();
  if (!c)
    return c.status();
  *version = 3020;
  return CUDA_SUCCESS;
}

CUresult cuCtxSynchronize_v2(CUcontext ctx) {
  auto c = ctx != nullptr ? checkContext(ctx) : requireContext();
  if (!c)
    return c.status();
  return synchronizeContext(*c);
}

CUresult cuCtxSynchronize() { return api::cuCtxSynchronize_v2(nullptr); }

CUresult cuCtxSetLimit(CUlimit limit, size_t value) {
  auto c = requireContext();
  if (!c)
    return c.status();
  if (limit < 0 || limit >= CU_LIMIT_MAX)
    return error(CUDA_ERROR_UNSUPPORTED_LIMIT, "cuCtxSetLimit: unknown limit {}", static_cast<int>(limit));
  (*c)->limits[limit] = value;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetLimit(size_t *pvalue, CUlimit limit) {
  if (pvalue == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  if (limit < 0 || limit >= CU_LIMIT_MAX)
    return error(CUDA_ERROR_UNSUPPORTED_LIMIT, "cuCtxGetLimit: unknown limit {}", static_cast<int>(limit));
  *pvalue = (*c)->limits[limit];
  return CUDA_SUCCESS;
}

CUresult cuCtxGetCacheConfig(CUfunc_cache *pconfig) {
  if (pconfig == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  *pconfig = (*c)->cacheConfig;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetCacheConfig(CUfunc_cache config) {
  auto c = requireContext();
  if (!c)
    return c.status();
  if (config < CU_FUNC_CACHE_PREFER_NONE || config > CU_FUNC_CACHE_PREFER_EQUAL)
    return CUDA_ERROR_INVALID_VALUE;
  (*c)->cacheConfig = config;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetSharedMemConfig(CUsharedconfig *pConfig) {
  if (pConfig == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  *pConfig = (*c)->sharedConfig;
  return CUDA_SUCCESS;
}

CUresult cuCtxSetSharedMemConfig(CUsharedconfig config) {
  auto c = requireContext();
  if (!c)
    return c.status();
  (*c)->sharedConfig = config;
  return CUDA_SUCCESS;
}

CUresult cuCtxGetStreamPriorityRange(int *leastPriority, int *greatestPriority) {
  auto c = requireContext();
  if (!c)
    return c.status();
  if (leastPriority != nullptr)
    *leastPriority = kLeastPriority;
  if (greatestPriority != nullptr)
    *greatestPriority = kGreatestPriority;
  return CUDA_SUCCESS;
}

CUresult cuCtxResetPersistingL2Cache() {
  auto c = requireContext();
  return c ? CUDA_SUCCESS : c.status().code();
}

CUresult cuCtxGetExecAffinity(CUexecAffinityParam *pExecAffinity, CUexecAffinityType type) {
  if (pExecAffinity == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  if (type != CU_EXEC_AFFINITY_TYPE_SM_COUNT)
    return CUDA_ERROR_UNSUPPORTED_EXEC_AFFINITY;
  pExecAffinity->type = type;
  pExecAffinity->param.smCount.val =
      static_cast<unsigned>((*c)->device->props().attributes[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT]);
  return CUDA_SUCCESS;
}

CUresult cuCtxEnablePeerAccess(CUcontext peerContext, unsigned int flags) {
  auto c = requireContext();
  if (!c)
    return c.status();
  auto peer = checkContext(peerContext);
  if (!peer)
    return peer.status();
  if (flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  return error(CUDA_ERROR_PEER_ACCESS_UNSUPPORTED, "peer access between cuvirt devices is not supported");
}

CUresult cuCtxDisablePeerAccess(CUcontext peerContext) {
  auto peer = checkContext(peerContext);
  if (!peer)
    return peer.status();
  return CUDA_ERROR_PEER_ACCESS_NOT_ENABLED;
}

} // namespace api
} // namespace cuvirt

namespace cuvirt::api {

// No profiler is attached to a cuvirt device: starting and stopping
// collection has no effect, which CUDA documents as success.
CUresult cuProfilerStart() {
  auto c = requireContext();
  return c ? CUDA_SUCCESS : c.status().code();
}

CUresult cuProfilerStop() {
  auto c = requireContext();
  return c ? CUDA_SUCCESS : c.status().code();
}

CUresult cuDeviceGetHostAtomicCapabilities(unsigned int *capabilities, const CUatomicOperation *operations,
                                           unsigned int count, CUdevice dev) {
  if (capabilities == nullptr || (operations == nullptr && count != 0))
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(dev);
  if (!d)
    return d.status();
  // Device memory is host memory: host and device atomics are the same
  // instructions on the same cache-coherent memory.
  for (unsigned i = 0; i < count; ++i)
    capabilities[i] = CU_ATOMIC_CAPABILITY_SIGNED | CU_ATOMIC_CAPABILITY_UNSIGNED |
                      CU_ATOMIC_CAPABILITY_REDUCTION | CU_ATOMIC_CAPABILITY_SCALAR_32 |
                      CU_ATOMIC_CAPABILITY_SCALAR_64;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetP2PAtomicCapabilities(unsigned int *capabilities, const CUatomicOperation *operations,
                                          unsigned int count, CUdevice srcDevice, CUdevice dstDevice) {
  if (capabilities == nullptr || (operations == nullptr && count != 0))
    return CUDA_ERROR_INVALID_VALUE;
  auto a = deviceByOrdinal(srcDevice);
  auto b = deviceByOrdinal(dstDevice);
  if (!a || !b)
    return CUDA_ERROR_INVALID_DEVICE;
  for (unsigned i = 0; i < count; ++i)
    capabilities[i] = 0; // no peer access between cuvirt devices
  return CUDA_SUCCESS;
}

} // namespace cuvirt::api
