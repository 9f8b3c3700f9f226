// Floating point in f64/f32/f16/bf16 and the f16x2/bf16x2 pairs: arithmetic,
// fma, div, the .approx and IEEE math, min/max, abs/neg/copysign.
// .rn is plain IR; .rz/.rm/.rp are exact: f32/f64 through out-of-line
// strictfp helpers (roundedOp), f16/bf16 through f64 and an exact integer
// rounding (roundToFloat), so the usual .rn code stays free to vectorise.
// .ftz (f32 only, as in PTX) flushes denormal inputs and results to a zero of
// the same sign.
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>
#include <llvm/IR/Intrinsics.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

namespace {
bool isFloatLike(Type t) {
  return t == Type::F16 || t == Type::BF16 || t == Type::F32 || t == Type::F64 || t == Type::F16x2 ||
         t == Type::BF16x2;
}
/// A float format's fields: fraction bits, exponent bias, all-ones exponent.
struct Format {
  unsigned bits, frac;
  int bias;
  std::uint64_t expMax;
};

Format formatOf(llvm::Type *t) {
  if (t->isHalfTy())
    return {16, 10, 15, 31};
  if (t->isBFloatTy())
    return {16, 7, 127, 255};
  if (t->isFloatTy())
    return {32, 23, 127, 255};
  return {64, 52, 1023, 2047};
}
} // namespace

FunctionLowering::Rounding FunctionLowering::rounding(const Instr &in) {
  if (in.has(".rz"))
    return Rounding::Zero;
  if (in.has(".rm"))
    return Rounding::Down;
  if (in.has(".rp"))
    return Rounding::Up;
  return Rounding::Nearest;
}

Value *FunctionLowering::roundedOp(StringRef op, Rounding r, ArrayRef<Value *> args) {
  if (M.hooks.directedOp) {
    const int mode = r == Rounding::Zero ? 1 : r == Rounding::Down ? 2 : 3;
    if (Value *v = M.hooks.directedOp(B, std::string_view(op.data(), op.size()), mode, args.data(),
                                      unsigned(args.size())))
      return v;
  }
  llvm::Type *ty = args[0]->getType();
  const char *mode = r == Rounding::Zero ? "rz" : r == Rounding::Down ? "rm" : "rp";
  std::string name = fmt::format("ptx.rounded.{}.{}.{}", op.str(), mode, ty->isDoubleTy() ? "f64" : "f32");
  llvm::Function *f = M.mod.getFunction(name);
  if (f == nullptr) {
    // strictfp stays inside this function: constrained intrinsics must not
    // mix with ordinary FP code, and the kernel's own code keeps vectorising.
    SmallVector<llvm::Type *, 3> params(args.size(), ty);
    f = llvm::Function::Create(FunctionType::get(ty, params, false), GlobalValue::InternalLinkage, name,
                               M.mod);
    f->addFnAttr(Attribute::StrictFP);
    f->addFnAttr(Attribute::NoInline);
    f->addFnAttr(Attribute::NoUnwind);
    IRBuilder<> b(BasicBlock::Create(ctx, "entry", f));
    b.setIsFPConstrained(true);
    b.setDefaultConstrainedExcept(fp::ebIgnore);
    b.setDefaultConstrainedRounding(r == Rounding::Zero   ? RoundingMode::TowardZero
                                    : r == Rounding::Down ? RoundingMode::TowardNegative
                                                          : RoundingMode::TowardPositive);
    Value *saved = nullptr;
    auto setMode = [&](Value *m) {
      b.CreateIntrinsic(Intrinsic::set_rounding, {}, {m})->addFnAttr(Attribute::StrictFP);
    };
    if (M.hooks.switchRoundingMode) {
      // FLT_ROUNDS encoding: 0 toward zero, 2 upward, 3 downward
      auto *get = b.CreateIntrinsic(b.getInt32Ty(), Intrinsic::get_rounding, {});
      get->addFnAttr(Attribute::StrictFP);
      saved = get;
      setMode(b.getInt32(r == Rounding::Zero ? 0 : r == Rounding::Up ? 2 : 3));
    }
    SmallVector<Value *, 3> a;
    for (Argument &x : f->args())
      a.push_back(&x);
    Value *x;
    if (op == "fadd")
      x = b.CreateFAdd(a[0], a[1]);
    else if (op == "fsub")
      x = b.CreateFSub(a[0], a[1]);
    else if (op == "fmul")
      x = b.CreateFMul(a[0], a[1]);
    else if (op == "fdiv")
      x = b.CreateFDiv(a[0], a[1]);
    else if (op == "fma")
      x = b.CreateConstrainedFPCall(
          Intrinsic::getOrInsertDeclaration(&M.mod, Intrinsic::experimental_constrained_fma, {ty}), a);
    else
      x = b.CreateConstrainedFPCall(
          Intrinsic::getOrInsertDeclaration(&M.mod, Intrinsic::experimental_constrained_sqrt, {ty}), a);
    if (saved != nullptr)
      setMode(saved);
    b.CreateRet(x);
  }
  return B.CreateCall(f, args);
}

Value *FunctionLowering::roundToFloat(Value *neg, Value *mag, Value *exp, llvm::Type *to, Rounding r) {
  const Format d = formatOf(to);
  llvm::Type *i64 = B.getInt64Ty(), *i128 = B.getInt128Ty();
  const int emin = 1 - d.bias;
  // Normalise: the leading one at bit 63, so the bits dropped below the
  // destination's last place are always at least 11.
  Value *isZero = B.CreateICmpEQ(mag, B.getInt64(0));
  Value *lz =
      B.CreateSelect(isZero, B.getInt64(0), B.CreateBinaryIntrinsic(Intrinsic::ctlz, mag, B.getTrue()));
  Value *m = B.CreateShl(mag, lz);
  Value *e = B.CreateSExt(exp, i64);
  Value *top = B.CreateSub(B.CreateAdd(e, B.getInt64(63)), lz); // exponent of the leading one
  Value *scale = B.CreateBinaryIntrinsic(Intrinsic::smax, top, B.getInt64(emin));
  // bits of m below the destination's last place (>= 11), at most 65
  Value *sh = B.CreateSub(B.CreateSub(scale, B.getInt64(d.frac)), B.CreateSub(e, lz));
  sh = B.CreateZExt(B.CreateBinaryIntrinsic(Intrinsic::umin, sh, B.getInt64(65)), i128);
  Value *m128 = B.CreateZExt(m, i128);
  Value *q = B.CreateTrunc(B.CreateLShr(m128, sh), i64);
  Value *sh1 = B.CreateSub(sh, ConstantInt::get(i128, 1));
  Value *roundBit = B.CreateTrunc(B.CreateLShr(m128, sh1), B.getInt1Ty());
  Value *sticky = B.CreateICmpNE(
      B.CreateAnd(m128, B.CreateSub(B.CreateShl(ConstantInt::get(i128, 1), sh1), ConstantInt::get(i128, 1))),
      ConstantInt::get(i128, 0));
  Value *inexact = B.CreateOr(roundBit, sticky);
  Value *up = nullptr;
  switch (r) {
  case Rounding::Nearest: // ties to even
    up = B.CreateAnd(roundBit, B.CreateOr(sticky, B.CreateTrunc(q, B.getInt1Ty())));
    break;
  case Rounding::Zero:
    up = B.getFalse();
    break;
  case Rounding::Down:
    up = B.CreateAnd(neg, inexact);
    break;
  case Rounding::Up:
    up = B.CreateAnd(B.CreateNot(neg), inexact);
    break;
  }
  q = B.CreateAdd(q, B.CreateZExt(up, i64));
  // (biased exponent - 1) << frac + q: a denormal has q < 2^frac, a carry
  // out of the fraction moves to the next binade by itself.
  Value *bits = B.CreateAdd(B.CreateShl(B.CreateAdd(scale, B.getInt64(d.bias - 1)), d.frac), q);
  const std::uint64_t inf = d.expMax << d.frac;
  Value *overflow = B.CreateICmpSGE(bits, B.getInt64(inf));
  Value *toInf = r == Rounding::Nearest ? B.getTrue()
                 : r == Rounding::Zero  ? B.getFalse()
                 : r == Rounding::Down  ? neg
                                        : B.CreateNot(neg);
  Value *big = B.CreateSelect(toInf, B.getInt64(inf), B.getInt64(inf - 1)); // inf or the largest finite
  bits = B.CreateSelect(overflow, big, bits);
  bits = B.CreateSelect(isZero, B.getInt64(0), bits);
  bits = B.CreateOr(bits, B.CreateShl(B.CreateZExt(neg, i64), d.bits - 1));
  return B.CreateBitCast(B.CreateTrunc(bits, intTy(d.bits)), to);
}

Value *FunctionLowering::narrowFloat(Value *v, llvm::Type *to, Rounding r) {
  const Format s = formatOf(v->getType()), d = formatOf(to);
  llvm::Type *it = intTy(s.bits), *i64 = B.getInt64Ty();
  Value *bits = B.CreateBitCast(v, it);
  Value *neg = B.CreateICmpSLT(bits, ConstantInt::get(it, 0));
  Value *expField =
      B.CreateZExt(B.CreateAnd(B.CreateLShr(bits, s.frac), ConstantInt::get(it, s.expMax)), i64);
  Value *frac = B.CreateZExt(B.CreateAnd(bits, ConstantInt::get(it, (std::uint64_t(1) << s.frac) - 1)), i64);
  Value *normal = B.CreateICmpNE(expField, B.getInt64(0));
  Value *mag = B.CreateSelect(normal, B.CreateOr(frac, B.getInt64(std::uint64_t(1) << s.frac)), frac);
  Value *exp = B.CreateSub(B.CreateBinaryIntrinsic(Intrinsic::umax, expField, B.getInt64(1)),
                           B.getInt64(s.bias + s.frac));
  Value *r0 = roundToFloat(neg, mag, B.CreateTrunc(exp, i32()), to, r);
  // infinities keep their sign; NaN becomes the canonical NaN (as cvt does)
  llvm::Type *dt = intTy(d.bits);
  const std::uint64_t dinf = d.expMax << d.frac;
  Value *special = B.CreateICmpEQ(expField, B.getInt64(s.expMax));
  Value *infBits = B.CreateOr(ConstantInt::get(dt, dinf), B.CreateShl(B.CreateZExt(neg, dt), d.bits - 1));
  Value *nanBits = ConstantInt::get(dt, dinf | ((std::uint64_t(1) << d.frac) - 1));
  Value *sp = B.CreateSelect(B.CreateICmpEQ(frac, B.getInt64(0)), infBits, nanBits);
  return B.CreateSelect(special, B.CreateBitCast(sp, to), r0);
}

Expected<Handled> FunctionLowering::lowerFloat(const Instr &in) {
  const std::string &op = in.opcode;
  static const char *const known[] = {"add",  "sub",   "mul", "fma", "mad",     "div", "rcp",
                                      "sqrt", "rsqrt", "sin", "cos", "lg2",     "ex2", "tanh",
                                      "min",  "max",   "abs", "neg", "copysign"};
  bool isKnown = false;
  for (auto *k : known)
    isKnown |= op == k;
  if (!isKnown)
    return Handled::No;
  auto tys = types(in);
  if (tys.empty() || !isFloatLike(tys.back()))
    return Handled::No;
  Type t = tys.back();
  std::size_t nsrc = op == "fma" || op == "mad" ? 3
                     : (op == "add" || op == "sub" || op == "mul" || op == "div" || op == "min" ||
                        op == "max" || op == "copysign")
                         ? 2
                         : 1;
  if (in.ops.size() < nsrc + 1)
    return err(in.loc, fmt::format("'{}' expects {} operands, got {}", op, nsrc + 1, in.ops.size()));
  llvm::Type *ty = valueType(t);
  const bool ftz = t == Type::F32 && in.has(".ftz");
  auto flush = [&](Value *v) -> Value * {
    if (!ftz)
      return v;
    // |v| < 2^-126: a denormal (or zero) becomes a zero of the same sign.
    Value *tiny = B.CreateFCmpOLT(B.CreateUnaryIntrinsic(Intrinsic::fabs, v), ConstantFP::get(ty, 0x1p-126));
    return B.CreateSelect(tiny, B.CreateBinaryIntrinsic(Intrinsic::copysign, ConstantFP::get(ty, 0.0), v), v);
  };
  std::vector<Value *> s;
  for (std::size_t i = 1; i <= nsrc && i < in.ops.size(); ++i) {
    PTX_GET(v, get(in.ops[i], t));
    s.push_back(flush(v));
  }
  Value *r = nullptr;
  auto one = [&] { return ConstantFP::get(ty, 1.0); };
  const Rounding rnd = rounding(in);
  const bool directedOp = op == "add" || op == "sub" || op == "mul" || op == "fma" || op == "mad" ||
                          op == "div" || op == "rcp" || op == "sqrt";
  if (rnd != Rounding::Nearest && directedOp) {
    StringRef fop = op == "add"                    ? "fadd"
                    : op == "sub"                  ? "fsub"
                    : op == "mul"                  ? "fmul"
                    : (op == "div" || op == "rcp") ? "fdiv"
                    : op == "sqrt"                 ? "sqrt"
                                                   : "fma";
    // f16/bf16: exact in f64 or rounded there in the same direction (the
    // 16-bit grid lies on f64's, so directed rounding twice is rounding once)
    auto scalar = [&](ArrayRef<Value *> xs) -> Value * {
      llvm::Type *et = xs[0]->getType();
      SmallVector<Value *, 3> a;
      for (Value *x : xs)
        a.push_back(et->isFloatTy() || et->isDoubleTy() ? x : B.CreateFPExt(x, B.getDoubleTy()));
      if (op == "rcp")
        a.insert(a.begin(), ConstantFP::get(a[0]->getType(), 1.0));
      Value *y = roundedOp(fop, rnd, a);
      return y->getType() == et ? y : narrowFloat(y, et, rnd);
    };
    if (auto *vt = dyn_cast<FixedVectorType>(ty)) {
      r = PoisonValue::get(vt);
      for (unsigned lane = 0; lane < vt->getNumElements(); ++lane) {
        SmallVector<Value *, 3> xs;
        for (Value *x : s)
          xs.push_back(B.CreateExtractElement(x, uint64_t(lane)));
        r = B.CreateInsertElement(r, scalar(xs), uint64_t(lane));
      }
    } else {
      r = scalar(s);
    }
  } else if (op == "add")
    r = B.CreateFAdd(s[0], s[1]);
  else if (op == "sub")
    r = B.CreateFSub(s[0], s[1]);
  else if (op == "mul")
    r = B.CreateFMul(s[0], s[1]);
  else if (op == "fma" || op == "mad") {
    // mad.f32 without a rounding mode may be unfused on the GPU; fused is within its error bound
    r = B.CreateIntrinsic(Intrinsic::fma, {ty}, {s[0], s[1], s[2]});
  } else if (op == "div")
    r = B.CreateFDiv(s[0], s[1]);
  else if (op == "rcp")
    r = B.CreateFDiv(one(), s[0]);
  else if (op == "sqrt")
    r = B.CreateUnaryIntrinsic(Intrinsic::sqrt, s[0]);
  else if (op == "rsqrt")
    r = B.CreateFDiv(one(), B.CreateUnaryIntrinsic(Intrinsic::sqrt, s[0]));
  else if (op == "sin")
    r = B.CreateUnaryIntrinsic(Intrinsic::sin, s[0]);
  else if (op == "cos")
    r = B.CreateUnaryIntrinsic(Intrinsic::cos, s[0]);
  else if (op == "lg2")
    r = B.CreateUnaryIntrinsic(Intrinsic::log2, s[0]);
  else if (op == "ex2")
    r = B.CreateUnaryIntrinsic(Intrinsic::exp2, s[0]);
  else if (op == "tanh")
    r = B.CreateUnaryIntrinsic(Intrinsic::tanh, s[0]);
  else if (op == "abs")
    r = B.CreateUnaryIntrinsic(Intrinsic::fabs, s[0]);
  else if (op == "neg")
    r = B.CreateFNeg(s[0]);
  else if (op == "copysign")
    r = B.CreateBinaryIntrinsic(Intrinsic::copysign, s[1], s[0]);
  else if (op == "min" || op == "max") {
    bool nan = in.has(".NaN");
    Intrinsic::ID id = op == "min" ? (nan ? Intrinsic::minimum : Intrinsic::minnum)
                                   : (nan ? Intrinsic::maximum : Intrinsic::maxnum);
    r = B.CreateBinaryIntrinsic(id, s[0], s[1]);
  }
  r = flush(r);
  if (in.has(".relu"))
    r = B.CreateBinaryIntrinsic(Intrinsic::maxnum, r, Constant::getNullValue(ty));
  if (in.has(".sat")) // clamp to [0, 1]; NaN becomes 0
    r = B.CreateBinaryIntrinsic(
        Intrinsic::minnum, B.CreateBinaryIntrinsic(Intrinsic::maxnum, r, Constant::getNullValue(ty)), one());
  CUVIRT_TRY(set(in.ops[0], r, t));
  return Handled::Yes;
}

} // namespace cuvirt::ptx::lowering
