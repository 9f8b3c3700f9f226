// PTX -> host code, through LLVM ORC. The backend asks for a module once per
// load; compiled code is cached on disk by image hash, compiler version and
// host CPU.
#pragma once
#include "runtime/status.h"
#include "translate/cpu/kernel_abi.h"
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

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

/// Compiles a PTX module. On malformed PTX: CUDA_ERROR_INVALID_PTX and
/// "line:column: message" lines in `log`.
Expected<std::unique_ptr<CompiledModule>> compilePtx(std::string_view ptx, const CompileOptions &options,
                                                     std::string &log);

} // namespace cuvirt::cpu
