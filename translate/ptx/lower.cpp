// lower(): module setup (globals, function signatures) and the per-function
// driver: declarations, registers as allocas, labels as blocks, guards.
#include "translate/ptx/lower_context.h"
#include "translate/ptx/parser.h"
#include <fmt/format.h>
#include <llvm/IR/Dominators.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/Utils/PromoteMemToReg.h>

namespace cuvirt::ptx {
namespace lowering {

using namespace llvm;

FunctionCallee ModuleLowering::runtime(StringRef name, llvm::Type *ret, ArrayRef<llvm::Type *> args) {
  return mod.getOrInsertFunction(name, FunctionType::get(ret, args, false));
}

unsigned ModuleLowering::addressSpace(Space s) const {
  switch (s) {
  case Space::Global:
    return hooks.globalAS;
  case Space::Shared:
    return hooks.sharedAS;
  case Space::Const:
    return hooks.constAS;
  case Space::Local:
    return hooks.localAS;
  default:
    return hooks.genericAS;
  }
}

static llvm::Type *paramType(LLVMContext &ctx, const VarDecl &p) {
  if (p.isArray || p.vec > 1)
    return ArrayType::get(llvm::Type::getInt8Ty(ctx), p.size());
  switch (p.type) {
  case Type::F32:
    return llvm::Type::getFloatTy(ctx);
  case Type::F64:
    return llvm::Type::getDoubleTy(ctx);
  case Type::Pred:
    return llvm::Type::getInt1Ty(ctx);
  default:
    return llvm::Type::getIntNTy(ctx, typeSize(p.type) * 8);
  }
}

FunctionType *ModuleLowering::functionType(const std::vector<VarDecl> &rets,
                                           const std::vector<VarDecl> &params) {
  std::vector<llvm::Type *> args;
  for (auto &p : params)
    args.push_back(paramType(ctx, p));
  llvm::Type *ret = llvm::Type::getVoidTy(ctx);
  if (rets.size() == 1) {
    ret = paramType(ctx, rets[0]);
  } else if (rets.size() > 1) {
    std::vector<llvm::Type *> fields;
    for (auto &r : rets)
      fields.push_back(paramType(ctx, r));
    ret = StructType::get(ctx, fields);
  }
  return FunctionType::get(ret, args, false);
}

FunctionLowering::FunctionLowering(ModuleLowering &m, const Function &f, std::size_t index,
                                   llvm::Function *fn)
    : M(m), F(f), index(index), fn(fn), B(m.ctx), ctx(m.ctx) {}

Status FunctionLowering::err(SrcLoc loc, std::string_view msg) { return invalidPtx(M.log, loc, msg); }

llvm::Type *FunctionLowering::valueType(Type t) {
  switch (t) {
  case Type::Pred:
    return B.getInt1Ty();
  case Type::F16:
    return B.getHalfTy();
  case Type::BF16:
    return B.getBFloatTy();
  case Type::F16x2:
    return FixedVectorType::get(B.getHalfTy(), 2);
  case Type::BF16x2:
    return FixedVectorType::get(B.getBFloatTy(), 2);
  case Type::F32:
    return B.getFloatTy();
  case Type::F64:
    return B.getDoubleTy();
  default:
    return intTy(typeSize(t) * 8);
  }
}

llvm::Type *FunctionLowering::storageType(Type t) {
  switch (t) {
  case Type::Pred:
    return B.getInt1Ty();
  case Type::F32:
    return B.getFloatTy();
  case Type::F64:
    return B.getDoubleTy();
  default:
    return intTy(typeSize(t) * 8);
  }
}

Value *FunctionLowering::coerce(Value *v, llvm::Type *to, bool signExtend) {
  llvm::Type *from = v->getType();
  if (from == to)
    return v;
  if (to->isPointerTy() || from->isPointerTy()) {
    if (from->isPointerTy() && to->isPointerTy())
      return B.CreateAddrSpaceCast(v, to);
    if (from->isPointerTy())
      v = B.CreatePtrToInt(v, B.getInt64Ty());
    if (to->isPointerTy())
      return B.CreateIntToPtr(coerce(v, B.getInt64Ty(), false), to);
    return coerce(v, to, signExtend);
  }
  if (to->isIntegerTy(1)) {
    Value *i = coerce(v, intTy(from->getPrimitiveSizeInBits()), false);
    return B.CreateICmpNE(i, ConstantInt::get(i->getType(), 0));
  }
  if (from->isIntegerTy(1))
    v = B.CreateZExt(v, B.getInt8Ty()), from = v->getType();
  unsigned fb = from->getPrimitiveSizeInBits(), tb = to->getPrimitiveSizeInBits();
  if (!from->isIntegerTy())
    v = B.CreateBitCast(v, intTy(fb));
  if (fb < tb)
    v = signExtend ? B.CreateSExt(v, intTy(tb)) : B.CreateZExt(v, intTy(tb));
  else if (fb > tb)
    v = B.CreateTrunc(v, intTy(tb));
  if (!to->isIntegerTy())
    v = B.CreateBitCast(v, to);
  return v;
}

AllocaInst *FunctionLowering::makeSlot(llvm::Type *t, unsigned align, const Twine &name) {
  IRBuilder<> ab(allocaBlock_, allocaBlock_->begin());
  auto *a = ab.CreateAlloca(t, M.mod.getDataLayout().getAllocaAddrSpace(), nullptr, name);
  a->setAlignment(Align(std::max(1u, align)));
  return a;
}

Value *FunctionLowering::call(StringRef name, llvm::Type *ret, ArrayRef<Value *> args) {
  std::vector<llvm::Type *> tys;
  for (auto *a : args)
    tys.push_back(a->getType());
  return B.CreateCall(M.runtime(name, ret, tys), args);
}

// Fetched once, in the entry block, on first use: fixed for the whole thread.
Value *FunctionLowering::sharedBase() {
  if (!sharedBase_) {
    IRBuilder<> ab(allocaBlock_);
    auto *pt = PointerType::get(ctx, M.hooks.sharedAS);
    sharedBase_ = ab.CreateCall(M.runtime("cuvirt.shared.base", pt, {}), {}, "shared");
  }
  return sharedBase_;
}
Value *FunctionLowering::dynSharedBase() {
  if (!dynSharedBase_) {
    IRBuilder<> ab(allocaBlock_);
    auto *pt = PointerType::get(ctx, M.hooks.sharedAS);
    dynSharedBase_ = ab.CreateCall(M.runtime("cuvirt.dynshared.base", pt, {}), {}, "dynshared");
  }
  return dynSharedBase_;
}

Value *FunctionLowering::carry() {
  if (!carry_) {
    carry_ = makeSlot(B.getInt1Ty(), 1, "cc");
    IRBuilder<> ab(allocaBlock_); // appended before the final branch to the body
    ab.CreateStore(ab.getFalse(), carry_);
  }
  return carry_;
}

Status FunctionLowering::declare(const VarDecl &v) {
  auto &scope = scopes_.back();
  Symbol s;
  s.decl = &v;
  s.type = v.type;
  switch (v.space) {
  case Space::Reg:
    if (v.vec > 1)
      return err(v.loc, "vector registers are not supported");
    if (v.rangeCount) {
      if (scopes_.size() == 1) {
        ranges_[v.name] = {v.type, v.rangeCount};
        return Status::success();
      }
      for (unsigned i = 0; i < v.rangeCount; ++i) {
        Symbol r = s;
        r.ptr = makeSlot(storageType(v.type), typeSize(v.type), v.name + std::to_string(i));
        scope[v.name + std::to_string(i)] = r;
      }
      return Status::success();
    }
    s.kind = Symbol::Kind::Reg;
    s.ptr = makeSlot(storageType(v.type), typeSize(v.type), v.name);
    break;
  case Space::Local:
  case Space::Param: {
    if (v.count() == 0)
      return err(v.loc, fmt::format("'{}' has no size", v.name));
    if (v.size() > (std::uint64_t(1) << 24)) // per-thread stack: 16 MiB is already absurd
      return err(v.loc, fmt::format("'{}' is too large for per-thread memory", v.name));
    s.kind = v.space == Space::Local ? Symbol::Kind::Local : Symbol::Kind::Param;
    auto *t =
        v.isArray || v.vec > 1 ? (llvm::Type *)ArrayType::get(B.getInt8Ty(), v.size()) : storageType(v.type);
    s.ptr = makeSlot(t, v.alignment(), v.name);
    break;
  }
  case Space::Shared:
    if (v.isExtern) {
      s.kind = Symbol::Kind::DynShared;
    } else {
      s.kind = Symbol::Kind::Shared;
      auto &offs = M.facts.shared.offsets[index];
      auto it = offs.find(v.name);
      s.sharedOffset = it == offs.end() ? 0 : it->second; // unreferenced: never used
    }
    break;
  default:
    return err(v.loc,
               fmt::format("'{}': variables of this state space are not supported in functions", v.name));
  }
  scope[v.name] = s;
  return Status::success();
}

Expected<Symbol> FunctionLowering::lookup(const std::string &name, SrcLoc loc) {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
    if (auto f = it->find(name); f != it->end())
      return f->second;
  if (auto f = rangeRegs_.find(name); f != rangeRegs_.end())
    return f->second;
  // %r17 from .reg .b32 %r<20>
  std::size_t d = name.size();
  while (d > 0 && name[d - 1] >= '0' && name[d - 1] <= '9')
    --d;
  if (d < name.size() && d > 0 && (name[d] != '0' || d + 1 == name.size())) {
    if (auto r = ranges_.find(name.substr(0, d)); r != ranges_.end()) {
      unsigned long idx = std::stoul(name.substr(d, 9));
      if (name.size() - d <= 9 && idx < r->second.count) {
        Symbol s;
        s.kind = Symbol::Kind::Reg;
        s.type = r->second.type;
        s.ptr = makeSlot(storageType(s.type), typeSize(s.type), name);
        rangeRegs_[name] = s;
        return s;
      }
    }
  }
  if (auto g = M.moduleVars.find(name); g != M.moduleVars.end()) {
    Symbol s;
    s.decl = g->second;
    s.type = g->second->type;
    if (g->second->space == Space::Shared) {
      if (g->second->isExtern) {
        s.kind = Symbol::Kind::DynShared;
      } else {
        s.kind = Symbol::Kind::Shared;
        auto &offs = M.facts.shared.offsets[index];
        auto it = offs.find(name);
        if (it == offs.end())
          return err(loc, fmt::format("internal: no shared offset for '{}'", name));
        s.sharedOffset = it->second;
      }
      return s;
    }
    if (auto gv = M.globals.find(name); gv != M.globals.end()) {
      s.kind = Symbol::Kind::Global;
      s.ptr = gv->second;
      return s;
    }
  }
  if (auto f = M.functions.find(name); f != M.functions.end()) {
    Symbol s;
    s.kind = Symbol::Kind::Function;
    s.ptr = f->second;
    return s;
  }
  return err(loc, fmt::format("undefined identifier '{}'", name));
}

Expected<Value *> FunctionLowering::symbolAddress(const Symbol &s, SrcLoc loc) {
  switch (s.kind) {
  case Symbol::Kind::Shared:
    return (Value *)B.getInt64(s.sharedOffset);
  case Symbol::Kind::DynShared:
    return B.CreateSub(B.CreatePtrToInt(dynSharedBase(), B.getInt64Ty()),
                       B.CreatePtrToInt(sharedBase(), B.getInt64Ty()));
  case Symbol::Kind::Reg:
    return err(loc, "a register has no address");
  case Symbol::Kind::Function:
    // A kernel's address (device-side launches, cudaFuncGetAttributes in
    // device code): its name, NUL-terminated, which the target's device
    // runtime resolves. A kernel is not callable, so nothing else reads it.
    if (auto *fn = dyn_cast<llvm::Function>(s.ptr); fn && fn->hasFnAttribute("cuvirt-kernel")) {
      std::string var = "cuvirt.kernel." + fn->getName().str();
      auto *gv = M.mod.getNamedGlobal(var);
      if (gv == nullptr) {
        Constant *text = ConstantDataArray::getString(ctx, fn->getName());
        gv = new GlobalVariable(M.mod, text->getType(), true, GlobalValue::PrivateLinkage, text, var);
      }
      return B.CreatePtrToInt(gv, B.getInt64Ty());
    }
    return B.CreatePtrToInt(s.ptr, B.getInt64Ty());
  default:
    return B.CreatePtrToInt(s.ptr, B.getInt64Ty());
  }
}

Expected<Value *> FunctionLowering::get(const Operand &o, Type t) {
  llvm::Type *ty = valueType(t);
  switch (o.kind) {
  case Operand::Kind::Int: {
    if (ty->isFPOrFPVectorTy()) {
      Value *c = B.CreateFPCast(ConstantFP::get(B.getDoubleTy(), double(o.imm)), ty->getScalarType());
      return ty->isVectorTy() ? B.CreateVectorSplat(2, c) : c;
    }
    if (t == Type::Pred)
      return (Value *)B.getInt1(o.imm != 0);
    // immediates wider than the type are truncated, as ptxas does
    return (Value *)ConstantInt::get(ty, APInt(ty->getIntegerBitWidth(), std::uint64_t(o.imm), false, true));
  }
  case Operand::Kind::Float: {
    Value *c;
    if (o.floatIsDouble)
      c = ConstantFP::get(B.getDoubleTy(), APFloat(APFloat::IEEEdouble(), APInt(64, std::uint64_t(o.imm))));
    else
      c = ConstantFP::get(B.getFloatTy(),
                          APFloat(APFloat::IEEEsingle(), APInt(32, std::uint64_t(o.imm) & 0xFFFFFFFF)));
    if (ty->isFloatingPointTy())
      return ty == c->getType() ? c : B.CreateFPCast(c, ty);
    if (ty->isVectorTy())
      return B.CreateVectorSplat(2, B.CreateFPCast(c, cast<VectorType>(ty)->getElementType()));
    return coerce(c, ty, false);
  }
  case Operand::Kind::Reg: {
    bool known = false;
    if (!o.name.empty() && o.name[0] == '%') {
      // declared registers shadow special registers
      bool declared = false;
      for (auto &sc : scopes_)
        declared |= sc.count(o.name) > 0;
      if (!declared && !rangeRegs_.count(o.name)) {
        std::size_t d = o.name.size();
        while (d > 0 && o.name[d - 1] >= '0' && o.name[d - 1] <= '9')
          --d;
        declared = ranges_.count(o.name.substr(0, d)) > 0 && d < o.name.size();
      }
      if (!declared) {
        Value *v = specialRegister(o.name, known);
        if (known) {
          v = coerce(v, ty, false);
          return o.negated ? B.CreateNot(v) : v;
        }
      }
    }
    PTX_GET(s, lookup(o.name, o.loc));
    Value *v;
    if (s.kind == Symbol::Kind::Reg) {
      v = B.CreateLoad(storageType(s.type), s.ptr);
      v = coerce(v, ty, isSigned(t));
    } else {
      PTX_GET(a, symbolAddress(s, o.loc));
      if (o.imm)
        a = B.CreateAdd(a, B.getInt64(std::uint64_t(o.imm)));
      v = coerce(a, ty, false);
    }
    if (o.negated)
      v = B.CreateNot(v);
    return v;
  }
  case Operand::Kind::Vec: {
    // {a, b} as one wider value: element 0 in the low bits
    unsigned n = unsigned(o.elems.size());
    unsigned bits = ty->getPrimitiveSizeInBits();
    if (n == 0 || bits % n)
      return err(o.loc, "vector operand does not match the instruction type");
    unsigned eb = bits / n;
    if (eb != 8 && eb != 16 && eb != 32 && eb != 64)
      return err(o.loc, "vector operand elements must be 8, 16, 32 or 64 bits");
    Value *acc = ConstantInt::get(intTy(bits), 0);
    for (unsigned i = 0; i < n; ++i) {
      Type et = eb == 8 ? Type::B8 : eb == 16 ? Type::B16 : eb == 32 ? Type::B32 : Type::B64;
      if (o.elems[i].kind == Operand::Kind::Sink)
        continue;
      PTX_GET(e, get(o.elems[i], et));
      acc = B.CreateOr(acc, B.CreateShl(B.CreateZExt(e, intTy(bits)), std::uint64_t(eb) * i));
    }
    return coerce(acc, ty, false);
  }
  case Operand::Kind::Sink:
    return (Value *)UndefValue::get(ty);
  default:
    return err(o.loc, "unexpected operand");
  }
}

Status FunctionLowering::setReg(const std::string &name, SrcLoc loc, Value *v, Type t) {
  PTX_GET(s, lookup(name, loc));
  if (s.kind != Symbol::Kind::Reg)
    return err(loc, fmt::format("'{}' is not a register", name));
  B.CreateStore(coerce(v, storageType(s.type), isSigned(t)), s.ptr);
  return Status::success();
}

Status FunctionLowering::set(const Operand &o, Value *v, Type t) {
  switch (o.kind) {
  case Operand::Kind::Sink:
    return Status::success();
  case Operand::Kind::Reg:
    return setReg(o.name, o.loc, v, t);
  case Operand::Kind::Vec: {
    unsigned n = unsigned(o.elems.size());
    unsigned bits = v->getType()->getPrimitiveSizeInBits();
    if (n == 0 || bits % n)
      return err(o.loc, "vector operand does not match the instruction type");
    unsigned eb = bits / n;
    if (n > 1 && eb != 8 && eb != 16 && eb != 32 && eb != 64)
      return err(o.loc, "vector operand elements must be 8, 16, 32 or 64 bits");
    Value *i = coerce(v, intTy(bits), false);
    for (unsigned k = 0; k < n; ++k) {
      Value *e = B.CreateTrunc(B.CreateLShr(i, std::uint64_t(eb) * k), intTy(eb));
      CUVIRT_TRY(set(o.elems[k], e, Type::None));
    }
    return Status::success();
  }
  default:
    return err(o.loc, "destination must be a register");
  }
}

Expected<Value *> FunctionLowering::address(const Operand &o, Space sp) {
  if (o.kind != Operand::Kind::Addr)
    return err(o.loc, "expected a memory operand [address]");
  unsigned as = M.addressSpace(sp);
  llvm::Type *pty = PointerType::get(ctx, as);
  Value *base = nullptr; // a pointer
  if (o.name.empty()) {
    if (sp == Space::Shared)
      return B.CreateGEP(B.getInt8Ty(), sharedBase(), B.getInt64(std::uint64_t(o.imm)));
    return B.CreateIntToPtr(B.getInt64(std::uint64_t(o.imm)), pty);
  }
  bool isReg = false;
  Symbol s;
  {
    bool special = false;
    if (o.name[0] == '%') {
      auto l = lookup(o.name, o.loc);
      if (!l) {
        Value *v = specialRegister(o.name, special);
        if (!special)
          return l.status();
        base = B.CreateIntToPtr(coerce(v, B.getInt64Ty(), false), pty);
      } else {
        s = *l;
      }
    } else {
      PTX_GET(l, lookup(o.name, o.loc));
      s = l;
    }
    if (!base)
      isReg = s.kind == Symbol::Kind::Reg;
  }
  if (!base && isReg) {
    Value *a = B.CreateLoad(storageType(s.type), s.ptr);
    if (sp == Space::Shared && a->getType()->isIntegerTy(32)) {
      // A 32-bit shared address wraps at 2^32 with its offset: cuBLAS forms
      // [%r + 8320] from a "negative" %r (transpose kernels).
      Value *sum = B.CreateAdd(a, B.getInt32(std::uint32_t(o.imm)));
      return B.CreateGEP(B.getInt8Ty(), sharedBase(), B.CreateZExt(sum, B.getInt64Ty()));
    }
    a = coerce(a, B.getInt64Ty(), false);
    if (sp == Space::Shared)
      return B.CreateGEP(B.getInt8Ty(), sharedBase(), B.CreateAdd(a, B.getInt64(std::uint64_t(o.imm))));
    base = B.CreateIntToPtr(a, pty);
  } else if (!base) {
    switch (s.kind) {
    case Symbol::Kind::Shared:
      base = B.CreateGEP(B.getInt8Ty(), sharedBase(), B.getInt64(s.sharedOffset));
      break;
    case Symbol::Kind::DynShared:
      base = dynSharedBase();
      break;
    default:
      base = s.ptr;
      break;
    }
    if (base->getType() != pty)
      base = B.CreateAddrSpaceCast(base, pty);
  }
  if (o.imm)
    base = B.CreateGEP(B.getInt8Ty(), base, B.getInt64(std::uint64_t(o.imm)));
  return base;
}

BasicBlock *FunctionLowering::labelBlock(const std::string &name) {
  auto it = labels.find(name);
  return it == labels.end() ? nullptr : it->second;
}

void FunctionLowering::ensureInsertable() {
  if (B.GetInsertBlock()->getTerminator())
    B.SetInsertPoint(BasicBlock::Create(ctx, "dead", fn));
}

Status FunctionLowering::emitReturn() {
  if (F.isEntry || retSlots.empty()) {
    if (fn->getReturnType()->isVoidTy())
      B.CreateRetVoid();
    else
      B.CreateRet(UndefValue::get(fn->getReturnType()));
    return Status::success();
  }
  if (retSlots.size() == 1) {
    B.CreateRet(B.CreateLoad(fn->getReturnType(), retSlots[0]));
    return Status::success();
  }
  Value *agg = UndefValue::get(fn->getReturnType());
  auto *st = cast<StructType>(fn->getReturnType());
  for (unsigned i = 0; i < retSlots.size(); ++i)
    agg = B.CreateInsertValue(agg, B.CreateLoad(st->getElementType(i), retSlots[i]), i);
  B.CreateRet(agg);
  return Status::success();
}

std::vector<Type> FunctionLowering::types(const Instr &in) {
  std::vector<Type> t;
  for (auto &m : in.mods)
    if (Type x = parseType(m); x != Type::None)
      t.push_back(x);
  return t;
}

Space FunctionLowering::space(const Instr &in) {
  for (auto &m : in.mods) {
    if (m == ".global")
      return Space::Global;
    if (m == ".shared" || m == ".shared::cta" || m == ".shared::cluster")
      return Space::Shared;
    if (m == ".local")
      return Space::Local;
    if (m == ".const")
      return Space::Const;
    if (m == ".param" || m == ".param::entry" || m == ".param::func")
      return Space::Param;
  }
  return Space::Generic;
}

AtomicOrdering FunctionLowering::ordering(const Instr &in, AtomicOrdering dflt) {
  if (in.has(".relaxed"))
    return AtomicOrdering::Monotonic;
  if (in.has(".acquire"))
    return AtomicOrdering::Acquire;
  if (in.has(".release"))
    return AtomicOrdering::Release;
  if (in.has(".acq_rel"))
    return AtomicOrdering::AcquireRelease;
  if (in.has(".sc") || in.has(".mmio"))
    return AtomicOrdering::SequentiallyConsistent;
  return dflt;
}

SyncScope::ID FunctionLowering::scope(const Instr &in) {
  const std::string *name = &M.hooks.scopeGpu; // PTX default scope is .gpu
  if (in.has(".cta") || in.has(".cluster"))
    name = &M.hooks.scopeCta;
  else if (in.has(".sys"))
    name = &M.hooks.scopeSys;
  if (name->empty())
    return SyncScope::System;
  return ctx.getOrInsertSyncScopeID(*name);
}

Status FunctionLowering::lowerStmt(const Instr &in) {
  ensureInsertable();
  BasicBlock *cont = nullptr;
  if (!in.guard.empty()) {
    Operand g;
    g.name = in.guard;
    g.loc = in.loc;
    PTX_GET(p, get(g, Type::Pred));
    if (in.guardNegated)
      p = B.CreateNot(p);
    if (in.opcode == "bra" || in.opcode == "bra.uni") {
      if (in.ops.size() != 1 || in.ops[0].kind != Operand::Kind::Reg)
        return err(in.loc, "bra needs a label");
      BasicBlock *t = labelBlock(in.ops[0].name);
      if (!t)
        return err(in.ops[0].loc, fmt::format("undefined label '{}'", in.ops[0].name));
      BasicBlock *fall = BasicBlock::Create(ctx, "", fn);
      B.CreateCondBr(p, t, fall);
      B.SetInsertPoint(fall);
      return Status::success();
    }
    BasicBlock *then = BasicBlock::Create(ctx, "", fn);
    cont = BasicBlock::Create(ctx, "", fn);
    B.CreateCondBr(p, then, cont);
    B.SetInsertPoint(then);
  }
  using Family = Expected<Handled> (FunctionLowering::*)(const Instr &);
  static constexpr Family families[] = {
      &FunctionLowering::lowerControl, &FunctionLowering::lowerInteger,  &FunctionLowering::lowerFloat,
      &FunctionLowering::lowerCompare, &FunctionLowering::lowerConvert,  &FunctionLowering::lowerMemory,
      &FunctionLowering::lowerAtomic,  &FunctionLowering::lowerParallel,
  };
  bool done = false;
  for (auto f : families) {
    auto h = (this->*f)(in);
    if (!h)
      return h.status();
    if (*h == Handled::Yes) {
      done = true;
      break;
    }
  }
  if (!done) {
    std::string full = in.opcode;
    for (auto &m : in.mods)
      full += m;
    return err(in.loc, fmt::format("unknown or unsupported instruction '{}'", full));
  }
  if (cont) {
    if (!B.GetInsertBlock()->getTerminator())
      B.CreateBr(cont);
    B.SetInsertPoint(cont);
  }
  return Status::success();
}

Status FunctionLowering::run() {
  allocaBlock_ = BasicBlock::Create(ctx, "entry", fn);
  BasicBlock *body = BasicBlock::Create(ctx, "body", fn);
  B.SetInsertPoint(allocaBlock_);
  scopes_.emplace_back();
  if (F.isEntry) {
    kernelParams_ = fn->getArg(0);
    kernelParams_->setName("params");
    for (unsigned i = 0; i < F.params.size(); ++i) {
      Symbol s;
      s.kind = Symbol::Kind::KernelParam;
      s.type = F.params[i].type;
      s.decl = &F.params[i];
      Value *slot = B.CreateGEP(B.getPtrTy(), kernelParams_, B.getInt64(i));
      s.ptr = B.CreateLoad(B.getPtrTy(), slot, F.params[i].name);
      scopes_.back()[F.params[i].name] = s;
    }
  } else {
    for (unsigned i = 0; i < F.params.size(); ++i) {
      auto &p = F.params[i];
      Value *arg = fn->getArg(i);
      Symbol s;
      s.type = p.type;
      s.decl = &p;
      if (p.space == Space::Reg) {
        s.kind = Symbol::Kind::Reg;
        s.ptr = makeSlot(storageType(p.type), typeSize(p.type), p.name);
        B.CreateStore(coerce(arg, storageType(p.type), false), s.ptr);
      } else {
        s.kind = Symbol::Kind::Param;
        s.ptr = makeSlot(arg->getType(), p.alignment(), p.name);
        B.CreateStore(arg, s.ptr);
      }
      scopes_.back()[p.name] = s;
    }
    for (auto &r : F.rets) {
      Symbol s;
      s.type = r.type;
      s.decl = &r;
      llvm::Type *t = paramType(ctx, r);
      auto *slot = makeSlot(t, r.alignment(), r.name);
      B.CreateStore(Constant::getNullValue(t), slot);
      s.ptr = slot;
      s.kind = r.space == Space::Reg ? Symbol::Kind::Reg : Symbol::Kind::Param;
      if (r.space == Space::Reg)
        s.type = r.type;
      retSlots.push_back(slot);
      scopes_.back()[r.name] = s;
    }
  }
  // labels, jump tables and prototypes are function-wide
  for (auto &st : F.body) {
    if (auto *l = std::get_if<Label>(&st)) {
      if (labels.count(l->name))
        return err(l->loc, fmt::format("duplicate label '{}'", l->name));
      labels[l->name] = BasicBlock::Create(ctx, l->name, fn);
    } else if (auto *bt = std::get_if<BranchTargets>(&st)) {
      branchTables[bt->name] = bt;
    } else if (auto *cp = std::get_if<CallPrototype>(&st)) {
      prototypes[cp->name] = cp;
    }
  }
  B.SetInsertPoint(body);
  for (auto &st : F.body) {
    if (auto *in = std::get_if<Instr>(&st)) {
      CUVIRT_TRY(lowerStmt(*in));
    } else if (auto *l = std::get_if<Label>(&st)) {
      BasicBlock *bb = labels[l->name];
      if (!B.GetInsertBlock()->getTerminator())
        B.CreateBr(bb);
      B.SetInsertPoint(bb);
    } else if (auto *v = std::get_if<VarDecl>(&st)) {
      CUVIRT_TRY(declare(*v));
    } else if (std::holds_alternative<ScopeBegin>(st)) {
      scopes_.emplace_back();
    } else if (auto *e = std::get_if<ScopeEnd>(&st)) {
      if (scopes_.size() <= 1)
        return err(e->loc, "unbalanced '}'");
      scopes_.pop_back();
    }
  }
  if (!B.GetInsertBlock()->getTerminator())
    CUVIRT_TRY(emitReturn());
  B.SetInsertPoint(allocaBlock_);
  B.CreateBr(body);
  return Status::success();
}

} // namespace lowering

Expected<Lowered> lower(std::string_view ptx, llvm::LLVMContext &context, const TargetHooks &hooks,
                        std::string &log) {
  auto parsed = parse(ptx, log);
  if (!parsed)
    return parsed.status();
  const Module &ast = *parsed;
  auto facts = analyse(ast, log);
  if (!facts)
    return facts.status();
  auto info = moduleInfoFrom(ast, *facts, log);
  if (!info)
    return info.status();

  auto mod = std::make_unique<llvm::Module>("ptx", context);
  if (!hooks.triple.empty())
    mod->setTargetTriple(llvm::Triple(hooks.triple));
  if (!hooks.dataLayout.empty())
    mod->setDataLayout(hooks.dataLayout);
  lowering::ModuleLowering M{context, *mod, hooks, ast, *facts, log, {}, {}, {}};

  for (auto &v : ast.globals) {
    if (M.moduleVars.count(v.name) && !v.isExtern && !M.moduleVars[v.name]->isExtern)
      return invalidPtx(log, v.loc, fmt::format("variable '{}' defined twice", v.name));
    M.moduleVars[v.name] = &v;
    if (v.space == Space::Local)
      return invalidPtx(log, v.loc, "module-scope .local variables are not supported");
    if (v.space != Space::Global && v.space != Space::Const)
      continue;
    std::uint64_t size = v.size();
    if (size == 0 && v.init) {
      GlobalInfo g;
      if (auto st = encodeInitialiser(v, g, ast.addressSize, log); !st.ok())
        return st;
      size = g.init.size();
    }
    auto *ty = llvm::ArrayType::get(llvm::Type::getInt8Ty(context), size);
    unsigned as = M.addressSpace(v.space);
    auto *gv = new llvm::GlobalVariable(*mod, ty, v.space == Space::Const, llvm::GlobalValue::ExternalLinkage,
                                        nullptr, v.name, nullptr, llvm::GlobalValue::NotThreadLocal, as);
    gv->setAlignment(llvm::Align(v.alignment()));
    M.globals[v.name] = gv;
  }
  for (auto &[name, idx] : facts->functionIndex) {
    (void)name;
    const Function &f = ast.functions[idx];
    if (M.moduleVars.count(f.name))
      return invalidPtx(log, f.loc, fmt::format("'{}' is both a variable and a function", f.name));
    llvm::FunctionType *ft = f.isEntry ? llvm::FunctionType::get(llvm::Type::getVoidTy(context),
                                                                 {llvm::PointerType::get(context, 0)}, false)
                                       : M.functionType(f.rets, f.params);
    auto linkage = f.isEntry || !f.hasBody || f.isVisible || f.isWeak ? llvm::GlobalValue::ExternalLinkage
                                                                      : llvm::GlobalValue::InternalLinkage;
    // internal functions get a suffix: PTX names such as sinf or expf must not
    // capture the libm calls LLVM emits for its own intrinsics on the host
    std::string llname = linkage == llvm::GlobalValue::InternalLinkage ? f.name + ".ptx" : f.name;
    auto *fn = llvm::Function::Create(ft, linkage, llname, *mod);
    if (f.isEntry)
      fn->addFnAttr("cuvirt-kernel");
    M.functions[f.name] = fn;
  }
  for (std::size_t i = 0; i < ast.functions.size(); ++i) {
    const Function &f = ast.functions[i];
    if (!f.hasBody || facts->functionIndex.at(f.name) != i)
      continue;
    lowering::FunctionLowering fl(M, f, i, M.functions[f.name]);
    if (auto st = fl.run(); !st.ok())
      return st;
  }
  // registers were emitted as allocas; hand targets SSA form
  for (auto &fn : *mod) {
    if (fn.isDeclaration())
      continue;
    std::vector<llvm::AllocaInst *> promotable;
    for (auto &inst : fn.getEntryBlock())
      if (auto *a = llvm::dyn_cast<llvm::AllocaInst>(&inst); a && llvm::isAllocaPromotable(a))
        promotable.push_back(a);
    if (!promotable.empty()) {
      llvm::DominatorTree dt(fn);
      llvm::PromoteMemToReg(promotable, dt);
    }
  }
  std::string verr;
  llvm::raw_string_ostream os(verr);
  if (llvm::verifyModule(*mod, &os)) {
    os.flush();
    log += "internal error: the lowered module does not verify: " + verr + "\n";
    return error(CUDA_ERROR_INVALID_PTX, "PTX lowering produced invalid IR: {}", verr);
  }
  Lowered out;
  out.module = std::move(mod);
  out.info = info.take();
  return out;
}

} // namespace cuvirt::ptx
