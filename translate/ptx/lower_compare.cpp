// Comparisons and selection: setp (with .and/.or/.xor and p|q), set, selp,
// slct, testp.
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

namespace {

bool predicateFor(std::string_view c, Type t, CmpInst::Predicate &p) {
  bool f = isFloat(t) || t == Type::F16x2 || t == Type::BF16x2;
  bool s = isSigned(t);
  struct Row {
    std::string_view name;
    CmpInst::Predicate fp, si, ui;
  };
  static const Row rows[] = {
      {".eq", CmpInst::FCMP_OEQ, CmpInst::ICMP_EQ, CmpInst::ICMP_EQ},
      {".ne", CmpInst::FCMP_ONE, CmpInst::ICMP_NE, CmpInst::ICMP_NE},
      {".lt", CmpInst::FCMP_OLT, CmpInst::ICMP_SLT, CmpInst::ICMP_ULT},
      {".le", CmpInst::FCMP_OLE, CmpInst::ICMP_SLE, CmpInst::ICMP_ULE},
      {".gt", CmpInst::FCMP_OGT, CmpInst::ICMP_SGT, CmpInst::ICMP_UGT},
      {".ge", CmpInst::FCMP_OGE, CmpInst::ICMP_SGE, CmpInst::ICMP_UGE},
      {".lo", CmpInst::BAD_FCMP_PREDICATE, CmpInst::ICMP_ULT, CmpInst::ICMP_ULT},
      {".ls", CmpInst::BAD_FCMP_PREDICATE, CmpInst::ICMP_ULE, CmpInst::ICMP_ULE},
      {".hi", CmpInst::BAD_FCMP_PREDICATE, CmpInst::ICMP_UGT, CmpInst::ICMP_UGT},
      {".hs", CmpInst::BAD_FCMP_PREDICATE, CmpInst::ICMP_UGE, CmpInst::ICMP_UGE},
      {".equ", CmpInst::FCMP_UEQ, CmpInst::BAD_ICMP_PREDICATE, CmpInst::BAD_ICMP_PREDICATE},
      {".neu", CmpInst::FCMP_UNE, CmpInst::BAD_ICMP_PREDICATE, CmpInst::BAD_ICMP_PREDICATE},
      {".ltu", CmpInst::FCMP_ULT, CmpInst::BAD_ICMP_PREDICATE, CmpInst::BAD_ICMP_PREDICATE},
      {".leu", CmpInst::FCMP_ULE, CmpInst::BAD_ICMP_PREDICATE, CmpInst::BAD_ICMP_PREDICATE},
      {".gtu", CmpInst::FCMP_UGT, CmpInst::BAD_ICMP_PREDICATE, CmpInst::BAD_ICMP_PREDICATE},
      {".geu", CmpInst::FCMP_UGE, CmpInst::BAD_ICMP_PREDICATE, CmpInst::BAD_ICMP_PREDICATE},
      {".num", CmpInst::FCMP_ORD, CmpInst::BAD_ICMP_PREDICATE, CmpInst::BAD_ICMP_PREDICATE},
      {".nan", CmpInst::FCMP_UNO, CmpInst::BAD_ICMP_PREDICATE, CmpInst::BAD_ICMP_PREDICATE},
  };
  for (auto &r : rows)
    if (r.name == c) {
      p = f ? r.fp : s ? r.si : r.ui;
      return f ? p != CmpInst::BAD_FCMP_PREDICATE : p != CmpInst::BAD_ICMP_PREDICATE;
    }
  return false;
}

} // namespace

Expected<Handled> FunctionLowering::lowerCompare(const Instr &in) {
  const std::string &op = in.opcode;
  if (op != "setp" && op != "set" && op != "selp" && op != "slct" && op != "testp")
    return Handled::No;
  auto tys = types(in);
  if (tys.empty())
    return err(in.loc, fmt::format("'{}' needs a type", op));
  if (in.ops.empty())
    return err(in.loc, "missing operands");
  auto need = [&](std::size_t lo, std::size_t hi) -> Status {
    if (in.ops.size() < lo || in.ops.size() > hi)
      return err(in.loc, fmt::format("'{}' has the wrong number of operands", op));
    return Status::success();
  };
  if (op == "selp") {
    CUVIRT_TRY(need(4, 4));
    Type t = tys.back();
    PTX_GET(a, get(in.ops[1], t));
    PTX_GET(b, get(in.ops[2], t));
    PTX_GET(c, get(in.ops[3], Type::Pred));
    CUVIRT_TRY(set(in.ops[0], B.CreateSelect(c, a, b), t));
    return Handled::Yes;
  }
  if (op == "slct") {
    CUVIRT_TRY(need(4, 4));
    if (tys.size() < 2)
      return err(in.loc, "slct needs .dtype.s32 or .dtype.f32");
    Type t = tys[0], ct = tys[1];
    PTX_GET(a, get(in.ops[1], t));
    PTX_GET(b, get(in.ops[2], t));
    PTX_GET(c, get(in.ops[3], ct));
    Value *ge = ct == Type::F32 ? B.CreateFCmpOGE(c, ConstantFP::get(c->getType(), 0.0))
                                : B.CreateICmpSGE(c, ConstantInt::get(c->getType(), 0));
    CUVIRT_TRY(set(in.ops[0], B.CreateSelect(ge, a, b), t));
    return Handled::Yes;
  }
  if (op == "testp") {
    CUVIRT_TRY(need(2, 2));
    Type t = tys.back();
    if (!isFloat(t))
      return err(in.loc, "testp needs a floating-point type");
    PTX_GET(a, get(in.ops[1], t));
    unsigned mask = 0;
    if (in.has(".finite"))
      mask = 504;
    else if (in.has(".infinite"))
      mask = 516;
    else if (in.has(".number"))
      mask = 1020;
    else if (in.has(".notanumber"))
      mask = 3;
    else if (in.has(".normal"))
      mask = 264;
    else if (in.has(".subnormal"))
      mask = 144;
    else
      return err(in.loc, "testp needs .finite/.infinite/.number/.notanumber/.normal/.subnormal");
    CUVIRT_TRY(set(in.ops[0], B.createIsFPClass(a, mask), Type::Pred));
    return Handled::Yes;
  }
  // setp / set
  Type st = tys.back();
  Type dt = op == "set" ? tys.front() : Type::Pred;
  if (op == "set" && tys.size() < 2)
    return err(in.loc, "set needs .dtype.stype");
  CmpInst::Predicate pred = CmpInst::BAD_ICMP_PREDICATE;
  bool found = false;
  for (auto &m : in.mods)
    if (predicateFor(m, st, pred)) {
      found = true;
      break;
    }
  if (!found)
    return err(in.loc, fmt::format("'{}' needs a comparison valid for {}", op, typeName(st)));
  CUVIRT_TRY(need(3, 4));
  PTX_GET(a, get(in.ops[1], st));
  PTX_GET(b, get(in.ops[2], st));
  Value *c = nullptr;
  if (in.ops.size() == 4) {
    PTX_GET(cv, get(in.ops[3], Type::Pred));
    c = cv;
  }
  bool fp = a->getType()->isFPOrFPVectorTy();
  Value *cmp = fp ? B.CreateFCmp(pred, a, b) : B.CreateICmp(pred, a, b);
  std::vector<Value *> parts;
  if (cmp->getType()->isVectorTy()) { // f16x2: lower half to p, upper to q
    parts.push_back(B.CreateExtractElement(cmp, uint64_t(0)));
    parts.push_back(B.CreateExtractElement(cmp, uint64_t(1)));
  } else {
    parts.push_back(cmp);
    parts.push_back(B.CreateNot(cmp));
  }
  auto combine = [&](Value *x) -> Value * {
    if (!c)
      return x;
    if (in.has(".and"))
      return B.CreateAnd(x, c);
    if (in.has(".or"))
      return B.CreateOr(x, c);
    if (in.has(".xor"))
      return B.CreateXor(x, c);
    return x;
  };
  if (c && !in.has(".and") && !in.has(".or") && !in.has(".xor"))
    return err(in.loc, fmt::format("'{}' with a fourth operand needs .and, .or or .xor", op));
  Value *p = combine(parts[0]);
  if (op == "set") {
    Value *r;
    llvm::Type *dty = valueType(dt);
    if (dty->isFPOrFPVectorTy())
      r = B.CreateSelect(p, ConstantFP::get(dty, 1.0), ConstantFP::get(dty, 0.0));
    else
      r = B.CreateSExt(p, dty);
    CUVIRT_TRY(set(in.ops[0], r, dt));
    return Handled::Yes;
  }
  CUVIRT_TRY(set(in.ops[0], p, Type::Pred));
  if (!in.ops[0].pairedPred.empty())
    CUVIRT_TRY(setReg(in.ops[0].pairedPred, in.ops[0].loc, combine(parts[1]), Type::Pred));
  return Handled::Yes;
}

} // namespace cuvirt::ptx::lowering
