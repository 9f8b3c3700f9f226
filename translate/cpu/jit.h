// PTX -> host code, through LLVM ORC. The backend compiles each kernel of a
// module at its first use (lazyPtxModule); compiled code is cached on disk
// per kernel by image hash, kernel, compiler version and host CPU.
#pragma once
#include "runtime/module_info.h"
#include "runtime/status.h"
#include "translate/cpu/kernel_abi.h"
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace cuvirt::cpu {

class CompiledModule {
public:
  virtual ~CompiledModule() = default;
  /// The block function of kernel `name` (mangled), or nullptr.
  [[nodiscard]] virtual BlockFn kernel(std::string_view name) const = 0;
};

struct CompileOptions {
  /// Addresses of the module's .global/.const variables (name -> address),
  /// allocated and initialised by the runtime before compilation.
  std::unordered_map<std::string, std::uint64_t> globals;
  std::string cacheDir; ///< "" = no disk cache
};

/// A module whose kernels are compiled one at a time, at first use: only the
/// kernel and what it reaches (its functions; module variables are bound to
/// the runtime's addresses, so every kernel sees the same ones) is lowered,
/// block-ified, optimised and compiled, and the object is cached on disk per
/// kernel. The PTX was checked when the module was loaded (ptx::moduleInfo).
class LazyModule {
public:
  virtual ~LazyModule() = default;
  /// Kernel `name`'s block function, compiled or loaded from the disk cache
  /// on the first call. Thread-safe; different kernels compile concurrently.
  /// Errors: CUDA_ERROR_NOT_FOUND (no such kernel), CUDA_ERROR_INVALID_PTX
  /// (with "line:column: message" lines in `log`), remembered for later calls.
  virtual Expected<BlockFn> kernel(const std::string &name, std::string &log) = 0;
  /// Compiles (or loads from the disk cache) the device functions `names`,
  /// whose addresses module variables hold, and returns their addresses (0
  /// for a name that is not a device function of the module). Called once,
  /// at load, before any kernel: kernels compiled after it take these
  /// functions' addresses too, so one function has one address.
  virtual Expected<std::unordered_map<std::string, std::uint64_t>>
  functionAddresses(const std::vector<std::string> &names, std::string &log) = 0;
};

/// `info` gives the kernels' static shared sizes (the whole module's layout).
std::unique_ptr<LazyModule> lazyPtxModule(std::string ptx, const ModuleInfo &info, CompileOptions options);

/// Compiles a whole PTX module now. On malformed PTX: CUDA_ERROR_INVALID_PTX and
/// "line:column: message" lines in `log`.
Expected<std::unique_ptr<CompiledModule>> compilePtx(std::string_view ptx, const CompileOptions &options,
                                                     std::string &log);

} // namespace cuvirt::cpu
