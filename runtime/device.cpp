// Initialisation and devices: cuInit, cuDriverGetVersion, cuDeviceGet*.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/log.h"
#include "runtime/runtime.h"
#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace cuvirt {
namespace {

constexpr int kDriverVersion = 13000;
// Each device's window of device addresses (virtual only until used).
constexpr std::size_t kWindowBytes = std::size_t(1) << 40;

/// CUVIRT_DEVICES=N keeps the N least-loaded devices of the whole pool (every
/// backend in CUVIRT_BACKEND): fewest other users, then most free memory,
/// ties in pool order; the chosen ones become devices 0..N-1 in that order.
/// Devices left out are dropped (a server left without one ends its session).
void selectLeastLoaded(std::vector<std::unique_ptr<BackendDevice>> &found) {
  const char *env = std::getenv("CUVIRT_DEVICES");
  const int n = env != nullptr ? std::atoi(env) : 0;
  if (n <= 0 || static_cast<std::size_t>(n) >= found.size())
    return;
  struct Ranked {
    DeviceLoad load;
    std::size_t order;
  };
  std::vector<Ranked> ranked;
  for (std::size_t i = 0; i < found.size(); ++i)
    ranked.push_back({found[i]->load(), i});
  std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked &a, const Ranked &b) {
    if (a.load.known != b.load.known)
      return a.load.known;
    if (a.load.users != b.load.users)
      return a.load.users < b.load.users;
    return a.load.freeBytes > b.load.freeBytes;
  });
  std::vector<std::unique_ptr<BackendDevice>> chosen;
  for (int i = 0; i < n; ++i) {
    const Ranked &r = ranked[static_cast<std::size_t>(i)];
    log().info("CUVIRT_DEVICES={}: device {} is {} ({} other users, {} bytes free)", n, i,
               found[r.order]->props().name, r.load.users, r.load.freeBytes);
    chosen.push_back(std::move(found[r.order]));
  }
  found = std::move(chosen); // the rest are destroyed here
}

std::once_flag g_initOnce;
Runtime *g_runtime = nullptr;
Status g_initStatus = CUDA_ERROR_NOT_INITIALIZED;

Status initialize() {
  auto *rt = new Runtime; // never freed, see Runtime
  std::vector<std::unique_ptr<BackendDevice>> found;
  for (const std::string &name : backendNames()) {
    auto backend = makeBackend(name);
    if (!backend)
      continue;
    for (auto &d : backend->devices())
      found.push_back(std::move(d));
    rt->backends.push_back(std::move(backend));
  }
  selectLeastLoaded(found);
  for (auto &bd : found) {
    auto dev = std::make_unique<Device>();
    dev->ordinal = static_cast<int>(rt->devices.size());
    dev->backend = std::move(bd);
    CUVIRT_TRY(dev->window.reserve(kWindowBytes));
    dev->defaultPool.device = dev.get();
    rt->pools.add(&dev->defaultPool);
    rt->devices.push_back(std::move(dev));
  }
  if (rt->devices.empty())
    return error(CUDA_ERROR_NO_DEVICE, "no cuvirt device is available");
  g_runtime = rt;
  return {};
}

} // namespace

Expected<Runtime *> runtime() {
  if (g_runtime == nullptr)
    return Status(CUDA_ERROR_NOT_INITIALIZED);
  return g_runtime;
}

Runtime *runtimeIfInitialized() { return g_runtime; }

Expected<Device *> deviceByOrdinal(CUdevice ordinal) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (ordinal < 0 || ordinal >= static_cast<int>((*rt)->devices.size()))
    return error(CUDA_ERROR_INVALID_DEVICE, "invalid device ordinal {}", ordinal);
  return (*rt)->devices[ordinal].get();
}

namespace api {

CUresult cuInit(unsigned int flags) {
  if (flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  std::call_once(g_initOnce, [] { g_initStatus = initialize(); });
  return g_initStatus;
}

CUresult cuDriverGetVersion(int *driverVersion) {
  if (driverVersion == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  *driverVersion = kDriverVersion;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetCount(int *count) {
  if (count == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  *count = static_cast<int>((*rt)->devices.size());
  return CUDA_SUCCESS;
}

CUresult cuDeviceGet(CUdevice *device, int ordinal) {
  if (device == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto dev = deviceByOrdinal(ordinal);
  if (!dev)
    return dev.status();
  *device = ordinal;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetName(char *name, int len, CUdevice device) {
  if (name == nullptr || len <= 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto dev = deviceByOrdinal(device);
  if (!dev)
    return dev.status();
  const std::string &n = (*dev)->props().name;
  std::size_t count = std::min<std::size_t>(n.size(), static_cast<std::size_t>(len) - 1);
  std::memcpy(name, n.data(), count);
  name[count] = '\0';
  return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem_v2(size_t *bytes, CUdevice device) {
  if (bytes == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto dev = deviceByOrdinal(device);
  if (!dev)
    return dev.status();
  *bytes = (*dev)->props().totalMemory;
  return CUDA_SUCCESS;
}

CUresult cuDeviceTotalMem(unsigned int *bytes, CUdevice device) {
  size_t full = 0;
  CUresult r = api::cuDeviceTotalMem_v2(&full, device);
  if (r == CUDA_SUCCESS)
    *bytes = static_cast<unsigned int>(std::min<size_t>(full, 0xffffffffu));
  return r;
}

CUresult cuDeviceGetAttribute(int *pi, CUdevice_attribute attrib, CUdevice device) {
  if (pi == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto dev = deviceByOrdinal(device);
  if (!dev)
    return dev.status();
  if (attrib <= 0 || attrib >= CU_DEVICE_ATTRIBUTE_MAX)
    return error(CUDA_ERROR_INVALID_VALUE, "cuDeviceGetAttribute: unknown attribute {}",
                 static_cast<int>(attrib));
  *pi = (*dev)->props().attributes[attrib];
  // Features the runtime provides only with a backend capability: a remote
  // device passes its server's attributes through, not what this side can do.
  switch (attrib) {
  case CU_DEVICE_ATTRIBUTE_VIRTUAL_MEMORY_MANAGEMENT_SUPPORTED:
  case CU_DEVICE_ATTRIBUTE_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR_SUPPORTED:
    *pi = *pi != 0 && (*dev)->backend->supportsVmm();
    break;
  case CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_MEM_OPS_V1:
  case CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS_V1:
  case CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR_V1:
  case CU_DEVICE_ATTRIBUTE_CAN_USE_64_BIT_STREAM_MEM_OPS:
  case CU_DEVICE_ATTRIBUTE_CAN_USE_STREAM_WAIT_VALUE_NOR:
  case CU_DEVICE_ATTRIBUTE_IPC_EVENT_SUPPORTED:       // runtime/ipc.cpp: events in shared host memory
    *pi = *pi != 0 && (*dev)->backend->hostVisible(); // runtime/stream_memops.cpp polls host memory
    break;
  default:
    break;
  }
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetUuid(CUuuid *uuid, CUdevice device) {
  if (uuid == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto dev = deviceByOrdinal(device);
  if (!dev)
    return dev.status();
  *uuid = (*dev)->props().uuid;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetUuid_v2(CUuuid *uuid, CUdevice device) { return api::cuDeviceGetUuid(uuid, device); }

CUresult cuDeviceGetLuid(char *, unsigned int *, CUdevice device) {
  auto dev = deviceByOrdinal(device);
  return dev ? CUDA_ERROR_NOT_SUPPORTED : dev.status().code(); // LUIDs are Windows-only
}

CUresult cuDeviceComputeCapability(int *major, int *minor, CUdevice device) {
  if (major == nullptr || minor == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto dev = deviceByOrdinal(device);
  if (!dev)
    return dev.status();
  *major = (*dev)->props().attributes[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR];
  *minor = (*dev)->props().attributes[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR];
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetProperties(CUdevprop *prop, CUdevice device) {
  if (prop == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto dev = deviceByOrdinal(device);
  if (!dev)
    return dev.status();
  const auto &a = (*dev)->props().attributes;
  prop->maxThreadsPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
  prop->maxThreadsDim[0] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X];
  prop->maxThreadsDim[1] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y];
  prop->maxThreadsDim[2] = a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z];
  prop->maxGridSize[0] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X];
  prop->maxGridSize[1] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y];
  prop->maxGridSize[2] = a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z];
  prop->sharedMemPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK];
  prop->totalConstantMemory = a[CU_DEVICE_ATTRIBUTE_TOTAL_CONSTANT_MEMORY];
  prop->SIMDWidth = a[CU_DEVICE_ATTRIBUTE_WARP_SIZE];
  prop->memPitch = a[CU_DEVICE_ATTRIBUTE_MAX_PITCH];
  prop->regsPerBlock = a[CU_DEVICE_ATTRIBUTE_MAX_REGISTERS_PER_BLOCK];
  prop->clockRate = a[CU_DEVICE_ATTRIBUTE_CLOCK_RATE];
  prop->textureAlign = a[CU_DEVICE_ATTRIBUTE_TEXTURE_ALIGNMENT];
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetPCIBusId(char *pciBusId, int len, CUdevice device) {
  if (pciBusId == nullptr || len <= 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto dev = deviceByOrdinal(device);
  if (!dev)
    return dev.status();
  const auto &a = (*dev)->props().attributes;
  std::string id =
      fmt::format("{:08x}:{:02x}:{:02x}.0", a[CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID],
                  a[CU_DEVICE_ATTRIBUTE_PCI_BUS_ID] + (*dev)->ordinal, a[CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID]);
  std::size_t n = std::min<std::size_t>(id.size(), static_cast<std::size_t>(len) - 1);
  std::memcpy(pciBusId, id.data(), n);
  pciBusId[n] = '\0';
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetByPCIBusId(CUdevice *dev, const char *pciBusId) {
  if (dev == nullptr || pciBusId == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  for (auto &d : (*rt)->devices) {
    char id[32];
    if (api::cuDeviceGetPCIBusId(id, sizeof id, d->ordinal) == CUDA_SUCCESS &&
        strcasecmp(id, pciBusId) == 0) {
      *dev = d->ordinal;
      return CUDA_SUCCESS;
    }
    // Accept the short form "bus:device.function" too.
    if (std::strlen(id) > 9 && strcasecmp(id + 9, pciBusId) == 0) {
      *dev = d->ordinal;
      return CUDA_SUCCESS;
    }
  }
  return error(CUDA_ERROR_INVALID_DEVICE, "no device with PCI bus id {}", pciBusId);
}

CUresult cuDeviceGetP2PAttribute(int *value, CUdevice_P2PAttribute attrib, CUdevice srcDevice,
                                 CUdevice dstDevice) {
  if (value == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto a = deviceByOrdinal(srcDevice);
  auto b = deviceByOrdinal(dstDevice);
  if (!a || !b)
    return CUDA_ERROR_INVALID_DEVICE;
  if (srcDevice == dstDevice)
    return CUDA_ERROR_INVALID_DEVICE;
  switch (attrib) {
  case CU_DEVICE_P2P_ATTRIBUTE_PERFORMANCE_RANK:
    *value = 0;
    break;
  default:
    *value = 0; // no peer access between distinct cuvirt devices yet
  }
  return CUDA_SUCCESS;
}

CUresult cuDeviceCanAccessPeer(int *canAccessPeer, CUdevice dev, CUdevice peerDev) {
  if (canAccessPeer == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto a = deviceByOrdinal(dev);
  auto b = deviceByOrdinal(peerDev);
  if (!a || !b)
    return CUDA_ERROR_INVALID_DEVICE;
  *canAccessPeer = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetTexture1DLinearMaxWidth(size_t *maxWidthInElements, CUarray_format, unsigned,
                                            CUdevice dev) {
  if (maxWidthInElements == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(dev);
  if (!d)
    return d.status();
  *maxWidthInElements =
      static_cast<size_t>((*d)->props().attributes[CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE1D_LINEAR_WIDTH]);
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetExecAffinitySupport(int *pi, CUexecAffinityType, CUdevice dev) {
  if (pi == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto d = deviceByOrdinal(dev);
  if (!d)
    return d.status();
  *pi = 0;
  return CUDA_SUCCESS;
}

CUresult cuModuleGetLoadingMode(CUmoduleLoadingMode *mode) {
  if (mode == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  const char *env = std::getenv("CUDA_MODULE_LOADING");
  *mode =
      (env != nullptr && std::strcmp(env, "EAGER") == 0) ? CU_MODULE_EAGER_LOADING : CU_MODULE_LAZY_LOADING;
  return CUDA_SUCCESS;
}

CUresult cuFlushGPUDirectRDMAWrites(CUflushGPUDirectRDMAWritesTarget, CUflushGPUDirectRDMAWritesScope) {
  return CUDA_SUCCESS; // nothing is in flight outside the host's coherence
}

} // namespace api
} // namespace cuvirt
