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
/// Ends the launch with `code` (a CUresult) and `message` (e.g. a block whose
/// mbarrier waits can never complete).
[[noreturn]] void cuvirt_cpu_fail(cuvirt::cpu::BlockEnv *env, int code, const char *message);
/// Device-side launches (the device runtime's cnpv2 GetParameterBufferV2 and
/// LaunchDeviceV2): `kernel` is the kernel's address in device code, its
/// NUL-terminated name. The buffer is 0 when refused; launch returns a CNP
/// error code (0 = success).
std::uint64_t cuvirt_cpu_cdp_param_buffer(std::uint64_t kernel, std::uint32_t gx, std::uint32_t gy,
                                          std::uint32_t gz, std::uint32_t bx, std::uint32_t by,
                                          std::uint32_t bz, std::uint32_t sharedBytes);
std::uint32_t cuvirt_cpu_cdp_launch(std::uint64_t buffer, std::uint64_t stream);
/// Thread block clusters (cpu_executor.cpp): the launch's cluster shape
/// (1 outside cluster launches); mapa on a generic shared-memory address;
/// barrier.cluster.arrive, and .wait after its block barrier.
std::uint32_t cuvirt_cpu_cluster_dim(std::uint32_t d);
std::uint64_t cuvirt_cpu_cluster_map(std::uint64_t address, std::uint32_t rank);
void cuvirt_cpu_cluster_arrive();
void cuvirt_cpu_cluster_wait();
/// Device-side malloc/free.
void *cuvirt_cpu_malloc(std::uint64_t size);
void cuvirt_cpu_free(void *ptr);
}
