// Floating point in f64/f32/f16/bf16 and the f16x2/bf16x2 pairs: arithmetic,
// fma, div, the .approx and IEEE math, min/max, abs/neg/copysign.
// Rounding-mode suffixes other than .rn are accepted and computed with
// round-to-nearest. .ftz (f32 only, as in PTX) flushes denormal inputs and
// results to a zero of the same sign.
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

namespace {
bool isFloatLike(Type t) {
  return t == Type::F16 || t == Type::BF16 || t == Type::F32 || t == Type::F64 || t == Type::F16x2 ||
         t == Type::BF16x2;
}
} // namespace

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
  if (op == "add")
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
