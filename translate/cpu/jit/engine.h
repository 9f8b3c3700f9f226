// The CPU JIT engine behind cuvirt::cpu::compilePtx (translate/cpu/jit.h):
// per-thread kernel IR -> blockify -> O3 for the host CPU -> object file
// (cached on disk) -> ORC LLJIT. Also the entry points the tests and the
// dump tool use to start from LLVM IR instead of PTX.
#pragma once
#include "runtime/module_info.h"
#include "runtime/status.h"
#include "translate/cpu/jit.h"
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llvm {
class LLVMContext;
class Module;
class TargetMachine;
} // namespace llvm

namespace cuvirt::cpu::jit {

/// Process-wide counters (tests check cache behaviour with these, not timing).
struct JitStats {
  std::uint64_t cacheHits = 0;       ///< modules loaded from the disk cache
  std::uint64_t cacheMisses = 0;     ///< modules compiled (cache enabled but no entry)
  std::uint64_t codegens = 0;        ///< modules optimised and compiled by LLVM
  double lastCompileMs = 0;          ///< the last optimise+codegen+link, milliseconds
  double lastCacheLoadMs = 0;        ///< the last cache hit (read+link), milliseconds
  std::uint64_t kernelsCompiled = 0; ///< kernels of lazy modules compiled (lowered..codegen)
  std::uint64_t kernelsCached = 0;   ///< kernels of lazy modules loaded from the disk cache
  std::uint64_t lightTier = 0;       ///< kernels compiled with the light pipeline (huge ones)
};
JitStats jitStats();

/// Compiles a module of per-thread kernel IR given as LLVM assembly (the
/// tests' and tools' way in). `info` gives each kernel's staticSharedBytes.
Expected<std::unique_ptr<CompiledModule>> compileIr(std::string_view ir, const ModuleInfo &info,
                                                    const CompileOptions &options, std::string &log);

/// Compiles an already lowered per-thread module; `cacheSource` is the text
/// the disk cache key is made of ("" = do not cache).
Expected<std::unique_ptr<CompiledModule>> compileModule(std::unique_ptr<llvm::LLVMContext> context,
                                                        std::unique_ptr<llvm::Module> module,
                                                        const ModuleInfo &info, std::string_view cacheSource,
                                                        const CompileOptions &options, std::string &log);

// The stages, shared with dump.cpp.
Expected<std::unique_ptr<llvm::TargetMachine>> hostTargetMachine();
Status blockifyForHost(llvm::Module &m, llvm::TargetMachine &tm, const ModuleInfo &info, std::string &log);
/// Integer address arithmetic on kernel parameters as pointer arithmetic.
void rebaseParamAddresses(llvm::Module &m);
/// How hard LLVM works. Full: O3 and aggressive instruction selection.
/// Light, for huge block-ified kernels (CUB's reductions make ~60k
/// instructions, where Full takes 10+ s): SROA, EarlyCSE, InstCombine,
/// SimplifyCFG and default (not aggressive) codegen.
enum class OptTier { Full, Light };
/// The tier for a block-ified module of `instructions` instructions.
OptTier tierFor(std::uint64_t instructions);
void optimizeForHost(llvm::Module &m, llvm::TargetMachine &tm, OptTier tier = OptTier::Full);
Expected<std::vector<char>> emitForHost(llvm::Module &m, llvm::TargetMachine &tm, bool assembly,
                                        OptTier tier = OptTier::Full);

} // namespace cuvirt::cpu::jit
