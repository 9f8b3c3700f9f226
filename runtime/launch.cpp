// Kernel launches: argument validation, parameter packing, submission.
#include "cuvirt_api.h"
#include "runtime/api_support.h"
#include "runtime/capture.h"
#include "runtime/module.h"
#include "runtime/runtime.h"
#include <algorithm>
#include <cstring>

namespace cuvirt {
namespace api {
namespace {
int maxActiveBlocks(const Function &f, int blockSize, std::size_t dynamicShared); // occupancy, below
} // namespace
} // namespace api
namespace {

struct LaunchShape {
  unsigned grid[3];
  unsigned block[3];
  unsigned sharedBytes;
  unsigned cluster[3] = {1, 1, 1}; ///< blocks per cluster
};

Status validate(const Function &f, const LaunchShape &s) {
  const auto &a = f.module->device->props().attributes;
  const KernelInfo &k = *f.info;
  for (int i = 0; i < 3; ++i)
    if (s.grid[i] == 0 || s.block[i] == 0)
      return error(CUDA_ERROR_INVALID_VALUE, "launch of {}: a grid or block dimension is 0", k.name);
  const std::uint64_t threads = std::uint64_t(s.block[0]) * s.block[1] * s.block[2];
  const int maxThreads = k.maxThreadsPerBlock ? static_cast<int>(k.maxThreadsPerBlock)
                                              : a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
  if (threads > static_cast<std::uint64_t>(maxThreads) ||
      s.block[0] > static_cast<unsigned>(a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X]) ||
      s.block[1] > static_cast<unsigned>(a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y]) ||
      s.block[2] > static_cast<unsigned>(a[CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z]))
    return error(CUDA_ERROR_INVALID_VALUE, "launch of {}: block ({},{},{}) is too large", k.name, s.block[0],
                 s.block[1], s.block[2]);
  if (k.reqntid[0] != 0 && (s.block[0] != k.reqntid[0] || s.block[1] != std::max(1u, k.reqntid[1]) ||
                            s.block[2] != std::max(1u, k.reqntid[2])))
    return error(CUDA_ERROR_INVALID_VALUE, "launch of {}: block shape differs from the kernel's .reqntid",
                 k.name);
  // Clusters: the kernel's own (__cluster_dims__) or the launch's. Refused
  // on a device without them rather than run as clusters of one (the
  // kernel's results would be silently wrong).
  const std::uint64_t cluster = std::uint64_t(s.cluster[0]) * s.cluster[1] * s.cluster[2];
  if (cluster > 1 && a[CU_DEVICE_ATTRIBUTE_CLUSTER_LAUNCH] == 0)
    return error(CUDA_ERROR_NOT_SUPPORTED,
                 "launch of {}: thread block clusters of {}x{}x{}, which this device does not have", k.name,
                 s.cluster[0], s.cluster[1], s.cluster[2]);
  if (cluster == 0 || cluster > 8 || s.grid[0] % s.cluster[0] != 0 || s.grid[1] % s.cluster[1] != 0 ||
      s.grid[2] % s.cluster[2] != 0)
    return error(CUDA_ERROR_INVALID_CLUSTER_SIZE,
                 "launch of {}: clusters of {}x{}x{} blocks (at most 8) must divide the grid ({},{},{})",
                 k.name, s.cluster[0], s.cluster[1], s.cluster[2], s.grid[0], s.grid[1], s.grid[2]);
  if (s.grid[0] > static_cast<unsigned>(a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X]) ||
      s.grid[1] > static_cast<unsigned>(a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y]) ||
      s.grid[2] > static_cast<unsigned>(a[CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z]))
    return error(CUDA_ERROR_INVALID_VALUE, "launch of {}: grid ({},{},{}) is too large", k.name, s.grid[0],
                 s.grid[1], s.grid[2]);
  if (s.sharedBytes > static_cast<unsigned>(f.maxDynamicSharedBytes))
    return error(CUDA_ERROR_INVALID_VALUE,
                 "launch of {}: {} bytes of dynamic shared memory exceed the kernel's limit of {} "
                 "(raise it with cuFuncSetAttribute)",
                 k.name, s.sharedBytes, f.maxDynamicSharedBytes);
  return {};
}

/// Packs the arguments the way the kernel's layout says, from either
/// kernelParams or the `extra` buffer.
Status packParams(const KernelInfo &k, void **kernelParams, void **extra, std::vector<std::uint8_t> &out) {
  out.assign(k.paramBytes(), 0);
  if (kernelParams != nullptr) {
    for (std::size_t i = 0; i < k.params.size(); ++i) {
      if (kernelParams[i] == nullptr)
        return error(CUDA_ERROR_INVALID_VALUE, "launch of {}: argument {} is NULL", k.name, i);
      std::memcpy(out.data() + k.params[i].offset, kernelParams[i], k.params[i].size);
    }
    return {};
  }
  if (extra != nullptr) {
    const void *buffer = nullptr;
    std::size_t size = 0;
    for (int i = 0; extra[i] != CU_LAUNCH_PARAM_END; i += 2) {
      if (extra[i] == CU_LAUNCH_PARAM_BUFFER_POINTER)
        buffer = extra[i + 1];
      else if (extra[i] == CU_LAUNCH_PARAM_BUFFER_SIZE)
        size = *static_cast<std::size_t *>(extra[i + 1]);
      else
        return error(CUDA_ERROR_INVALID_VALUE, "launch of {}: unknown 'extra' option {}", k.name, extra[i]);
      if (i > 64)
        return error(CUDA_ERROR_INVALID_VALUE, "launch of {}: 'extra' is not terminated", k.name);
    }
    if (buffer == nullptr || size < out.size())
      return error(CUDA_ERROR_INVALID_VALUE,
                   "launch of {}: the 'extra' buffer holds {} of {} parameter bytes", k.name, size,
                   out.size());
    std::memcpy(out.data(), buffer, out.size());
    return {};
  }
  if (!k.params.empty())
    return error(CUDA_ERROR_INVALID_VALUE, "launch of {}: no arguments given for {} parameters", k.name,
                 k.params.size());
  return {};
}

/// A cooperative grid must fit on the device at once (all its blocks run
/// concurrently so that grid-wide syncs cannot deadlock).
Status validateCooperative(const Function &f, const LaunchShape &s) {
  const auto &a = f.module->device->props().attributes;
  if (a[CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH] == 0)
    return error(CUDA_ERROR_NOT_SUPPORTED, "launch of {}: the device does not support cooperative launches",
                 f.info->name);
  const std::uint64_t blocks = std::uint64_t(s.grid[0]) * s.grid[1] * s.grid[2];
  const int threads = static_cast<int>(s.block[0] * s.block[1] * s.block[2]);
  const std::uint64_t fit = std::uint64_t(api::maxActiveBlocks(f, threads, s.sharedBytes)) *
                            a[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT];
  if (blocks > fit)
    return error(CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE,
                 "cooperative launch of {}: {} blocks, at most {} can be resident at once", f.info->name,
                 blocks, fit);
  return {};
}

Status launch(const void *fn, const LaunchShape &shape, CUstream hStream, void **kernelParams, void **extra,
              bool cooperative = false) {
  auto f = checkFunction(fn);
  if (!f)
    return f.status();
  auto s = resolveStream(hStream);
  if (!s)
    return s.status();
  if (Status sticky = (*s)->context->stickyStatus(); !sticky.ok())
    return sticky;
  f = functionOnDevice(*f, (*s)->context->device);
  if (!f)
    return f.status();
  LaunchShape s2 = shape;
  if (s2.cluster[0] * s2.cluster[1] * s2.cluster[2] == 1) { // the kernel's __cluster_dims__, if any
    const auto kernelShape = (*f)->info->clusterShape();
    std::copy(kernelShape.begin(), kernelShape.end(), s2.cluster);
  }
  CUVIRT_TRY(validate(**f, s2));
  if (cooperative && s2.cluster[0] * s2.cluster[1] * s2.cluster[2] > 1)
    return error(CUDA_ERROR_NOT_SUPPORTED, "launch of {}: a cooperative launch of thread block clusters",
                 (*f)->info->name);
  if (cooperative)
    CUVIRT_TRY(validateCooperative(**f, s2));
  LaunchOp op;
  op.cooperative = cooperative;
  std::memcpy(op.cluster, s2.cluster, sizeof op.cluster);
  CUVIRT_TRY(packParams(*(*f)->info, kernelParams, extra, op.params));
  auto kernel = compiledKernel(*f);
  if (!kernel)
    return kernel.status();
  op.kernel = *kernel;
  std::memcpy(op.grid, shape.grid, sizeof op.grid);
  std::memcpy(op.block, shape.block, sizeof op.block);
  op.dynamicSharedBytes = shape.sharedBytes;
  op.layout = (*f)->info->params;
  op.name = (*f)->info->name;
  if (capturing(*s))
    return captureKernel(*s, *f, op);
  return submit(*s, [&](Queue &q) { q.launch(std::move(op)); });
}

} // namespace

namespace api {

CUresult cuLaunchKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
                        unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
                        unsigned int sharedMemBytes, CUstream hStream, void **kernelParams, void **extra) {
  LaunchShape shape{{gridDimX, gridDimY, gridDimZ}, {blockDimX, blockDimY, blockDimZ}, sharedMemBytes};
  return launch(f, shape, hStream, kernelParams, extra);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **kernelParams, void **extra) {
  if (config == nullptr || (config->numAttrs != 0 && config->attrs == nullptr))
    return CUDA_ERROR_INVALID_VALUE;
  bool cooperative = false;
  LaunchShape shape{{config->gridDimX, config->gridDimY, config->gridDimZ},
                    {config->blockDimX, config->blockDimY, config->blockDimZ},
                    config->sharedMemBytes};
  for (unsigned i = 0; i < config->numAttrs; ++i) {
    const CUlaunchAttribute &attr = config->attrs[i];
    if (attr.id == CU_LAUNCH_ATTRIBUTE_COOPERATIVE)
      cooperative = attr.value.cooperative != 0;
    if (attr.id == CU_LAUNCH_ATTRIBUTE_CLUSTER_DIMENSION) {
      const auto &d = attr.value.clusterDim;
      shape.cluster[0] = d.x;
      shape.cluster[1] = d.y;
      shape.cluster[2] = d.z;
    }
  }
  return launch(f, shape, config->hStream, kernelParams, extra, cooperative);
}

CUresult cuLaunchCooperativeKernel(CUfunction f, unsigned int gridDimX, unsigned int gridDimY,
                                   unsigned int gridDimZ, unsigned int blockDimX, unsigned int blockDimY,
                                   unsigned int blockDimZ, unsigned int sharedMemBytes, CUstream hStream,
                                   void **kernelParams) {
  LaunchShape shape{{gridDimX, gridDimY, gridDimZ}, {blockDimX, blockDimY, blockDimZ}, sharedMemBytes};
  return launch(f, shape, hStream, kernelParams, nullptr, true);
}

// cuLaunchCooperativeKernelMultiDevice (deprecated since CUDA 11.3) stays
// NOT_SUPPORTED: CU_DEVICE_ATTRIBUTE_COOPERATIVE_MULTI_DEVICE_LAUNCH is 0.

// Occupancy: a CPU "multiprocessor" runs one block at a time, but CUDA
// programs size their grids from these answers, so report what the device
// attributes describe (threads, blocks and shared memory per SM).
namespace {
int maxActiveBlocks(const Function &f, int blockSize, std::size_t dynamicShared) {
  const auto &a = f.module->device->props().attributes;
  if (blockSize <= 0)
    return 0;
  const int byThreads = a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR] / blockSize;
  const std::size_t shared = f.info->staticSharedBytes + dynamicShared;
  const int byShared =
      shared == 0 ? a[CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR]
                  : static_cast<int>(a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR] / shared);
  return std::max(0, std::min({byThreads, byShared, a[CU_DEVICE_ATTRIBUTE_MAX_BLOCKS_PER_MULTIPROCESSOR]}));
}

int maxBlockSize(const Function &f) {
  const auto &a = f.module->device->props().attributes;
  return f.info->maxThreadsPerBlock ? static_cast<int>(f.info->maxThreadsPerBlock)
                                    : a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
}
} // namespace

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *numBlocks, CUfunction func, int blockSize,
                                                              size_t dynamicSMemSize, unsigned int) {
  if (numBlocks == nullptr || blockSize <= 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(func);
  if (!f)
    return f.status();
  if (blockSize > maxBlockSize(**f)) {
    *numBlocks = 0;
    return CUDA_SUCCESS;
  }
  *numBlocks = maxActiveBlocks(**f, blockSize, dynamicSMemSize);
  return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxActiveBlocksPerMultiprocessor(int *numBlocks, CUfunction func, int blockSize,
                                                     size_t dynamicSMemSize) {
  return api::cuOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(numBlocks, func, blockSize,
                                                                   dynamicSMemSize, 0);
}

CUresult cuOccupancyMaxPotentialBlockSizeWithFlags(int *minGridSize, int *blockSize, CUfunction func,
                                                   CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                                   size_t dynamicSMemSize, int blockSizeLimit, unsigned int) {
  if (minGridSize == nullptr || blockSize == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(func);
  if (!f)
    return f.status();
  const auto &a = (*f)->module->device->props().attributes;
  int limit = maxBlockSize(**f);
  if (blockSizeLimit > 0)
    limit = std::min(limit, blockSizeLimit);
  // The block size (a multiple of the warp size) with the most resident
  // threads per multiprocessor; larger wins ties.
  int best = 0, bestThreads = -1;
  for (int size = 32; size <= limit; size += 32) {
    std::size_t shared = blockSizeToDynamicSMemSize ? blockSizeToDynamicSMemSize(size) : dynamicSMemSize;
    int threads = maxActiveBlocks(**f, size, shared) * size;
    if (threads >= bestThreads) {
      best = size;
      bestThreads = threads;
    }
  }
  if (best == 0)
    best = limit;
  std::size_t shared = blockSizeToDynamicSMemSize ? blockSizeToDynamicSMemSize(best) : dynamicSMemSize;
  *blockSize = best;
  *minGridSize =
      std::max(1, maxActiveBlocks(**f, best, shared)) * a[CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT];
  return CUDA_SUCCESS;
}

CUresult cuOccupancyMaxPotentialBlockSize(int *minGridSize, int *blockSize, CUfunction func,
                                          CUoccupancyB2DSize blockSizeToDynamicSMemSize,
                                          size_t dynamicSMemSize, int blockSizeLimit) {
  return api::cuOccupancyMaxPotentialBlockSizeWithFlags(
      minGridSize, blockSize, func, blockSizeToDynamicSMemSize, dynamicSMemSize, blockSizeLimit, 0);
}

CUresult cuOccupancyAvailableDynamicSMemPerBlock(size_t *dynamicSmemSize, CUfunction func, int numBlocks,
                                                 int blockSize) {
  if (dynamicSmemSize == nullptr || numBlocks <= 0 || blockSize <= 0)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(func);
  if (!f)
    return f.status();
  const auto &a = (*f)->module->device->props().attributes;
  const std::size_t perBlock = a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR] / numBlocks;
  const std::size_t optin = a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN];
  const std::size_t available = std::min(perBlock, optin);
  *dynamicSmemSize =
      available > (*f)->info->staticSharedBytes ? available - (*f)->info->staticSharedBytes : 0;
  return CUDA_SUCCESS;
}

} // namespace api
} // namespace cuvirt
