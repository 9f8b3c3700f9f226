// Device-side kernel launches (CUDA dynamic parallelism): what a grid's
// threads launch is recorded while the grid runs, and run after it, in
// launch order (tail launches last), before the grid counts as complete.
#pragma once
#include "runtime/backend.h"
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace cuvirt::cpu {

class CpuKernel;

/// The child grids one grid launched. Thread-safe: blocks launch from every
/// worker at once.
class DeviceLaunches {
public:
  DeviceLaunches(const LaunchOp &parent, int depth) : parent_(parent), depth_(depth) {}

  /// cudaGetParameterBufferV2: a buffer for the parameters of `kernel` (its
  /// name, see the PTX front end's kernel addresses), or 0 when it is not a
  /// kernel of the parent's module or the launch is malformed.
  std::uint64_t parameterBuffer(const char *kernel, const std::uint32_t grid[3], const std::uint32_t block[3],
                                std::uint32_t sharedBytes);
  /// cudaLaunchDeviceV2: launches what `buffer` was made for; a CNP error
  /// code (0 = success).
  std::uint32_t launch(std::uint64_t buffer, std::uint64_t stream);

  /// Runs the launched grids (each with its own children) on this thread;
  /// the first failure is returned.
  Status runChildren();

private:
  struct Child {
    const KernelInfo *info = nullptr;
    std::uint32_t grid[3], block[3], sharedBytes;
    std::unique_ptr<std::uint8_t[]> params;
    bool launched = false, tail = false;
  };
  const LaunchOp &parent_;
  int depth_;
  std::mutex mutex_;
  std::deque<Child> children_;
  std::unordered_map<std::uint64_t, std::size_t> byBuffer_; ///< parameter buffer -> children_ index
};

/// The child grids of the grid running on this thread (null outside one).
DeviceLaunches *currentDeviceLaunches();

} // namespace cuvirt::cpu
