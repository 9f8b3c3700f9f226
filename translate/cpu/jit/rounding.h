// Directed rounding (.rz/.rm/.rp) on the host CPU: with AVX-512, each f32/f64
// operation is one instruction with embedded (static) rounding, leaving MXCSR
// alone; without it the PTX front end's mode-switching helpers are used.
#pragma once
#ifdef CUVIRT_HAVE_PTX_LOWER
#include "translate/ptx/lower.h"

namespace llvm {
class TargetMachine;
} // namespace llvm

namespace cuvirt::cpu::jit {

/// TargetHooks::directedOp for `tm`'s CPU (empty without AVX-512F).
decltype(ptx::TargetHooks::directedOp) hostDirectedRounding(const llvm::TargetMachine &tm);

/// The PTX front end's hooks for `tm`'s CPU: triple, data layout, rounding.
ptx::TargetHooks hostTargetHooks(const llvm::TargetMachine &tm);

} // namespace cuvirt::cpu::jit
#endif
