// PTX -> LLVM IR in the per-thread form of translate/KERNEL_IR.md, shared by
// every target. This part links LLVM; the rest of translate/ptx does not.
#pragma once
#include "runtime/module_info.h"
#include "runtime/status.h"
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace llvm {
class IRBuilderBase;
class LLVMContext;
class Module;
class Value;
} // namespace llvm

namespace cuvirt::ptx {

/// What differs between targets while lowering; everything else is the same IR.
struct TargetHooks {
  std::string triple;     ///< e.g. the host triple, "amdgcn-amd-amdhsa", "spirv64"
  std::string dataLayout; ///< "" = the module default
  unsigned globalAS = 0, sharedAS = 0, constAS = 0, localAS = 0, genericAS = 0;
  /// syncscope names for .cta / .gpu / .sys ("" = LLVM's default system scope).
  std::string scopeCta, scopeGpu, scopeSys;
  /// Directed rounding (.rz/.rm/.rp) of f32/f64 arithmetic is a call to a
  /// small out-of-line strictfp function holding a constrained intrinsic with
  /// static rounding metadata, so plain .rn code never turns strictfp. True:
  /// that function also switches the dynamic rounding mode around the
  /// operation (llvm.get/set.rounding), for targets whose instructions follow
  /// a rounding-mode register (the CPU's MXCSR); false: the target honours
  /// the static rounding of constrained intrinsics itself.
  bool switchRoundingMode = true;
  /// Optional: the target's own instruction for an f32/f64 `op` ("fadd",
  /// "fsub", "fmul", "fdiv", "fma", "sqrt") with static rounding `mode`
  /// (1 toward zero, 2 down, 3 up), e.g. AVX-512's embedded rounding; nullptr
  /// = use the helper above.
  std::function<llvm::Value *(llvm::IRBuilderBase &b, std::string_view op, int mode, llvm::Value *const *args,
                              unsigned count)>
      directedOp;
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
