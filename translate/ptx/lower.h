// PTX -> LLVM IR in the per-thread form of translate/KERNEL_IR.md, shared by
// every target. This part links LLVM; the rest of translate/ptx does not.
#pragma once
#include "runtime/module_info.h"
#include "runtime/status.h"
#include <memory>
#include <string>
#include <string_view>

namespace llvm {
class LLVMContext;
class Module;
} // namespace llvm

namespace cuvirt::ptx {

/// What differs between targets while lowering; everything else is the same IR.
struct TargetHooks {
  std::string triple;     ///< e.g. the host triple, "amdgcn-amd-amdhsa", "spirv64"
  std::string dataLayout; ///< "" = the module default
  unsigned globalAS = 0, sharedAS = 0, constAS = 0, localAS = 0, genericAS = 0;
  /// syncscope names for .cta / .gpu / .sys ("" = LLVM's default system scope).
  std::string scopeCta, scopeGpu, scopeSys;
};

struct Lowered {
  std::unique_ptr<llvm::Module> module;
  ModuleInfo info; ///< kernels (with shared layout), globals
};

/// Parses, checks and lowers a PTX module. Malformed or unsupported PTX:
/// CUDA_ERROR_INVALID_PTX with "line:column: message" lines in `log`.
Expected<Lowered> lower(std::string_view ptx, llvm::LLVMContext &context, const TargetHooks &hooks,
                        std::string &log);

} // namespace cuvirt::ptx
