// Moves and conversions: mov (incl. vector pack/unpack and addresses), cvt
// in every combination with rounding and saturation, cvta between spaces.
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

namespace {

/// The integer rounding of cvt.rni/.rzi/.rmi/.rpi (RoundingNone if absent).
Intrinsic::ID integerRounding(const Instr &in) {
  if (in.has(".rni"))
    return Intrinsic::roundeven;
  if (in.has(".rzi"))
    return Intrinsic::trunc;
  if (in.has(".rmi"))
    return Intrinsic::floor;
  if (in.has(".rpi"))
    return Intrinsic::ceil;
  return Intrinsic::not_intrinsic;
}

bool isFpType(Type t) { return isFloat(t) && t != Type::TF32; }

} // namespace

Expected<Handled> FunctionLowering::lowerConvert(const Instr &in) {
  const std::string &op = in.opcode;
  if (op == "mov") {
    auto tys = types(in);
    if (tys.empty())
      return err(in.loc, "mov needs a type");
    if (in.ops.size() != 2)
      return err(in.loc, "mov expects 2 operands");
    Type t = tys.back();
    PTX_GET(v, get(in.ops[1], t));
    CUVIRT_TRY(set(in.ops[0], v, t));
    return Handled::Yes;
  }
  if (op == "cvta") {
    if (in.ops.size() != 2)
      return err(in.loc, "cvta expects 2 operands");
    auto tys = types(in);
    Type t = tys.empty() ? Type::U64 : tys.back();
    Space sp = space(in);
    bool to = in.has(".to");
    PTX_GET(a, get(in.ops[1], t));
    Value *r;
    llvm::Type *it = a->getType();
    if (sp == Space::Shared) {
      Value *base = B.CreatePtrToInt(coerce(sharedBase(), PointerType::get(ctx, M.hooks.genericAS), false),
                                     B.getInt64Ty());
      Value *a64 = B.CreateZExtOrTrunc(a, B.getInt64Ty());
      r = to ? B.CreateSub(a64, base) : B.CreateAdd(a64, base);
      r = B.CreateZExtOrTrunc(r, it);
    } else {
      unsigned from = to ? M.hooks.genericAS : M.addressSpace(sp),
               dest = to ? M.addressSpace(sp) : M.hooks.genericAS;
      if (sp == Space::Param || from == dest) {
        r = a; // identity on targets with one address space
      } else {
        Value *p = B.CreateIntToPtr(B.CreateZExtOrTrunc(a, B.getInt64Ty()), PointerType::get(ctx, from));
        r = B.CreateZExtOrTrunc(
            B.CreatePtrToInt(B.CreateAddrSpaceCast(p, PointerType::get(ctx, dest)), B.getInt64Ty()), it);
      }
    }
    CUVIRT_TRY(set(in.ops[0], r, t));
    return Handled::Yes;
  }
  if (op != "cvt")
    return Handled::No;
  auto tys = types(in);
  if (tys.size() < 2)
    return err(in.loc, "cvt needs .dtype.atype");
  Type dt = tys[tys.size() - 2], at = tys.back();
  if (dt == Type::E4M3x2 || dt == Type::E5M2x2 || at == Type::E4M3x2 || at == Type::E5M2x2)
    return err(in.loc, "cvt to or from fp8 types is not supported");
  if (in.ops.size() < 2)
    return err(in.loc, "cvt expects 2 operands");
  // cvt.rn.f16x2.f32 d, a, b: d = {cvt(a) in the upper half, cvt(b) in the lower}
  if (dt == Type::F16x2 || dt == Type::BF16x2) {
    if (in.ops.size() != 3)
      return err(in.loc, "cvt to a packed pair expects 3 operands");
    if (!isFpType(at))
      return err(in.loc, "cvt to a packed pair needs floating-point sources");
    PTX_GET(a, get(in.ops[1], at));
    PTX_GET(b, get(in.ops[2], at));
    llvm::Type *et = dt == Type::F16x2 ? B.getHalfTy() : B.getBFloatTy();
    Value *v = UndefValue::get(FixedVectorType::get(et, 2));
    const Rounding rnd = rounding(in);
    auto narrow = [&](Value *x) {
      // bf16 and directed rounding exactly in integers (the host's bf16
      // conversion flushes f32 denormals)
      return et->isBFloatTy() || rnd != Rounding::Nearest ? narrowFloat(x, et, rnd) : B.CreateFPTrunc(x, et);
    };
    Value *lo = narrow(b), *hi = narrow(a);
    if (in.has(".relu")) {
      lo = B.CreateBinaryIntrinsic(Intrinsic::maxnum, lo, ConstantFP::get(et, 0.0));
      hi = B.CreateBinaryIntrinsic(Intrinsic::maxnum, hi, ConstantFP::get(et, 0.0));
    }
    v = B.CreateInsertElement(v, lo, uint64_t(0));
    v = B.CreateInsertElement(v, hi, uint64_t(1));
    CUVIRT_TRY(set(in.ops[0], v, dt));
    return Handled::Yes;
  }
  if (in.ops.size() != 2)
    return err(in.loc, "cvt expects 2 operands");
  if (at == Type::F16x2 || at == Type::BF16x2 || at == Type::Pred || dt == Type::Pred)
    return err(in.loc, fmt::format("cvt from {} to {} is not supported", typeName(at), typeName(dt)));
  if (dt == Type::TF32 && at != Type::F32)
    return err(in.loc, "cvt to .tf32 needs an .f32 source");
  PTX_GET(a, get(in.ops[1], at));
  llvm::Type *dty = valueType(dt);
  Value *r;
  const bool sat = in.has(".sat");
  const Rounding rnd = rounding(in);
  if (dt == Type::TF32) {
    // round f32 to tf32 (10-bit mantissa), nearest away from zero
    Value *bits = B.CreateBitCast(a, i32());
    r = B.CreateAnd(B.CreateAdd(bits, B.getInt32(0x1000)), B.getInt32(0xFFFFE000));
  } else if (isFpType(at) && isFpType(dt)) {
    llvm::Type *st = a->getType();
    unsigned sb = st->getPrimitiveSizeInBits(), db = dty->getPrimitiveSizeInBits();
    // narrowing to bf16 or with .rz/.rm/.rp: exact integer rounding (the
    // host's bf16 conversion flushes f32 denormals)
    auto narrow = [&](Value *x) {
      return dty->isBFloatTy() || rnd != Rounding::Nearest ? narrowFloat(x, dty, rnd)
                                                           : B.CreateFPTrunc(x, dty);
    };
    if (st == dty)
      r = a;
    else if (sb == db) // f16 <-> bf16 through f32
      r = narrow(B.CreateFPExt(a, B.getFloatTy()));
    else if (sb < db)
      r = B.CreateFPExt(a, dty);
    else
      r = narrow(a);
    if (Intrinsic::ID rnd = integerRounding(in); rnd != Intrinsic::not_intrinsic)
      r = B.CreateUnaryIntrinsic(rnd, r);
  } else if (isFpType(at)) { // float -> integer: PTX saturates, NaN -> 0 (fpto*i.sat)
    Intrinsic::ID rnd = integerRounding(in);
    if (rnd == Intrinsic::not_intrinsic)
      rnd = Intrinsic::trunc;
    Value *x = B.CreateUnaryIntrinsic(rnd, a);
    if (x->getType()->isHalfTy() || x->getType()->isBFloatTy())
      x = B.CreateFPExt(x, B.getFloatTy());
    r = B.CreateIntrinsic(isSigned(dt) ? Intrinsic::fptosi_sat : Intrinsic::fptoui_sat, {dty, x->getType()},
                          {x});
  } else if (isFpType(dt)) { // integer -> float
    if (rnd == Rounding::Nearest && !dty->isBFloatTy()) {
      r = isSigned(at) ? B.CreateSIToFP(a, dty) : B.CreateUIToFP(a, dty);
    } else { // exact: |a| * 2^0 rounded in integers (bf16: no double rounding through f32)
      Value *w = isSigned(at) ? B.CreateSExt(a, B.getInt64Ty()) : B.CreateZExt(a, B.getInt64Ty());
      Value *neg = isSigned(at) ? B.CreateICmpSLT(w, B.getInt64(0)) : (Value *)B.getFalse();
      Value *mag = B.CreateSelect(neg, B.CreateNeg(w), w);
      r = roundToFloat(neg, mag, B.getInt32(0), dty, rnd);
    }
  } else { // integer -> integer
    unsigned aw = a->getType()->getIntegerBitWidth(), dw = dty->getIntegerBitWidth();
    Value *x = a;
    if (sat) {
      // clamp to the destination's range, computed in a width that holds both
      unsigned ww = std::max(aw, dw) + 1;
      llvm::Type *W = intTy(ww);
      Value *xw = isSigned(at) ? B.CreateSExt(a, W) : B.CreateZExt(a, W);
      APInt lo = isSigned(dt) ? APInt::getSignedMinValue(dw).sext(ww) : APInt(ww, 0);
      APInt hi = isSigned(dt) ? APInt::getSignedMaxValue(dw).sext(ww) : APInt::getMaxValue(dw).zext(ww);
      xw = B.CreateBinaryIntrinsic(Intrinsic::smax, xw, ConstantInt::get(W, lo));
      xw = B.CreateBinaryIntrinsic(Intrinsic::smin, xw, ConstantInt::get(W, hi));
      r = B.CreateTrunc(xw, dty);
    } else if (aw < dw) {
      r = isSigned(at) ? B.CreateSExt(x, dty) : B.CreateZExt(x, dty);
    } else {
      r = B.CreateTrunc(x, dty);
    }
  }
  if (in.has(".ftz") && r->getType()->isFloatTy()) {
    // an f32 denormal result (or, for cvt.f32.f32, input) becomes a zero of the same sign
    Value *tiny = B.CreateFCmpOLT(B.CreateUnaryIntrinsic(Intrinsic::fabs, r), ConstantFP::get(dty, 0x1p-126));
    r = B.CreateSelect(tiny, B.CreateBinaryIntrinsic(Intrinsic::copysign, ConstantFP::get(dty, 0.0), r), r);
  }
  if (sat && dty->isFloatingPointTy())
    r = B.CreateBinaryIntrinsic(Intrinsic::minnum,
                                B.CreateBinaryIntrinsic(Intrinsic::maxnum, r, ConstantFP::get(dty, 0.0)),
                                ConstantFP::get(dty, 1.0));
  CUVIRT_TRY(set(in.ops[0], r, dt));
  return Handled::Yes;
}

} // namespace cuvirt::ptx::lowering
