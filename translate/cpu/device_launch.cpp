// Device-side launches: see device_launch.h. The device runtime's syscalls
// (runtime/link_ptx.cpp defines them in PTX) call the two helpers at the end.
#include "translate/cpu/device_launch.h"
#include "runtime/log.h"
#include "translate/cpu/cpu_backend.h"
#include <algorithm>
#include <cstring>
#include <new>

namespace cuvirt::cpu {
namespace {

/// CUDA's nesting limit for device-side launches.
constexpr int kMaxDepth = 24;

// CNPerror values the device runtime translates to cudaError_t.
constexpr std::uint32_t kCnpSuccess = 0;
constexpr std::uint32_t kCnpInvalidValue = 1;

// Streams with their own meaning in device code (cuda_device_runtime_api.h).
constexpr std::uint64_t kTailLaunch = 0x3, kGraphTailLaunch = 0x0100000000000000ull;

bool validConfiguration(const std::uint32_t grid[3], const std::uint32_t block[3], std::string &why) {
  std::uint64_t threads = std::uint64_t(block[0]) * block[1] * block[2];
  if (grid[0] == 0 || grid[1] == 0 || grid[2] == 0 || grid[1] > 65535 || grid[2] > 65535)
    why = fmt::format("grid ({},{},{})", grid[0], grid[1], grid[2]);
  else if (threads == 0 || threads > 1024 || block[2] > 64)
    why = fmt::format("block ({},{},{})", block[0], block[1], block[2]);
  return why.empty();
}

} // namespace

std::uint64_t DeviceLaunches::parameterBuffer(const char *kernel, const std::uint32_t grid[3],
                                              const std::uint32_t block[3], std::uint32_t sharedBytes) {
  const auto *parentKernel = static_cast<const CpuKernel *>(parent_.kernel);
  const KernelInfo *info = nullptr;
  if (kernel != nullptr && parentKernel->moduleInfo != nullptr)
    for (const auto &k : parentKernel->moduleInfo->kernels)
      if (k.name == kernel)
        info = &k;
  std::string why;
  if (info == nullptr)
    why = "the function is not a kernel of the launching module";
  else if (depth_ + 1 >= kMaxDepth)
    why = fmt::format("nesting deeper than {} levels", kMaxDepth);
  else
    validConfiguration(grid, block, why);
  if (!why.empty()) {
    log().warn("kernel {}: device-side launch of {} refused: {}", parent_.name, info ? info->name : "?", why);
    return 0;
  }
  Child c;
  c.info = info;
  std::memcpy(c.grid, grid, sizeof c.grid);
  std::memcpy(c.block, block, sizeof c.block);
  c.sharedBytes = sharedBytes;
  // 16-byte aligned like a kernel's parameter space (param structs align so)
  std::size_t bytes = std::max<std::size_t>(info->paramBytes(), 16);
  c.params.reset(new (std::align_val_t(16)) std::uint8_t[bytes]());
  auto address = reinterpret_cast<std::uint64_t>(c.params.get());
  std::lock_guard lock(mutex_);
  byBuffer_[address] = children_.size();
  children_.push_back(std::move(c));
  return address;
}

std::uint32_t DeviceLaunches::launch(std::uint64_t buffer, std::uint64_t stream) {
  std::lock_guard lock(mutex_);
  auto it = byBuffer_.find(buffer);
  if (it == byBuffer_.end() || children_[it->second].launched)
    return kCnpInvalidValue;
  Child &c = children_[it->second];
  c.launched = true;
  c.tail = stream == kTailLaunch || stream == kGraphTailLaunch;
  return kCnpSuccess;
}

Status DeviceLaunches::runChildren() {
  const auto *parentKernel = static_cast<const CpuKernel *>(parent_.kernel);
  // Launch order; tail launches once everything else the grid launched ran.
  for (bool tail : {false, true}) {
    for (std::size_t i = 0; i < children_.size(); ++i) {
      Child &c = children_[i];
      if (!c.launched || c.tail != tail)
        continue;
      auto kernel = parentKernel->module->kernel(c.info->name);
      if (!kernel.ok())
        return kernel.status();
      LaunchOp op;
      op.kernel = *kernel;
      std::memcpy(op.grid, c.grid, sizeof op.grid);
      std::memcpy(op.block, c.block, sizeof op.block);
      op.dynamicSharedBytes = c.sharedBytes;
      op.params.assign(c.params.get(), c.params.get() + c.info->paramBytes());
      op.layout = c.info->params;
      op.name = c.info->name;
      op.output = parent_.output;
      CUVIRT_TRY(runGrid(op, depth_ + 1));
    }
  }
  return {};
}

} // namespace cuvirt::cpu

using cuvirt::cpu::currentDeviceLaunches;

// The device runtime's __cuda_syscall_cnpv2GetParameterBufferV2.
extern "C" __attribute__((visibility("default"))) std::uint64_t
cuvirt_cpu_cdp_param_buffer(std::uint64_t kernel, std::uint32_t gx, std::uint32_t gy, std::uint32_t gz,
                            std::uint32_t bx, std::uint32_t by, std::uint32_t bz, std::uint32_t sharedBytes) {
  auto *launches = currentDeviceLaunches();
  if (launches == nullptr)
    return 0;
  const std::uint32_t grid[3] = {gx, gy, gz}, block[3] = {bx, by, bz};
  return launches->parameterBuffer(reinterpret_cast<const char *>(kernel), grid, block, sharedBytes);
}

// The device runtime's __cuda_syscall_cnpv2LaunchDeviceV2.
extern "C" __attribute__((visibility("default"))) std::uint32_t cuvirt_cpu_cdp_launch(std::uint64_t buffer,
                                                                                      std::uint64_t stream) {
  auto *launches = currentDeviceLaunches();
  return launches != nullptr ? launches->launch(buffer, stream) : 1;
}
