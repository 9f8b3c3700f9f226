// The contract between JIT-compiled kernels and the CPU backend that runs them.
//
// A kernel compiles to one BlockFn that runs a whole thread block (all its
// CUDA threads, barriers included) on the calling worker thread. The backend
// spreads a grid's blocks over the cores.
#pragma once
#include <cstdint>

namespace cuvirt::cpu {

struct LaunchState; // the backend's; passed back to the runtime helpers below

struct BlockEnv {
  std::uint32_t gridDim[3];
  std::uint32_t blockDim[3];
  std::uint32_t blockIdx[3];
  std::uint32_t dynamicSharedBytes;
  /// This block's shared memory: the kernel's static .shared variables first
  /// (laid out by the compiler, KernelInfo::staticSharedBytes in all), then
  /// the dynamic (extern .shared) area at a 16-byte aligned offset.
  std::uint8_t *shared;
  /// CUDA's kernelParams: params[i] points at parameter i's value.
  void *const *params;
  LaunchState *launch;
  std::uint32_t smid; ///< the worker's index, for %smid
  /// A cooperative launch's grid workspace ({u32 size, u32 barrier}, zeroed),
  /// read by cooperative_groups::this_grid() through %envreg1:%envreg2; 0
  /// otherwise (this_grid().is_valid() is false).
  std::uint64_t gridWorkspace;
};

using BlockFn = void (*)(BlockEnv *env);

} // namespace cuvirt::cpu

// Runtime helpers that compiled kernels call (resolved by the JIT to the
// backend's addresses, never through dlsym).
extern "C" {
/// Device-side printf: `args` is the packed argument buffer vprintf gets.
int cuvirt_cpu_vprintf(const char *format, const void *args);
/// __assertfail: prints CUDA's assertion message (with the failing thread's
/// index) and ends the block.
[[noreturn]] void cuvirt_cpu_assertfail(const char *message, const char *file, unsigned line,
                                        const char *function, cuvirt::cpu::BlockEnv *env, unsigned tidX,
                                        unsigned tidY, unsigned tidZ);
/// trap / brkpt: ends the launch with CUDA_ERROR_LAUNCH_FAILED.
[[noreturn]] void cuvirt_cpu_trap(cuvirt::cpu::BlockEnv *env);
/// Device-side malloc/free.
void *cuvirt_cpu_malloc(std::uint64_t size);
void cuvirt_cpu_free(void *ptr);
}
