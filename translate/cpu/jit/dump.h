// Debugging aid for the cuvirt-ptx tool: the CPU JIT's intermediate forms as
// text, from PTX or from per-thread kernel IR.
#pragma once
#include "runtime/module_info.h"
#include "runtime/status.h"
#include <string>
#include <string_view>

namespace cuvirt::cpu::jit {

enum class DumpStage {
  ThreadIR,    ///< the per-thread IR (KERNEL_IR.md) as the front end made it
  BlockIR,     ///< after block-ification, before optimisation
  OptimizedIR, ///< after the O3 pipeline for the host CPU
  Assembly,    ///< host assembly
};

/// PTX -> the text of `stage`. Errors as compilePtx, with `log`.
Expected<std::string> dumpPtx(std::string_view ptx, DumpStage stage, std::string &log);

/// Per-thread kernel IR (LLVM assembly) -> the text of `stage`; `info` gives
/// the kernels' static shared sizes.
Expected<std::string> dumpIr(std::string_view ir, const ModuleInfo &info, DumpStage stage, std::string &log);

} // namespace cuvirt::cpu::jit
