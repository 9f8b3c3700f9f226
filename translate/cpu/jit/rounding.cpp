// Directed rounding with AVX-512 embedded rounding: see rounding.h.
#include "translate/cpu/jit/rounding.h"
#ifdef CUVIRT_HAVE_PTX_LOWER
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/IntrinsicsX86.h>
#include <llvm/Target/TargetMachine.h>

namespace cuvirt::cpu::jit {

using namespace llvm;

namespace {
Value *embeddedRounding(IRBuilderBase &b, std::string_view op, int mode, Value *const *args, unsigned count) {
  Type *t = args[0]->getType();
  if ((!t->isFloatTy() && !t->isDoubleTy()) || count == 0)
    return nullptr;
  const bool f32 = t->isFloatTy();
  // _MM_FROUND_TO_ZERO / TO_NEG_INF / TO_POS_INF, with exceptions suppressed
  Value *imm = b.getInt32((mode == 1 ? 3 : mode == 2 ? 1 : 2) | 8);
  Module *m = b.GetInsertBlock()->getModule();
  if (op == "fma" && count == 3)
    return b.CreateCall(Intrinsic::getOrInsertDeclaration(m, f32 ? Intrinsic::x86_avx512_vfmadd_f32
                                                                 : Intrinsic::x86_avx512_vfmadd_f64),
                        {args[0], args[1], args[2], imm});
  Intrinsic::ID id;
  if (op == "fadd")
    id = f32 ? Intrinsic::x86_avx512_mask_add_ss_round : Intrinsic::x86_avx512_mask_add_sd_round;
  else if (op == "fsub")
    id = f32 ? Intrinsic::x86_avx512_mask_sub_ss_round : Intrinsic::x86_avx512_mask_sub_sd_round;
  else if (op == "fmul")
    id = f32 ? Intrinsic::x86_avx512_mask_mul_ss_round : Intrinsic::x86_avx512_mask_mul_sd_round;
  else if (op == "fdiv")
    id = f32 ? Intrinsic::x86_avx512_mask_div_ss_round : Intrinsic::x86_avx512_mask_div_sd_round;
  else if (op == "sqrt")
    id = f32 ? Intrinsic::x86_avx512_mask_sqrt_ss : Intrinsic::x86_avx512_mask_sqrt_sd;
  else
    return nullptr;
  // scalar forms: lane 0 of (a, b, passthrough, mask, rounding)
  auto *vt = FixedVectorType::get(t, f32 ? 4 : 2);
  auto lane0 = [&](Value *x) { return b.CreateInsertElement(Constant::getNullValue(vt), x, uint64_t(0)); };
  Value *a = lane0(args[0]), *c = op == "sqrt" ? a : lane0(args[count > 1 ? 1 : 0]);
  Value *v = b.CreateCall(Intrinsic::getOrInsertDeclaration(m, id),
                          {a, c, Constant::getNullValue(vt), b.getInt8(0xff), imm});
  return b.CreateExtractElement(v, uint64_t(0));
}
} // namespace

decltype(ptx::TargetHooks::directedOp) hostDirectedRounding(const TargetMachine &tm) {
  if (!tm.getTargetTriple().isX86() || tm.getTargetFeatureString().find("+avx512f") == StringRef::npos)
    return nullptr;
  return embeddedRounding;
}

ptx::TargetHooks hostTargetHooks(const TargetMachine &tm) {
  ptx::TargetHooks hooks;
  hooks.triple = tm.getTargetTriple().str();
  hooks.dataLayout = tm.createDataLayout().getStringRepresentation();
  hooks.directedOp = hostDirectedRounding(tm);
  return hooks;
}

} // namespace cuvirt::cpu::jit
#endif
