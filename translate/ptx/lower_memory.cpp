// Memory: ld/ldu/st in every state space (vectors, .volatile, .relaxed/
// .acquire/.release as atomic accesses), atom/red, prefetch and cp.async.
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

namespace {
unsigned vectorWidth(const Instr &in) {
  if (in.has(".v2"))
    return 2;
  if (in.has(".v4"))
    return 4;
  if (in.has(".v8"))
    return 8;
  return 1;
}
} // namespace

// cp.async.bulk (sm_90, without tensor maps): a synchronous copy, then for
// shared destinations the mbarrier's complete_tx of `size` bytes (its
// transaction count may go below zero first: libcu++ issues the copy before
// the expect_tx). Commit/wait groups and L2 prefetches have nothing to wait
// for; multicast and tensor copies are refused.
Expected<Handled> FunctionLowering::lowerBulkCopy(const Instr &in) {
  if (in.has(".prefetch"))
    return Handled::Yes;
  if (in.has(".tensor") || in.has(".multicast::cluster") || in.has(".reduce"))
    return Handled::No;
  if (in.ops.size() < 3)
    return err(in.loc, "cp.async.bulk expects [dst], [src], size[, [mbar]]");
  const bool toGlobal = in.has(".global") && in.has(".bulk_group");
  const bool fromShared = in.has(".shared::cta") && !toGlobal && in.has(".shared::cluster");
  PTX_GET(dst, address(in.ops[0], toGlobal ? Space::Global : Space::Shared));
  PTX_GET(src, address(in.ops[1], toGlobal || fromShared ? Space::Shared : Space::Global));
  PTX_GET(size, get(in.ops[2], Type::U32));
  B.CreateMemCpy(dst, MaybeAlign(16), src, MaybeAlign(16), B.CreateZExt(size, B.getInt64Ty()));
  if (toGlobal)
    return Handled::Yes;
  if (in.ops.size() < 4 || !in.has(".mbarrier::complete_tx::bytes"))
    return err(in.loc, "cp.async.bulk to shared memory expects [dst], [src], size, [mbar]");
  PTX_GET(bar, address(in.ops[3], Space::Shared));
  constexpr int kNoArrive = 4; // cuvirt.mbarrier.arrive's flag (translate/KERNEL_IR.md)
  call("cuvirt.mbarrier.arrive", B.getInt64Ty(),
       {bar, B.getInt32(0), B.CreateNeg(size), B.getInt32(kNoArrive)});
  return Handled::Yes;
}

Expected<Handled> FunctionLowering::lowerMemory(const Instr &in) {
  const std::string &op = in.opcode;
  if (op == "prefetch" || op == "prefetchu" || op == "applypriority" || op == "discard")
    return Handled::Yes; // hints only
  if (op == "isspacep")
    return lowerIsSpace(in);
  if (op == "createpolicy") {
    if (!in.ops.empty())
      CUVIRT_TRY(set(in.ops[0], B.getInt64(0), Type::B64));
    return Handled::Yes;
  }
  if (op == "cp" && in.has(".async")) {
    if (in.has(".commit_group") || in.has(".wait_group") || in.has(".wait_all"))
      return Handled::Yes; // the copy below is synchronous
    if (in.has(".mbarrier")) {
      // cp.async.mbarrier.arrive{.noinc} [addr]: the arrive-on fires once the
      // thread's earlier copies are done, which (synchronous) they are. Without
      // .noinc the pending count is raised first, so nothing changes at all.
      if (in.ops.size() != 1)
        return err(in.loc, "cp.async.mbarrier.arrive expects [addr]");
      if (in.has(".noinc")) {
        PTX_GET(addr, address(in.ops[0], space(in)));
        call("cuvirt.mbarrier.arrive", B.getInt64Ty(), {addr, B.getInt32(1), B.getInt32(0), B.getInt32(0)});
      }
      return Handled::Yes;
    }
    if (in.has(".bulk"))
      return lowerBulkCopy(in);
    if (in.ops.size() < 3)
      return err(in.loc, "cp.async expects [dst], [src], size");
    PTX_GET(dst, address(in.ops[0], Space::Shared));
    PTX_GET(srcp, address(in.ops[1], Space::Global));
    if (in.ops[2].kind != Operand::Kind::Int)
      return err(in.ops[2].loc, "cp.async size must be an immediate");
    std::uint64_t n = std::uint64_t(in.ops[2].imm);
    if (n != 4 && n != 8 && n != 16)
      return err(in.ops[2].loc, "cp.async size must be 4, 8 or 16");
    if (in.ops.size() >= 4 && in.ops[3].kind != Operand::Kind::Addr) {
      // src-size: copy that many bytes and zero-fill the rest
      PTX_GET(srcSize, get(in.ops[3], Type::U32));
      B.CreateMemSet(dst, B.getInt8(0), n, MaybeAlign(1));
      B.CreateMemCpy(dst, MaybeAlign(1), srcp, MaybeAlign(1),
                     B.CreateZExt(B.CreateBinaryIntrinsic(Intrinsic::umin, srcSize, B.getInt32(unsigned(n))),
                                  B.getInt64Ty()));
    } else {
      B.CreateMemCpy(dst, MaybeAlign(1), srcp, MaybeAlign(1), n);
    }
    return Handled::Yes;
  }
  bool isLoad = op == "ld" || op == "ldu";
  if (!isLoad && op != "st")
    return Handled::No;
  auto tys = types(in);
  if (tys.empty())
    return err(in.loc, fmt::format("'{}' needs a type", op));
  Type t = tys.back();
  if (in.ops.size() < 2)
    return err(in.loc, fmt::format("'{}' expects 2 operands", op));
  const Operand &mem = isLoad ? in.ops[1] : in.ops[0];
  const Operand &val = isLoad ? in.ops[0] : in.ops[1];
  Space sp = space(in);
  PTX_GET(ptr, address(mem, sp));
  unsigned n = vectorWidth(in);
  if (n > 1 && (val.kind != Operand::Kind::Vec || val.elems.size() != n))
    return err(val.loc, fmt::format("'{}' .v{} needs a {{...}} operand with {} elements", op, n, n));
  llvm::Type *ety = valueType(t);
  if (t == Type::Pred)
    return err(in.loc, "memory accesses of .pred are not valid");
  unsigned esize = typeSize(t);
  bool isVolatile = in.has(".volatile");
  AtomicOrdering ord = ordering(in, AtomicOrdering::NotAtomic);
  if (ord == AtomicOrdering::SequentiallyConsistent || ord == AtomicOrdering::AcquireRelease)
    return err(in.loc, fmt::format("'{}' does not take this memory order", op));
  if (ord != AtomicOrdering::NotAtomic && (ety->isVectorTy() || esize > 8))
    ety = intTy(esize * 8); // atomic accesses need integer or scalar FP types
  for (unsigned k = 0; k < n; ++k) {
    const Operand &e = n > 1 ? val.elems[k] : val;
    Value *p = k ? B.CreateGEP(B.getInt8Ty(), ptr, B.getInt64(std::uint64_t(k) * esize)) : ptr;
    if (isLoad) {
      if (e.kind == Operand::Kind::Sink)
        continue;
      auto *ld = B.CreateLoad(ety, p);
      ld->setAlignment(Align(esize));
      ld->setVolatile(isVolatile);
      if (ord != AtomicOrdering::NotAtomic)
        ld->setAtomic(ord, scope(in));
      CUVIRT_TRY(set(e, ld, t));
    } else {
      PTX_GET(v, get(e, t));
      v = coerce(v, ety, false);
      auto *st = B.CreateStore(v, p);
      st->setAlignment(Align(esize));
      st->setVolatile(isVolatile);
      if (ord != AtomicOrdering::NotAtomic)
        st->setAtomic(ord, scope(in));
    }
  }
  return Handled::Yes;
}

Expected<Handled> FunctionLowering::lowerAtomic(const Instr &in) {
  const std::string &op = in.opcode;
  if (op != "atom" && op != "red")
    return Handled::No;
  bool isRed = op == "red";
  auto tys = types(in);
  if (tys.empty())
    return err(in.loc, fmt::format("'{}' needs a type", op));
  if (vectorWidth(in) > 1)
    return err(in.loc, fmt::format("vector '{}' is not supported", op));
  Type t = tys.back();
  if (t == Type::Pred || typeSize(t) < 2 || (typeSize(t) == 2 && !isFloat(t) && !in.has(".cas")) ||
      t == Type::B128)
    return err(in.loc, fmt::format("'{}' on {} is not supported", op, typeName(t)));
  std::size_t m = isRed ? 0 : 1; // index of the memory operand
  if (in.ops.size() < m + 2)
    return err(in.loc, fmt::format("'{}' has too few operands", op));
  Space sp = space(in);
  PTX_GET(ptr, address(in.ops[m], sp));
  AtomicOrdering ord = ordering(in, AtomicOrdering::Monotonic);
  SyncScope::ID ss = scope(in);
  llvm::Type *ty = valueType(t);
  Align al(typeSize(t));
  Value *old = nullptr;
  if (in.has(".cas")) {
    if (in.ops.size() != m + 3)
      return err(in.loc, "atom.cas expects [a], b, c");
    llvm::Type *it = intTy(typeSize(t) * 8);
    PTX_GET(cmp, get(in.ops[m + 1], t));
    PTX_GET(nv, get(in.ops[m + 2], t));
    AtomicOrdering fail = ord == AtomicOrdering::Release          ? AtomicOrdering::Monotonic
                          : ord == AtomicOrdering::AcquireRelease ? AtomicOrdering::Acquire
                                                                  : ord;
    auto *x = B.CreateAtomicCmpXchg(ptr, coerce(cmp, it, false), coerce(nv, it, false), al, ord, fail, ss);
    old = coerce(B.CreateExtractValue(x, 0), ty, false);
  } else {
    if (in.ops.size() != m + 2)
      return err(in.loc, fmt::format("'{}' expects [a], b", op));
    PTX_GET(v, get(in.ops[m + 1], t));
    bool fp = ty->isFPOrFPVectorTy();
    bool sgn = isSigned(t);
    AtomicRMWInst::BinOp bop;
    if (in.has(".add"))
      bop = fp ? AtomicRMWInst::FAdd : AtomicRMWInst::Add;
    else if (in.has(".min"))
      bop = fp ? AtomicRMWInst::FMin : sgn ? AtomicRMWInst::Min : AtomicRMWInst::UMin;
    else if (in.has(".max"))
      bop = fp ? AtomicRMWInst::FMax : sgn ? AtomicRMWInst::Max : AtomicRMWInst::UMax;
    else if (in.has(".inc"))
      bop = AtomicRMWInst::UIncWrap;
    else if (in.has(".dec"))
      bop = AtomicRMWInst::UDecWrap;
    else if (in.has(".and"))
      bop = AtomicRMWInst::And;
    else if (in.has(".or"))
      bop = AtomicRMWInst::Or;
    else if (in.has(".xor"))
      bop = AtomicRMWInst::Xor;
    else if (in.has(".exch"))
      bop = AtomicRMWInst::Xchg;
    else
      return err(in.loc, fmt::format("'{}' needs an operation (.add, .min, .cas, ...)", op));
    if (fp && bop != AtomicRMWInst::FAdd && bop != AtomicRMWInst::FMin && bop != AtomicRMWInst::FMax &&
        bop != AtomicRMWInst::Xchg)
      return err(in.loc, fmt::format("'{}' operation not valid for {}", op, typeName(t)));
    if (bop == AtomicRMWInst::Xchg && ty->isVectorTy()) {
      ty = intTy(32);
      v = coerce(v, ty, false);
    }
    if (ty->isVectorTy()) {
      // f16x2/bf16x2: a compare-exchange loop on the 32-bit word
      BasicBlock *loop = BasicBlock::Create(ctx, "atom.loop", fn),
                 *done = BasicBlock::Create(ctx, "atom.done", fn);
      Value *init = B.CreateLoad(i32(), ptr);
      BasicBlock *pre = B.GetInsertBlock();
      B.CreateBr(loop);
      B.SetInsertPoint(loop);
      PHINode *cur = B.CreatePHI(i32(), 2);
      cur->addIncoming(init, pre);
      Value *cv = B.CreateBitCast(cur, ty);
      Value *nv = bop == AtomicRMWInst::FAdd   ? B.CreateFAdd(cv, v)
                  : bop == AtomicRMWInst::FMin ? B.CreateBinaryIntrinsic(Intrinsic::minnum, cv, v)
                                               : B.CreateBinaryIntrinsic(Intrinsic::maxnum, cv, v);
      auto *x = B.CreateAtomicCmpXchg(ptr, cur, B.CreateBitCast(nv, i32()), Align(4), ord,
                                      ord == AtomicOrdering::Release          ? AtomicOrdering::Monotonic
                                      : ord == AtomicOrdering::AcquireRelease ? AtomicOrdering::Acquire
                                                                              : ord,
                                      ss);
      Value *seen = B.CreateExtractValue(x, 0);
      cur->addIncoming(seen, B.GetInsertBlock());
      B.CreateCondBr(B.CreateExtractValue(x, 1), done, loop);
      B.SetInsertPoint(done);
      old = B.CreateBitCast(seen, valueType(t));
    } else {
      old = B.CreateAtomicRMW(bop, ptr, v, al, ord, ss);
    }
  }
  if (!isRed)
    CUVIRT_TRY(set(in.ops[0], old, t));
  return Handled::Yes;
}

// isspacep on a target with one flat address space: shared memory is this
// block's window [shared base, end of the dynamic area); whether an address
// is the thread's local memory only the target knows (cuvirt.islocal);
// global is everything else. .const and .param generic windows do not exist
// here, so those answer false.
Expected<Handled> FunctionLowering::lowerIsSpace(const Instr &in) {
  if (in.ops.size() != 2)
    return err(in.loc, "isspacep expects a predicate and an address");
  Space sp = space(in);
  PTX_GET(a, get(in.ops[1], Type::U64));
  Value *addr = B.CreateZExtOrTrunc(a, B.getInt64Ty());
  auto inWindow = [&](Value *begin, Value *size) { return B.CreateICmpULT(B.CreateSub(addr, begin), size); };
  auto shared = [&] {
    Value *begin = B.CreatePtrToInt(sharedBase(), B.getInt64Ty());
    Value *dynEnd =
        B.CreateAdd(B.CreatePtrToInt(dynSharedBase(), B.getInt64Ty()),
                    B.CreateZExt(B.CreateCall(M.runtime("cuvirt.dynshared.size", B.getInt32Ty(), {}), {}),
                                 B.getInt64Ty()));
    return inWindow(begin, B.CreateSub(dynEnd, begin));
  };
  auto local = [&] {
    FunctionCallee f = M.runtime("cuvirt.islocal", B.getInt1Ty(), {B.getInt64Ty()});
    return B.CreateCall(f, {addr});
  };
  Value *r;
  switch (sp) {
  case Space::Shared:
    r = shared();
    break;
  case Space::Local:
    r = local();
    break;
  case Space::Global:
    r = B.CreateNot(B.CreateOr(shared(), local()));
    break;
  case Space::Const:
  case Space::Param:
    r = B.getFalse();
    break;
  default:
    return err(in.loc, "isspacep needs .global, .shared, .local, .const or .param");
  }
  CUVIRT_TRY(set(in.ops[0], r, Type::Pred));
  return Handled::Yes;
}

} // namespace cuvirt::ptx::lowering
