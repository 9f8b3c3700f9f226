// The pre-CUDA-4 launch style (cuFuncSetBlockShape, cuFuncSetSharedSize,
// cuParamSet*, cuLaunch, cuLaunchGrid[Async]) on top of cuLaunchKernel, and
// the cluster occupancy queries (on a device without thread block clusters a
// cluster is one block; the CPU device runs clusters of up to 8).
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/runtime.h"
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace cuvirt {
namespace {

/// What the legacy calls set on a function, kept until the next change.
struct LegacyLaunch {
  int block[3] = {0, 0, 0}; ///< unset until cuFuncSetBlockShape
  unsigned sharedBytes = 0;
  std::vector<std::uint8_t> params;
  std::size_t paramSize = 0;
};

std::mutex g_mutex;
std::unordered_map<Function *, LegacyLaunch> &state() {
  static auto *m = new std::unordered_map<Function *, LegacyLaunch>; // never destroyed
  return *m;
}

constexpr std::size_t kMaxParamBytes = 32764; // CUDA's kernel parameter limit (CUDA 12.1+)

Status setParam(CUfunction hfunc, int offset, const void *data, std::size_t bytes) {
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  if (offset < 0 || (bytes != 0 && data == nullptr) || offset + bytes > kMaxParamBytes)
    return error(CUDA_ERROR_INVALID_VALUE,
                 "cuParamSet: {} bytes at offset {} do not fit the parameter buffer", bytes, offset);
  std::lock_guard lock(g_mutex);
  auto &p = state()[*f].params;
  if (p.size() < offset + bytes)
    p.resize(offset + bytes);
  if (bytes != 0)
    std::memcpy(p.data() + offset, data, bytes);
  return {};
}

Status launchGrid(CUfunction f, int width, int height, CUstream stream) {
  auto fn = checkFunction(f);
  if (!fn)
    return fn.status();
  if (width <= 0 || height <= 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuLaunchGrid: grid {}x{}", width, height);
  LegacyLaunch l;
  {
    std::lock_guard lock(g_mutex);
    l = state()[*fn];
  }
  if (l.block[0] <= 0 || l.block[1] <= 0 || l.block[2] <= 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuLaunch: no block shape set (cuFuncSetBlockShape) for {}",
                 (*fn)->info->name);
  l.params.resize(std::max(l.params.size(), l.paramSize));
  std::size_t size = l.paramSize;
  void *extra[] = {CU_LAUNCH_PARAM_BUFFER_POINTER, l.params.data(), CU_LAUNCH_PARAM_BUFFER_SIZE, &size,
                   CU_LAUNCH_PARAM_END};
  return api::cuLaunchKernel(f, width, height, 1, l.block[0], l.block[1], l.block[2], l.sharedBytes, stream,
                             nullptr, extra);
}

/// The cluster size a launch asks for: its attribute, else the kernel's
/// compile-time size, else 1.
int clusterSize(Function *f, const CUlaunchConfig *config) {
  for (unsigned i = 0; i < config->numAttrs; ++i)
    if (config->attrs[i].id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
      const auto &d = config->attrs[i].value.clusterDim;
      return static_cast<int>(d.x * d.y * d.z);
    }
  if (f->clusterWidth > 0)
    return f->clusterWidth * std::max(f->clusterHeight, 1) * std::max(f->clusterDepth, 1);
  const auto d = f->info->clusterShape(); // __cluster_dims__
  return static_cast<int>(d[0] * d[1] * d[2]);
}

} // namespace

namespace api {

CUresult cuFuncSetBlockShape(CUfunction hfunc, int x, int y, int z) {
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  // The launch checks the shape against the kernel's and device's limits.
  if (x <= 0 || y <= 0 || z <= 0)
    return error(CUDA_ERROR_INVALID_VALUE, "cuFuncSetBlockShape: {}x{}x{}", x, y, z);
  std::lock_guard lock(g_mutex);
  auto &l = state()[*f];
  l.block[0] = x, l.block[1] = y, l.block[2] = z;
  return CUDA_SUCCESS;
}

CUresult cuFuncSetSharedSize(CUfunction hfunc, unsigned int bytes) {
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  std::lock_guard lock(g_mutex);
  state()[*f].sharedBytes = bytes;
  return CUDA_SUCCESS;
}

CUresult cuParamSetSize(CUfunction hfunc, unsigned int numbytes) {
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  if (numbytes > kMaxParamBytes)
    return error(CUDA_ERROR_INVALID_VALUE, "cuParamSetSize: {} bytes", numbytes);
  std::lock_guard lock(g_mutex);
  state()[*f].paramSize = numbytes;
  return CUDA_SUCCESS;
}

CUresult cuParamSeti(CUfunction hfunc, int offset, unsigned int value) {
  return setParam(hfunc, offset, &value, sizeof value);
}

CUresult cuParamSetf(CUfunction hfunc, int offset, float value) {
  return setParam(hfunc, offset, &value, sizeof value);
}

CUresult cuParamSetv(CUfunction hfunc, int offset, void *ptr, unsigned int numbytes) {
  return setParam(hfunc, offset, ptr, numbytes);
}

CUresult cuLaunch(CUfunction f) { return launchGrid(f, 1, 1, nullptr); }

CUresult cuLaunchGrid(CUfunction f, int grid_width, int grid_height) {
  return launchGrid(f, grid_width, grid_height, nullptr);
}

CUresult cuLaunchGridAsync(CUfunction f, int grid_width, int grid_height, CUstream hStream) {
  return launchGrid(f, grid_width, grid_height, hStream);
}

CUresult cuOccupancyMaxPotentialClusterSize(int *size, CUfunction func, const CUlaunchConfig *config) {
  if (size == nullptr || config == nullptr || (config->numAttrs != 0 && config->attrs == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(func);
  if (!f)
    return f.status();
  auto c = requireContext();
  if (!c)
    return c.status();
  // No cluster hardware: the largest cluster that fits is one block.
  *size = (*c)->device->props().attributes[CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH] != 0 ? 8 : 1;
  return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxActiveClusters(int *numClusters, CUfunction func, const CUlaunchConfig *config) {
  if (numClusters == nullptr || config == nullptr || (config->numAttrs != 0 && config->attrs == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(func);
  if (!f)
    return f.status();
  auto c = requireContext();
  if (!c)
    return c.status();
  const int cluster = clusterSize(*f, config);
  if (cluster > 1 && (*c)->device->props().attributes[CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH] == 0)
    return error(CUDA_ERROR_INVALID_CLUSTER_SIZE,
                 "cuOccupancyMaxActiveClusters: clusters of {} blocks, but device "
                 "{} has no thread block clusters",
                 cluster, (*c)->device->ordinal);
  if (cluster < 1 || cluster > 8)
    return error(CUDA_ERROR_INVALID_CLUSTER_SIZE,
                 "cuOccupancyMaxActiveClusters: clusters of {} blocks (1 to 8)", cluster);
  const unsigned threads = config->blockDimX * config->blockDimY * config->blockDimZ;
  int perSm = 0;
  if (CUresult r = api::cuOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, func, static_cast<int>(threads),
                                                                    config->sharedMemBytes);
      r != CUDA_SUCCESS)
    return r;
  *numClusters = perSm * (*c)->device->props().attributes[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT] /
                 std::max(cluster, 1);
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt
