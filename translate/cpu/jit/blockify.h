// The block-ification pass: per-thread kernels (translate/KERNEL_IR.md) ->
// block functions with the BlockFn ABI (translate/cpu/kernel_abi.h).
//
// Kernels without barriers, warp collectives or variable-trip-count loops
// become one loop nest over the block's threads (x innermost). Otherwise every
// barrier/collective, and the top of each innermost such loop (so that it
// runs in rounds, one iteration of every thread each), is a resume point:
// values live across one are kept per thread (or recomputed when they only
// depend on thread-invariant inputs and the thread index), and
// each resume point gets a region function that runs all threads from there
// to their next resume point. The C++ dispatcher (block_runtime.h) chains the
// regions and evaluates collectives between them; any control flow around
// barriers works, because regions are cut out of the whole CFG.
#pragma once
#include "runtime/status.h"
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace llvm {
class Module;
} // namespace llvm

namespace cuvirt::cpu::jit {

struct BlockifyOptions {
  /// Kernel name -> KernelInfo::staticSharedBytes (dynamic shared memory
  /// starts at the next 16-byte boundary). Missing = 0.
  std::unordered_map<std::string, std::uint32_t> staticSharedBytes;
  /// Rows of threads run per x-loop iteration when blockDim.y is a multiple
  /// (1 = off). More independent work per vector for 2D blocks.
  unsigned jam = 1;
};

/// Name of kernel `kernel`'s block function.
std::string blockFunctionName(std::string_view kernel);

/// CUVIRT_WARP_LOCKSTEP=1: every global and shared memory access, not only
/// volatile shared ones, is a warp lockstep point (warp-synchronous code
/// through plain memory; slow). Part of the JIT cache key.
bool warpLockstepEverywhere();

/// Rewrites every "cuvirt-kernel" function of `m` into its block function and
/// removes the per-thread ones. Unsupported input: CUDA_ERROR_INVALID_PTX (or
/// CUDA_ERROR_NOT_SUPPORTED) with a line per problem in `log`.
Status blockify(llvm::Module &m, const BlockifyOptions &options, std::string &log);

} // namespace cuvirt::cpu::jit
