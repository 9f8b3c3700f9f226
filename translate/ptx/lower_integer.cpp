// Integer and bit arithmetic: add/sub/mul/mad (.lo/.hi/.wide/.sat/.cc), div,
// rem, min/max, shifts, logic, bfe/bfi/prmt/lop3/shf, popc/clz/brev/bfind/fns,
// sad, dp4a/dp2a and the 16x2 SIMD forms.
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

namespace {
bool isIntLike(Type t) { return isSigned(t) || isUnsigned(t) || isBits(t) || t == Type::Pred; }
} // namespace

Expected<Handled> FunctionLowering::lowerInteger(const Instr &in) {
  const std::string &op = in.opcode;
  auto tys = types(in);
  // 16x2 SIMD integer forms (add.u16x2, max.s16x2, min.relu.s16x2, ...)
  bool simd16 = in.has(".u16x2") || in.has(".s16x2");
  if (simd16 && (op == "add" || op == "sub" || op == "min" || op == "max" || op == "neg" || op == "abs")) {
    bool sgn = in.has(".s16x2");
    auto *vt = FixedVectorType::get(B.getInt16Ty(), 2);
    std::vector<Value *> v;
    for (std::size_t i = 1; i < in.ops.size(); ++i) {
      PTX_GET(x, get(in.ops[i], Type::B32));
      v.push_back(B.CreateBitCast(x, vt));
    }
    if (v.empty())
      return err(in.loc, "missing operands");
    Value *r;
    if (op == "add")
      r = B.CreateAdd(v[0], v.at(1));
    else if (op == "sub")
      r = B.CreateSub(v[0], v.at(1));
    else if (op == "neg")
      r = B.CreateNeg(v[0]);
    else if (op == "abs")
      r = B.CreateBinaryIntrinsic(Intrinsic::abs, v[0], B.getFalse());
    else {
      Intrinsic::ID id =
          op == "min" ? (sgn ? Intrinsic::smin : Intrinsic::umin) : (sgn ? Intrinsic::smax : Intrinsic::umax);
      if (v.size() < 2)
        return err(in.loc, "missing operands");
      r = B.CreateBinaryIntrinsic(id, v[0], v[1]);
      if (in.has(".relu"))
        r = B.CreateBinaryIntrinsic(Intrinsic::smax, r, Constant::getNullValue(vt));
    }
    CUVIRT_TRY(set(in.ops[0], B.CreateBitCast(r, i32()), Type::B32));
    return Handled::Yes;
  }
  // SIMD video instructions: vadd4/vsub4/vabsdiff4/vmin4/vmax4 and the 2-lane forms,
  // with the default lane selection and mask (merge: all lanes; .add: sum + c)
  if (op.size() > 2 && op[0] == 'v' && (op.back() == '2' || op.back() == '4') &&
      (op.rfind("vadd", 0) == 0 || op.rfind("vsub", 0) == 0 || op.rfind("vabsdiff", 0) == 0 ||
       op.rfind("vmin", 0) == 0 || op.rfind("vmax", 0) == 0)) {
    if (in.ops.size() != 4 || tys.size() != 3)
      return err(in.loc, fmt::format("'{}' expects .dtype.atype.btype d, a, b, c", op));
    for (auto &o : in.ops)
      if (o.name.find('.') != std::string::npos)
        return err(o.loc, fmt::format("'{}' with lane selectors or masks is not supported", op));
    unsigned lanes = op.back() - '0', lw = 32 / lanes;
    bool as = isSigned(tys[1]), bs = isSigned(tys[2]);
    PTX_GET(a, get(in.ops[1], Type::B32));
    PTX_GET(b, get(in.ops[2], Type::B32));
    PTX_GET(c, get(in.ops[3], Type::B32));
    std::string base = op.substr(0, op.size() - 1);
    Value *r = B.getInt32(0), *sum = c;
    for (unsigned k = 0; k < lanes; ++k) {
      auto lane = [&](Value *x, bool s) {
        Value *e = B.CreateTrunc(B.CreateLShr(x, lw * k), intTy(lw));
        return s ? B.CreateSExt(e, i32()) : B.CreateZExt(e, i32());
      };
      Value *x = lane(a, as), *y = lane(b, bs), *v;
      if (base == "vadd")
        v = B.CreateAdd(x, y);
      else if (base == "vsub")
        v = B.CreateSub(x, y);
      else if (base == "vabsdiff")
        v = B.CreateBinaryIntrinsic(Intrinsic::abs, B.CreateSub(x, y), B.getFalse());
      else if (base == "vmin")
        v = (as || bs) ? B.CreateBinaryIntrinsic(Intrinsic::smin, x, y)
                       : B.CreateBinaryIntrinsic(Intrinsic::umin, x, y);
      else
        v = (as || bs) ? B.CreateBinaryIntrinsic(Intrinsic::smax, x, y)
                       : B.CreateBinaryIntrinsic(Intrinsic::umax, x, y);
      sum = B.CreateAdd(sum, v);
      r = B.CreateOr(r, B.CreateShl(B.CreateAnd(v, B.getInt32((1u << lw) - 1)), lw * k));
    }
    CUVIRT_TRY(set(in.ops[0], in.has(".add") ? sum : r, Type::B32));
    return Handled::Yes;
  }
  // bmsk.{clamp,wrap}.b32 d, a, b: b one-bits starting at a; szext: extend from bit b
  if (op == "bmsk" || op == "szext") {
    if (in.ops.size() != 3 || tys.empty())
      return err(in.loc, fmt::format("'{}' expects .mode.type d, a, b", op));
    PTX_GET(a, get(in.ops[1], Type::U32));
    PTX_GET(b, get(in.ops[2], Type::U32));
    bool wrap = in.has(".wrap");
    auto fix = [&](Value *x) {
      return wrap ? B.CreateAnd(x, 31) : B.CreateBinaryIntrinsic(Intrinsic::umin, x, B.getInt32(32));
    };
    Value *r;
    if (op == "bmsk") {
      Value *pos = B.CreateZExt(fix(a), B.getInt64Ty()), *len = B.CreateZExt(fix(b), B.getInt64Ty());
      Value *m = B.CreateSub(B.CreateShl(B.getInt64(1), len), B.getInt64(1));
      r = B.CreateTrunc(B.CreateShl(m, pos), i32());
    } else {
      // keep the low n bits, extending bit n-1 (n = 0 gives 0)
      Value *n = fix(b);
      Value *k = B.CreateZExt(B.CreateSub(B.getInt32(32), n), B.getInt64Ty());
      Value *a64 = B.CreateShl(B.CreateZExt(a, B.getInt64Ty()), B.CreateAdd(k, B.getInt64(32)));
      Value *ext = isSigned(tys.back()) ? B.CreateAShr(a64, B.CreateAdd(k, B.getInt64(32)))
                                        : B.CreateLShr(a64, B.CreateAdd(k, B.getInt64(32)));
      r = B.CreateSelect(B.CreateICmpEQ(n, B.getInt32(0)), B.getInt32(0), B.CreateTrunc(ext, i32()));
    }
    CUVIRT_TRY(set(in.ops[0], r, tys.back()));
    return Handled::Yes;
  }
  static const char *const known[] = {"add", "sub",  "mul",  "mad",  "mul24", "mad24", "div",   "rem", "abs",
                                      "neg", "min",  "max",  "popc", "clz",   "brev",  "bfind", "fns", "bfe",
                                      "bfi", "prmt", "lop3", "shf",  "shl",   "shr",   "and",   "or",  "xor",
                                      "not", "cnot", "sad",  "dp4a", "dp2a",  "addc",  "subc",  "madc"};
  bool isKnown = false;
  for (auto *k : known)
    isKnown |= op == k;
  if (!isKnown)
    return Handled::No;
  if (tys.empty())
    return err(in.loc, fmt::format("'{}' needs a type", op));
  Type t = tys.back();
  if (!isIntLike(t) && op != "dp4a" && op != "dp2a")
    return Handled::No; // floating point: lowerFloat
  if (t == Type::Pred && op != "and" && op != "or" && op != "xor" && op != "not")
    return err(in.loc, fmt::format("'{}' is not defined on .pred", op));
  if (in.ops.empty())
    return err(in.loc, "missing operands");
  const unsigned w = t == Type::Pred ? 1 : typeSize(t) * 8;
  const bool sgn = isSigned(t);
  auto need = [&](std::size_t n) -> Status {
    if (in.ops.size() != n)
      return err(in.loc, fmt::format("'{}' expects {} operands, got {}", op, n, in.ops.size()));
    return Status::success();
  };
  auto src = [&](std::size_t i, Type ty) { return get(in.ops[i], ty); };
  auto iN = [&](unsigned bits) { return intTy(bits); };
  const Operand &dst = in.ops[0];

  if (op == "add" || op == "sub" || op == "addc" || op == "subc") {
    CUVIRT_TRY(need(3));
    PTX_GET(a, src(1, t));
    PTX_GET(b, src(2, t));
    bool isAdd = op == "add" || op == "addc";
    bool useCarry = op == "addc" || op == "subc";
    bool setCarry = in.has(".cc");
    Value *r;
    if (in.has(".sat") && !useCarry) {
      r = B.CreateBinaryIntrinsic(isAdd ? Intrinsic::sadd_sat : Intrinsic::ssub_sat, a, b);
    } else if (useCarry || setCarry) {
      // carry chains in a wider type: the carry-out is the bit above the word
      Value *aw = B.CreateZExt(a, iN(w + 1)), *bw = B.CreateZExt(b, iN(w + 1));
      Value *cin = useCarry ? B.CreateZExt(B.CreateLoad(B.getInt1Ty(), carry()), iN(w + 1)) : nullptr;
      Value *s = isAdd ? B.CreateAdd(aw, bw) : B.CreateSub(aw, bw);
      if (cin)
        s = isAdd ? B.CreateAdd(s, cin) : B.CreateSub(s, cin);
      r = B.CreateTrunc(s, iN(w));
      if (setCarry) // add: carry-out; sub: borrow-out
        B.CreateStore(B.CreateTrunc(B.CreateLShr(s, w), B.getInt1Ty()), carry());
    } else {
      r = isAdd ? B.CreateAdd(a, b) : B.CreateSub(a, b);
    }
    CUVIRT_TRY(set(dst, r, t));
    return Handled::Yes;
  }
  if (op == "mul" || op == "mad" || op == "madc") {
    bool isMad = op != "mul";
    CUVIRT_TRY(need(isMad ? 4 : 3));
    PTX_GET(a, src(1, t));
    PTX_GET(b, src(2, t));
    bool wide = in.has(".wide"), hi = in.has(".hi");
    if (wide && w != 16 && w != 32)
      return err(in.loc, fmt::format("{}.wide needs 16- or 32-bit operands", op));
    Value *p;
    unsigned rw = wide ? 2 * w : w;
    if (wide || hi) {
      Value *aw = sgn ? B.CreateSExt(a, iN(2 * w)) : B.CreateZExt(a, iN(2 * w));
      Value *bw = sgn ? B.CreateSExt(b, iN(2 * w)) : B.CreateZExt(b, iN(2 * w));
      p = B.CreateMul(aw, bw);
      if (hi)
        p = B.CreateTrunc(B.CreateLShr(p, w), iN(w));
    } else {
      p = B.CreateMul(a, b);
    }
    Type rt = wide ? (sgn ? (w == 16 ? Type::S32 : Type::S64) : (w == 16 ? Type::U32 : Type::U64)) : t;
    if (wide && w == 32)
      rt = sgn ? Type::S64 : Type::U64;
    if (wide && w == 64)
      return err(in.loc, "mul.wide on 64-bit operands is not valid PTX");
    if (isMad) {
      PTX_GET(c, src(3, rt));
      bool useCarry = op == "madc", setCarry = in.has(".cc");
      if (in.has(".sat") && hi && sgn) {
        p = B.CreateBinaryIntrinsic(Intrinsic::sadd_sat, p, c);
      } else if (useCarry || setCarry) {
        Value *s = B.CreateAdd(B.CreateZExt(p, iN(rw + 1)), B.CreateZExt(c, iN(rw + 1)));
        if (useCarry)
          s = B.CreateAdd(s, B.CreateZExt(B.CreateLoad(B.getInt1Ty(), carry()), iN(rw + 1)));
        p = B.CreateTrunc(s, iN(rw));
        if (setCarry)
          B.CreateStore(B.CreateTrunc(B.CreateLShr(s, rw), B.getInt1Ty()), carry());
      } else {
        p = B.CreateAdd(p, c);
      }
    }
    CUVIRT_TRY(set(dst, p, rt));
    return Handled::Yes;
  }
  if (op == "mul24" || op == "mad24") {
    CUVIRT_TRY(need(op == "mad24" ? 4 : 3));
    if (w != 32)
      return err(in.loc, fmt::format("{} needs .u32 or .s32", op));
    PTX_GET(a, src(1, t));
    PTX_GET(b, src(2, t));
    auto ext24 = [&](Value *x) {
      Value *x24 = B.CreateTrunc(x, iN(24));
      return sgn ? B.CreateSExt(x24, B.getInt64Ty()) : B.CreateZExt(x24, B.getInt64Ty());
    };
    Value *p = B.CreateMul(ext24(a), ext24(b));
    p = in.has(".hi") ? B.CreateTrunc(B.CreateLShr(p, 16), i32()) : B.CreateTrunc(p, i32());
    if (op == "mad24") {
      PTX_GET(c, src(3, t));
      p = in.has(".sat") ? B.CreateBinaryIntrinsic(Intrinsic::sadd_sat, p, c) : B.CreateAdd(p, c);
    }
    CUVIRT_TRY(set(dst, p, t));
    return Handled::Yes;
  }
  if (op == "div" || op == "rem") {
    CUVIRT_TRY(need(3));
    PTX_GET(a, src(1, t));
    PTX_GET(b, src(2, t));
    // division by zero (and INT_MIN / -1) is not a trap on the GPU: keep it defined
    Value *zero = ConstantInt::get(a->getType(), 0), *one = ConstantInt::get(a->getType(), 1);
    Value *bz = B.CreateICmpEQ(b, zero);
    Value *safe = B.CreateSelect(bz, one, b);
    Value *r;
    if (sgn) {
      Value *m1 = B.CreateICmpEQ(b, Constant::getAllOnesValue(a->getType()));
      safe = B.CreateSelect(m1, one, safe);
      if (op == "div")
        r = B.CreateSelect(m1, B.CreateNeg(a), B.CreateSDiv(a, safe));
      else
        r = B.CreateSelect(m1, zero, B.CreateSRem(a, safe));
    } else {
      r = op == "div" ? B.CreateUDiv(a, safe) : B.CreateURem(a, safe);
    }
    // GPU results for x/0: all ones (div) and x (rem)
    r = B.CreateSelect(bz, op == "div" ? Constant::getAllOnesValue(a->getType()) : a, r);
    CUVIRT_TRY(set(dst, r, t));
    return Handled::Yes;
  }
  if (op == "abs" || op == "neg" || op == "not" || op == "cnot" || op == "popc" || op == "clz" ||
      op == "brev" || op == "bfind") {
    CUVIRT_TRY(need(2));
    PTX_GET(a, src(1, t));
    Value *r;
    Type rt = t;
    if (op == "abs")
      r = B.CreateBinaryIntrinsic(Intrinsic::abs, a, B.getFalse());
    else if (op == "neg")
      r = B.CreateNeg(a);
    else if (op == "not")
      r = B.CreateNot(a);
    else if (op == "cnot")
      r = B.CreateZExt(B.CreateICmpEQ(a, ConstantInt::get(a->getType(), 0)), a->getType());
    else if (op == "popc") {
      r = B.CreateZExtOrTrunc(B.CreateUnaryIntrinsic(Intrinsic::ctpop, a), i32());
      rt = Type::U32;
    } else if (op == "clz") {
      r = B.CreateZExtOrTrunc(B.CreateBinaryIntrinsic(Intrinsic::ctlz, a, B.getFalse()), i32());
      rt = Type::U32;
    } else if (op == "brev")
      r = B.CreateUnaryIntrinsic(Intrinsic::bitreverse, a);
    else {
      Value *x = a;
      if (sgn)
        x = B.CreateSelect(B.CreateICmpSLT(a, ConstantInt::get(a->getType(), 0)), B.CreateNot(a), a);
      Value *lz = B.CreateZExtOrTrunc(B.CreateBinaryIntrinsic(Intrinsic::ctlz, x, B.getFalse()), i32());
      Value *pos = in.has(".shiftamt") ? lz : B.CreateSub(B.getInt32(w - 1), lz);
      r = B.CreateSelect(B.CreateICmpEQ(x, ConstantInt::get(x->getType(), 0)), B.getInt32(0xFFFFFFFF), pos);
      rt = Type::U32;
    }
    CUVIRT_TRY(set(dst, r, rt));
    return Handled::Yes;
  }
  if (op == "min" || op == "max") {
    CUVIRT_TRY(need(3));
    PTX_GET(a, src(1, t));
    PTX_GET(b, src(2, t));
    Intrinsic::ID id =
        op == "min" ? (sgn ? Intrinsic::smin : Intrinsic::umin) : (sgn ? Intrinsic::smax : Intrinsic::umax);
    Value *r = B.CreateBinaryIntrinsic(id, a, b);
    if (in.has(".relu"))
      r = B.CreateBinaryIntrinsic(Intrinsic::smax, r, ConstantInt::get(r->getType(), 0));
    CUVIRT_TRY(set(dst, r, t));
    return Handled::Yes;
  }
  if (op == "and" || op == "or" || op == "xor") {
    CUVIRT_TRY(need(3));
    PTX_GET(a, src(1, t));
    PTX_GET(b, src(2, t));
    Value *r = op == "and" ? B.CreateAnd(a, b) : op == "or" ? B.CreateOr(a, b) : B.CreateXor(a, b);
    CUVIRT_TRY(set(dst, r, t));
    return Handled::Yes;
  }
  if (op == "shl" || op == "shr") {
    CUVIRT_TRY(need(3));
    PTX_GET(a, src(1, t));
    PTX_GET(n, src(2, Type::U32));
    // PTX clamps shift amounts >= the width; LLVM would make them poison
    Value *nw = B.CreateZExtOrTrunc(n, a->getType());
    if (w < 32)
      nw = B.CreateTrunc(B.CreateBinaryIntrinsic(Intrinsic::umin, n, B.getInt32(w)), a->getType());
    else if (w > 32)
      nw = B.CreateZExt(n, a->getType());
    Value *big = B.CreateICmpUGE(n, B.getInt32(w));
    Value *r;
    if (op == "shl") {
      r = B.CreateSelect(big, ConstantInt::get(a->getType(), 0),
                         B.CreateShl(a, B.CreateSelect(big, ConstantInt::get(a->getType(), 0), nw)));
    } else if (sgn) {
      r = B.CreateAShr(a, B.CreateSelect(big, ConstantInt::get(a->getType(), w - 1), nw));
    } else {
      r = B.CreateSelect(big, ConstantInt::get(a->getType(), 0),
                         B.CreateLShr(a, B.CreateSelect(big, ConstantInt::get(a->getType(), 0), nw)));
    }
    CUVIRT_TRY(set(dst, r, t));
    return Handled::Yes;
  }
  if (op == "shf") {
    CUVIRT_TRY(need(4));
    PTX_GET(a, src(1, Type::B32));
    PTX_GET(b, src(2, Type::B32));
    PTX_GET(c, src(3, Type::U32));
    Value *n =
        in.has(".clamp") ? B.CreateBinaryIntrinsic(Intrinsic::umin, c, B.getInt32(32)) : B.CreateAnd(c, 31);
    Value *cat =
        B.CreateOr(B.CreateShl(B.CreateZExt(b, B.getInt64Ty()), 32), B.CreateZExt(a, B.getInt64Ty()));
    Value *n64 = B.CreateZExt(n, B.getInt64Ty());
    Value *r = in.has(".l") ? B.CreateTrunc(B.CreateLShr(B.CreateShl(cat, n64), 32), i32())
                            : B.CreateTrunc(B.CreateLShr(cat, n64), i32());
    CUVIRT_TRY(set(dst, r, Type::B32));
    return Handled::Yes;
  }
  if (op == "bfe") {
    CUVIRT_TRY(need(4));
    PTX_GET(a, src(1, t));
    PTX_GET(pb, src(2, Type::U32));
    PTX_GET(lb, src(3, Type::U32));
    Type wt = w == 32 ? Type::B64 : Type::B128;
    llvm::Type *W = valueType(wt);
    Value *pos = B.CreateBinaryIntrinsic(Intrinsic::umin, B.CreateAnd(pb, 0xFF), B.getInt32(w));
    Value *len = B.CreateBinaryIntrinsic(Intrinsic::umin, B.CreateAnd(lb, 0xFF), B.getInt32(w));
    Value *A = sgn ? B.CreateSExt(a, W) : B.CreateZExt(a, W);
    Value *sh = sgn ? B.CreateAShr(A, B.CreateZExt(pos, W)) : B.CreateLShr(A, B.CreateZExt(pos, W));
    Value *lenW = B.CreateZExt(len, W);
    Value *mask = B.CreateSub(B.CreateShl(ConstantInt::get(W, 1), lenW), ConstantInt::get(W, 1));
    Value *r = B.CreateAnd(sh, mask);
    if (sgn) {
      Value *k = B.CreateSub(ConstantInt::get(W, 2 * w), lenW);
      r = B.CreateAShr(B.CreateShl(r, k), k);
    }
    r = B.CreateSelect(B.CreateICmpEQ(len, B.getInt32(0)), ConstantInt::get(W, 0), r);
    CUVIRT_TRY(set(dst, B.CreateTrunc(r, iN(w)), t));
    return Handled::Yes;
  }
  if (op == "bfi") {
    CUVIRT_TRY(need(5));
    PTX_GET(f, src(1, t));
    PTX_GET(b, src(2, t));
    PTX_GET(pb, src(3, Type::U32));
    PTX_GET(lb, src(4, Type::U32));
    llvm::Type *W = iN(2 * w);
    Value *pos =
        B.CreateZExt(B.CreateBinaryIntrinsic(Intrinsic::umin, B.CreateAnd(pb, 0xFF), B.getInt32(w)), W);
    Value *len =
        B.CreateZExt(B.CreateBinaryIntrinsic(Intrinsic::umin, B.CreateAnd(lb, 0xFF), B.getInt32(w)), W);
    Value *mask =
        B.CreateShl(B.CreateSub(B.CreateShl(ConstantInt::get(W, 1), len), ConstantInt::get(W, 1)), pos);
    Value *r = B.CreateOr(B.CreateAnd(B.CreateZExt(b, W), B.CreateNot(mask)),
                          B.CreateAnd(B.CreateShl(B.CreateZExt(f, W), pos), mask));
    CUVIRT_TRY(set(dst, B.CreateTrunc(r, iN(w)), t));
    return Handled::Yes;
  }
  if (op == "prmt") {
    CUVIRT_TRY(need(4));
    PTX_GET(a, src(1, Type::B32));
    PTX_GET(b, src(2, Type::B32));
    PTX_GET(c, src(3, Type::B32));
    Value *tmp =
        B.CreateOr(B.CreateShl(B.CreateZExt(b, B.getInt64Ty()), 32), B.CreateZExt(a, B.getInt64Ty()));
    Value *shift = B.CreateAnd(c, 3);
    Value *r = B.getInt32(0);
    for (unsigned i = 0; i < 4; ++i) {
      Value *idx;
      bool signRep = false;
      Value *sel = nullptr;
      if (in.has(".f4e"))
        idx = B.CreateAnd(B.CreateAdd(shift, B.getInt32(i)), 7);
      else if (in.has(".b4e"))
        idx = B.CreateAnd(B.CreateSub(shift, B.getInt32(i)), 7);
      else if (in.has(".rc8"))
        idx = shift;
      else if (in.has(".ecl"))
        idx = B.CreateBinaryIntrinsic(Intrinsic::umax, shift, B.getInt32(i));
      else if (in.has(".ecr"))
        idx = B.CreateBinaryIntrinsic(Intrinsic::umin, shift, B.getInt32(i));
      else if (in.has(".rc16"))
        idx = B.CreateAdd(B.CreateShl(B.CreateAnd(shift, 1), 1), B.getInt32(i & 1));
      else {
        sel = B.CreateAnd(B.CreateLShr(c, 4 * i), 0xF);
        idx = B.CreateAnd(sel, 7);
        signRep = true;
      }
      Value *byte =
          B.CreateTrunc(B.CreateLShr(tmp, B.CreateZExt(B.CreateShl(idx, 3), B.getInt64Ty())), B.getInt8Ty());
      if (signRep) {
        Value *rep = B.CreateSelect(B.CreateICmpSLT(byte, B.getInt8(0)), B.getInt8(0xFF), B.getInt8(0));
        byte = B.CreateSelect(B.CreateICmpNE(B.CreateAnd(sel, 8), B.getInt32(0)), rep, byte);
      }
      r = B.CreateOr(r, B.CreateShl(B.CreateZExt(byte, i32()), 8 * i));
    }
    CUVIRT_TRY(set(dst, r, Type::B32));
    return Handled::Yes;
  }
  if (op == "lop3") {
    CUVIRT_TRY(need(5));
    PTX_GET(a, src(1, t));
    PTX_GET(b, src(2, t));
    PTX_GET(c, src(3, t));
    if (in.ops[4].kind != Operand::Kind::Int)
      return err(in.ops[4].loc, "lop3 needs an immediate lookup table");
    unsigned lut = unsigned(in.ops[4].imm) & 0xFF;
    Value *r = ConstantInt::get(a->getType(), 0);
    for (unsigned k = 0; k < 8; ++k) {
      if (!(lut >> k & 1))
        continue;
      Value *m = B.CreateAnd(B.CreateAnd(k & 4 ? a : B.CreateNot(a), k & 2 ? b : B.CreateNot(b)),
                             k & 1 ? c : B.CreateNot(c));
      r = B.CreateOr(r, m);
    }
    CUVIRT_TRY(set(dst, r, t));
    return Handled::Yes;
  }
  if (op == "fns") {
    CUVIRT_TRY(need(4));
    PTX_GET(mask, src(1, Type::B32));
    PTX_GET(base, src(2, Type::U32));
    PTX_GET(off, src(3, Type::S32));
    // the unique position p with bit p set and the right count of set bits between base and p
    Value *up = B.CreateICmpSGT(off, B.getInt32(0));
    Value *n = B.CreateBinaryIntrinsic(Intrinsic::abs, off, B.getFalse());
    Value *base31 = B.CreateAnd(base, 31);
    Value *r = B.getInt32(0xFFFFFFFF);
    Value *fromBase = B.CreateShl(B.getInt32(0xFFFFFFFF), base31);                             // bits >= base
    Value *toBase = B.CreateLShr(B.getInt32(0xFFFFFFFF), B.CreateSub(B.getInt32(31), base31)); // bits <= base
    for (int p = 31; p >= 0; --p) {
      Value *bit = B.CreateICmpNE(B.CreateAnd(mask, B.getInt32(1u << p)), B.getInt32(0));
      Value *upBits =
          B.CreateAnd(B.CreateAnd(mask, fromBase), B.getInt32(p == 31 ? 0xFFFFFFFFu : (2u << p) - 1));
      Value *downBits = B.CreateAnd(B.CreateAnd(mask, toBase), B.getInt32(0xFFFFFFFFu << p));
      Value *cnt = B.CreateUnaryIntrinsic(Intrinsic::ctpop, B.CreateSelect(up, upBits, downBits));
      Value *inRange =
          B.CreateSelect(up, B.CreateICmpUGE(B.getInt32(p), base31), B.CreateICmpULE(B.getInt32(p), base31));
      Value *hit = B.CreateAnd(B.CreateAnd(bit, inRange), B.CreateICmpEQ(cnt, n));
      r = B.CreateSelect(hit, B.getInt32(p), r);
    }
    // offset 0: base itself if its bit is set
    Value *baseSet = B.CreateICmpNE(B.CreateAnd(B.CreateLShr(mask, base31), 1), B.getInt32(0));
    r = B.CreateSelect(B.CreateICmpEQ(off, B.getInt32(0)),
                       B.CreateSelect(baseSet, base31, B.getInt32(0xFFFFFFFF)), r);
    CUVIRT_TRY(set(dst, r, Type::B32));
    return Handled::Yes;
  }
  if (op == "sad") {
    CUVIRT_TRY(need(4));
    PTX_GET(a, src(1, t));
    PTX_GET(b, src(2, t));
    PTX_GET(c, src(3, t));
    Value *gt = sgn ? B.CreateICmpSGT(a, b) : B.CreateICmpUGT(a, b);
    Value *d = B.CreateSelect(gt, B.CreateSub(a, b), B.CreateSub(b, a));
    CUVIRT_TRY(set(dst, B.CreateAdd(c, d), t));
    return Handled::Yes;
  }
  if (op == "dp4a" || op == "dp2a") {
    CUVIRT_TRY(need(4));
    if (tys.size() < 2)
      return err(in.loc, fmt::format("{} needs .atype.btype", op));
    bool as = isSigned(tys[tys.size() - 2]), bs = isSigned(tys.back());
    PTX_GET(a, src(1, Type::B32));
    PTX_GET(b, src(2, Type::B32));
    PTX_GET(c, src(3, Type::B32));
    auto part = [&](Value *x, unsigned bits, unsigned k, bool s) {
      Value *e = B.CreateTrunc(B.CreateLShr(x, bits * k), iN(bits));
      return s ? B.CreateSExt(e, i32()) : B.CreateZExt(e, i32());
    };
    Value *r = c;
    if (op == "dp4a") {
      for (unsigned k = 0; k < 4; ++k)
        r = B.CreateAdd(r, B.CreateMul(part(a, 8, k, as), part(b, 8, k, bs)));
    } else {
      unsigned first = in.has(".hi") ? 2 : 0;
      for (unsigned k = 0; k < 2; ++k)
        r = B.CreateAdd(r, B.CreateMul(part(a, 16, k, as), part(b, 8, first + k, bs)));
    }
    CUVIRT_TRY(set(dst, r, Type::B32));
    return Handled::Yes;
  }
  return Handled::No;
}

} // namespace cuvirt::ptx::lowering
