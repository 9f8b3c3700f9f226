// Internal state of lower(): one ModuleLowering per PTX module, one
// FunctionLowering per function body. The instruction families live in
// lower_*.cpp; each handles the opcodes it knows and returns Handled::No for
// the rest.
#pragma once
#include "translate/ptx/analysis.h"
#include "translate/ptx/lower.h"
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <string>
#include <unordered_map>
#include <vector>

namespace cuvirt::ptx::lowering {

/// The value of an Expected or an early return of its Status.
#define PTX_GET(var, expr)                                                                                   \
  auto var##_e_ = (expr);                                                                                    \
  if (!var##_e_)                                                                                             \
    return var##_e_.status();                                                                                \
  auto var = *var##_e_

struct ModuleLowering {
  llvm::LLVMContext &ctx;
  llvm::Module &mod;
  const TargetHooks &hooks;
  const Module &ast;
  const ModuleFacts &facts;
  std::string &log;
  std::unordered_map<std::string, llvm::GlobalVariable *> globals; ///< .global/.const
  std::unordered_map<std::string, const VarDecl *> moduleVars;     ///< every module variable
  std::unordered_map<std::string, llvm::Function *> functions;

  llvm::FunctionCallee runtime(llvm::StringRef name, llvm::Type *ret, llvm::ArrayRef<llvm::Type *> args);
  llvm::FunctionType *functionType(const std::vector<VarDecl> &rets, const std::vector<VarDecl> &params);
  unsigned addressSpace(Space s) const;
};

/// What a name in a function body refers to.
struct Symbol {
  enum class Kind { Reg, Local, Param, KernelParam, Shared, DynShared, Global, Function } kind = Kind::Reg;
  llvm::Value *ptr = nullptr; ///< alloca, global, function, or the kernel parameter's pointer
  Type type = Type::None;
  std::uint32_t sharedOffset = 0;
  const VarDecl *decl = nullptr;
};

enum class Handled { No, Yes };

class FunctionLowering {
public:
  FunctionLowering(ModuleLowering &m, const Function &f, std::size_t index, llvm::Function *fn);
  Status run();

  // --- shared by the instruction families ---
  ModuleLowering &M;
  const Function &F;
  std::size_t index;
  llvm::Function *fn;
  llvm::IRBuilder<> B;
  llvm::LLVMContext &ctx;

  Status err(SrcLoc loc, std::string_view msg);
  /// LLVM type of a value of PTX type `t` (f16 as half, f16x2 as <2 x half>, ...)
  llvm::Type *valueType(Type t);
  /// LLVM type of a register declared with `t` (integers for the packed/half types)
  llvm::Type *storageType(Type t);
  llvm::Type *intTy(unsigned bits) { return llvm::Type::getIntNTy(ctx, bits); }
  llvm::Type *i32() { return B.getInt32Ty(); }
  /// Reinterprets or resizes `v` to `to` (bit casts, then trunc or sign/zero extension).
  llvm::Value *coerce(llvm::Value *v, llvm::Type *to, bool signExtend);

  Expected<Symbol> lookup(const std::string &name, SrcLoc loc);
  Expected<llvm::Value *> get(const Operand &o, Type t);
  Status set(const Operand &o, llvm::Value *v, Type t);
  Status setReg(const std::string &name, SrcLoc loc, llvm::Value *v, Type t);
  /// The integer address of a variable or function as a state-space address.
  Expected<llvm::Value *> symbolAddress(const Symbol &s, SrcLoc loc);
  /// A pointer for memory operand `o` in state space `sp`.
  Expected<llvm::Value *> address(const Operand &o, Space sp);
  llvm::Value *sharedBase();
  llvm::Value *dynSharedBase();
  llvm::Value *call(llvm::StringRef name, llvm::Type *ret, llvm::ArrayRef<llvm::Value *> args);
  llvm::AllocaInst *makeSlot(llvm::Type *t, unsigned align, const llvm::Twine &name);
  llvm::Value *carry(); ///< the .cc carry flag slot (i1)

  // --- instruction families (lower_*.cpp) ---
  Expected<Handled> lowerInteger(const Instr &in);
  Expected<Handled> lowerFloat(const Instr &in);
  Expected<Handled> lowerCompare(const Instr &in);
  Expected<Handled> lowerConvert(const Instr &in);
  Expected<Handled> lowerMemory(const Instr &in);
  Expected<Handled> lowerBulkCopy(const Instr &in); ///< cp.async.bulk, called by lowerMemory
  Expected<Handled> lowerIsSpace(const Instr &in);
  Expected<Handled> lowerAtomic(const Instr &in);
  Expected<Handled> lowerControl(const Instr &in);
  Expected<Handled> lowerParallel(const Instr &in);
  Expected<Handled> lowerMbarrier(const Instr &in); ///< called by lowerParallel
  Expected<Handled> lowerTexture(const Instr &in);  ///< called by lowerParallel
  llvm::Value *specialRegister(const std::string &name, bool &known);

  // --- rounding (lower_float.cpp), shared with cvt ---
  enum class Rounding { Nearest, Zero, Down, Up };
  /// The .rn/.rz/.rm/.rp modifier of `in` (Nearest if none).
  static Rounding rounding(const Instr &in);
  /// f32/f64 `op` ("fadd", "fsub", "fmul", "fdiv", "fma", "sqrt") rounded as
  /// `r` (not Nearest): a call to an out-of-line strictfp helper.
  llvm::Value *roundedOp(llvm::StringRef op, Rounding r, llvm::ArrayRef<llvm::Value *> args);
  /// (-1)^neg * mag * 2^exp (i1, i64, i32) rounded exactly to the float type
  /// `to` in mode `r`, with integer arithmetic (denormals, overflow included).
  llvm::Value *roundToFloat(llvm::Value *neg, llvm::Value *mag, llvm::Value *exp, llvm::Type *to, Rounding r);
  /// Float narrowing (f64->f32, f32->f16/bf16, ...) in mode `r`, exactly;
  /// NaN becomes the canonical NaN.
  llvm::Value *narrowFloat(llvm::Value *v, llvm::Type *to, Rounding r);

  /// Types written in the instruction's modifiers, in order (".s32" ...).
  static std::vector<Type> types(const Instr &in);
  static Space space(const Instr &in); ///< the state-space modifier, Generic if none
  llvm::AtomicOrdering ordering(const Instr &in, llvm::AtomicOrdering dflt);
  llvm::SyncScope::ID scope(const Instr &in);

  // control flow
  llvm::BasicBlock *labelBlock(const std::string &name);
  std::unordered_map<std::string, llvm::BasicBlock *> labels;
  std::unordered_map<std::string, const BranchTargets *> branchTables;
  std::unordered_map<std::string, const CallPrototype *> prototypes;
  std::vector<llvm::AllocaInst *> retSlots; ///< .func return parameters
  void ensureInsertable();                  ///< after a terminator, continue in a fresh (dead) block
  Status emitReturn();

private:
  struct RegRange {
    Type type;
    unsigned count;
  };
  std::vector<std::unordered_map<std::string, Symbol>> scopes_;
  std::unordered_map<std::string, RegRange> ranges_; ///< %r<N> declarations (function scope)
  std::unordered_map<std::string, Symbol> rangeRegs_;
  llvm::BasicBlock *allocaBlock_ = nullptr;
  llvm::Value *kernelParams_ = nullptr;
  llvm::AllocaInst *carry_ = nullptr;
  llvm::Value *sharedBase_ = nullptr, *dynSharedBase_ = nullptr;
  Status declare(const VarDecl &v);
  Status lowerStmt(const Instr &in);
};

} // namespace cuvirt::ptx::lowering
