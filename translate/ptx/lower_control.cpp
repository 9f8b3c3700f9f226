// Control flow: bra, brx.idx, call (direct, indirect), ret, exit.
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

namespace {

/// The pieces of `call (rets), callee, (args), proto;`.
struct CallParts {
  const Operand *rets = nullptr, *callee = nullptr, *args = nullptr, *proto = nullptr;
};

bool splitCall(const Instr &in, CallParts &c) {
  std::size_t i = 0;
  auto &ops = in.ops;
  if (i < ops.size() && ops[i].kind == Operand::Kind::List)
    c.rets = &ops[i++];
  if (i >= ops.size() || ops[i].kind != Operand::Kind::Reg)
    return false;
  c.callee = &ops[i++];
  if (i < ops.size() && ops[i].kind == Operand::Kind::List)
    c.args = &ops[i++];
  if (i < ops.size() && ops[i].kind == Operand::Kind::Reg)
    c.proto = &ops[i++];
  return i == ops.size();
}

} // namespace

Expected<Handled> FunctionLowering::lowerControl(const Instr &in) {
  const std::string &op = in.opcode;
  if (op == "bra") {
    if (in.ops.size() != 1 || in.ops[0].kind != Operand::Kind::Reg)
      return err(in.loc, "bra needs a label");
    BasicBlock *t = labelBlock(in.ops[0].name);
    if (!t)
      return err(in.ops[0].loc, fmt::format("undefined label '{}'", in.ops[0].name));
    B.CreateBr(t);
    return Handled::Yes;
  }
  if (op == "brx") { // brx.idx index, table
    if (!in.has(".idx") || in.ops.size() != 2 || in.ops[1].kind != Operand::Kind::Reg)
      return err(in.loc, "expected brx.idx index, targets");
    auto it = branchTables.find(in.ops[1].name);
    if (it == branchTables.end())
      return err(in.ops[1].loc, fmt::format("undefined .branchtargets '{}'", in.ops[1].name));
    PTX_GET(idx, get(in.ops[0], Type::U32));
    std::vector<BasicBlock *> targets;
    for (auto &l : it->second->targets) {
      BasicBlock *bb = labelBlock(l);
      if (!bb)
        return err(it->second->loc, fmt::format("undefined label '{}'", l));
      targets.push_back(bb);
    }
    if (targets.empty())
      return err(it->second->loc, "empty .branchtargets");
    // an out-of-range index is undefined in PTX: go to the first target
    auto *sw = B.CreateSwitch(idx, targets[0], unsigned(targets.size()));
    for (unsigned i = 0; i < targets.size(); ++i)
      sw->addCase(B.getInt32(i), targets[i]);
    return Handled::Yes;
  }
  if (op == "ret") {
    CUVIRT_TRY(emitReturn());
    return Handled::Yes;
  }
  if (op == "exit") {
    // exit ends the thread; in a .func this returns to the caller (documented limitation)
    CUVIRT_TRY(emitReturn());
    return Handled::Yes;
  }
  if (op != "call")
    return Handled::No;

  CallParts c;
  if (!splitCall(in, c))
    return err(in.loc, "malformed call: expected call (rets), target, (args)[, prototype]");
  const std::vector<VarDecl> *retDecls = nullptr, *paramDecls = nullptr;
  const Function *target = nullptr;
  Value *callee = nullptr;
  FunctionType *fty = nullptr;
  if (auto f = M.functions.find(c.callee->name); f != M.functions.end()) {
    const Function &decl = M.ast.functions[M.facts.functionIndex.at(c.callee->name)];
    if (decl.isEntry)
      return err(c.callee->loc, fmt::format("cannot call kernel '{}'", decl.name));
    retDecls = &decl.rets;
    paramDecls = &decl.params;
    target = &decl;
    callee = f->second;
    fty = f->second->getFunctionType();
  } else {
    if (!c.proto)
      return err(c.callee->loc,
                 fmt::format("undefined function '{}' (an indirect call needs a prototype)", c.callee->name));
    auto p = prototypes.find(c.proto->name);
    if (p == prototypes.end())
      return err(c.proto->loc, fmt::format("undefined .callprototype '{}'", c.proto->name));
    retDecls = &p->second->rets;
    paramDecls = &p->second->params;
    fty = M.functionType(*retDecls, *paramDecls);
    PTX_GET(addr, get(*c.callee, Type::U64));
    callee = B.CreateIntToPtr(addr, B.getPtrTy());
  }
  std::size_t nargs = c.args ? c.args->elems.size() : 0;
  std::size_t nrets = c.rets ? c.rets->elems.size() : 0;
  // A linked module holds an external function's definition, not each
  // unit's `.extern` declaration of it; ptxas checked the call against its
  // own unit's declaration and the linker compares no results. So a call may
  // take results the definition does not give (numba declares C-ABI void
  // functions with a .b64 result): those read as zero (undefined in PTX),
  // and results it gives that the call does not take are dropped.
  bool external = target && (target->isVisible || target->isWeak || target->isExtern);
  if (nargs != paramDecls->size() || (nrets != retDecls->size() && !external))
    return err(in.loc, fmt::format("call to '{}' with {} arguments and {} results, expected {} and {}",
                                   c.callee->name, nargs, nrets, paramDecls->size(), retDecls->size()));
  std::vector<Value *> args;
  for (std::size_t i = 0; i < nargs; ++i) {
    const Operand &a = c.args->elems[i];
    llvm::Type *pt = fty->getParamType(unsigned(i));
    const VarDecl &pd = (*paramDecls)[i];
    if (a.kind == Operand::Kind::Reg) {
      PTX_GET(s, lookup(a.name, a.loc));
      if (s.kind == Symbol::Kind::Param || s.kind == Symbol::Kind::Local) {
        args.push_back(B.CreateLoad(pt, s.ptr));
        continue;
      }
    }
    if (pt->isArrayTy())
      return err(a.loc, "an aggregate argument must be a .param variable");
    PTX_GET(v, get(a, pd.type == Type::None ? Type::B64 : pd.type));
    args.push_back(coerce(v, pt, isSigned(pd.type)));
  }
  // The device runtime's cudaGraphSetConditional(handle, value), a driver
  // built-in: a conditional handle is the device address of the condition's
  // 32-bit slot (runtime/graph.cpp), so setting it is a store.
  if (target && !target->hasBody && target->name == "cudaGraphSetConditional" && nargs == 2 && nrets == 0) {
    Value *slot = B.CreateIntToPtr(coerce(args[0], B.getInt64Ty(), false),
                                   PointerType::get(ctx, M.addressSpace(Space::Global)));
    B.CreateStore(coerce(args[1], B.getInt32Ty(), false), slot, /*isVolatile=*/true);
    return Handled::Yes;
  }
  Value *r = B.CreateCall(fty, callee, args);
  for (std::size_t i = 0; i < nrets; ++i) {
    const Operand &d = c.rets->elems[i];
    if (d.kind != Operand::Kind::Reg)
      return err(d.loc, "call results must be .param variables or registers");
    PTX_GET(s, lookup(d.name, d.loc));
    if (i >= retDecls->size()) { // not given by the definition (see above)
      if (auto *a = dyn_cast<AllocaInst>(s.ptr);
          a && (s.kind == Symbol::Kind::Param || s.kind == Symbol::Kind::Local))
        B.CreateStore(Constant::getNullValue(a->getAllocatedType()), a);
      else if (s.kind == Symbol::Kind::Reg)
        CUVIRT_TRY(set(d, Constant::getNullValue(valueType(s.type)), s.type));
      else
        return err(d.loc, "call results must be .param variables or registers");
      continue;
    }
    Value *v = retDecls->size() == 1 ? r : B.CreateExtractValue(r, unsigned(i));
    if (s.kind == Symbol::Kind::Param || s.kind == Symbol::Kind::Local) {
      B.CreateStore(v, s.ptr);
    } else if (v->getType()->isArrayTy()) {
      return err(d.loc, "an aggregate result must go to a .param variable");
    } else {
      CUVIRT_TRY(set(d, v, (*retDecls)[i].type));
    }
  }
  return Handled::Yes;
}

} // namespace cuvirt::ptx::lowering
