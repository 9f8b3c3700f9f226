// Everything that needs the target: special registers, barriers, warp
// collectives, fences, timers, trap; plus the instructions accepted but not
// runnable yet (istypep, tensor cores), lowered to cuvirt.unsupported.
#include "translate/ptx/lower_context.h"
#include <fmt/format.h>

namespace cuvirt::ptx::lowering {

using namespace llvm;

Expected<Handled> lowerMatrix(FunctionLowering &l, const Instr &in); // lower_matrix.cpp

namespace {
// cuvirt.mbarrier.arrive's flags (translate/KERNEL_IR.md)
constexpr int kMbarNoComplete = 1, kMbarDrop = 2, kMbarNoArrive = 4;
} // namespace

Value *FunctionLowering::specialRegister(const std::string &name, bool &known) {
  known = true;
  auto i32call = [&](const std::string &n) { return call(n, i32(), {}); };
  for (const char *base : {"%tid", "%ntid", "%ctaid", "%nctaid"}) {
    std::string b = base;
    for (const char *c : {".x", ".y", ".z"})
      if (name == b + c)
        return i32call("cuvirt." + b.substr(1) + c);
  }
  if (name == "%laneid")
    return i32call("cuvirt.laneid");
  if (name == "%warpid")
    return i32call("cuvirt.warpid");
  if (name == "%nwarpid")
    return i32call("cuvirt.nwarpid");
  if (name == "%smid")
    return i32call("cuvirt.smid");
  if (name == "%nsmid")
    return i32call("cuvirt.nsmid");
  if (name == "%gridid")
    return call("cuvirt.gridid", B.getInt64Ty(), {});
  for (const char *m : {"eq", "le", "lt", "ge", "gt"})
    if (name == std::string("%lanemask_") + m)
      return i32call(std::string("cuvirt.lanemask.") + m);
  if (name == "%clock")
    return i32call("cuvirt.clock");
  if (name == "%clock_hi")
    return B.CreateTrunc(B.CreateLShr(call("cuvirt.clock64", B.getInt64Ty(), {}), 32), i32());
  if (name == "%clock64")
    return call("cuvirt.clock64", B.getInt64Ty(), {});
  if (name == "%globaltimer")
    return call("cuvirt.globaltimer", B.getInt64Ty(), {});
  if (name == "%globaltimer_lo")
    return B.CreateTrunc(call("cuvirt.globaltimer", B.getInt64Ty(), {}), i32());
  if (name == "%globaltimer_hi")
    return B.CreateTrunc(B.CreateLShr(call("cuvirt.globaltimer", B.getInt64Ty(), {}), 32), i32());
  if (name == "%dynamic_smem_size")
    return i32call("cuvirt.dynshared.size");
  if (name == "%total_smem_size" || name == "%aggr_smem_size")
    return B.CreateAdd(i32call("cuvirt.dynshared.size"), B.getInt32(M.facts.shared.staticBytes[index]));
  // environment registers: the driver's (cooperative_groups reads the grid
  // workspace from %envreg1:%envreg2)
  if (name.rfind("%envreg", 0) == 0) {
    unsigned n = 0;
    for (char c : name.substr(7))
      n = c >= '0' && c <= '9' ? n * 10 + unsigned(c - '0') : 32;
    if (n < 32)
      return call("cuvirt.envreg", i32(), {B.getInt32(n)});
  }
  // performance monitors read as zero
  if (name.rfind("%envreg", 0) == 0 || name.rfind("%pm", 0) == 0 || name.rfind("%reserved_smem", 0) == 0)
    return name.find("_64") != std::string::npos ? (Value *)B.getInt64(0) : (Value *)B.getInt32(0);
  // Clusters: the launch's cluster shape (cuvirt.cluster_dim, 1 x 1 x 1
  // outside cluster launches); the rest follows from the CTA's position.
  static const char *const axes[] = {".x", ".y", ".z"};
  auto dim = [&](int d) { return call("cuvirt.cluster_dim", i32(), {B.getInt32(std::uint32_t(d))}); };
  auto ctaid = [&](int d) { return i32call(std::string("cuvirt.ctaid") + axes[d]); };
  if (name == "%cluster_nctarank" || name == "%is_explicit_cluster") {
    Value *n = B.CreateMul(B.CreateMul(dim(0), dim(1)), dim(2));
    return name == "%cluster_nctarank" ? n : B.CreateZExt(B.CreateICmpUGT(n, B.getInt32(1)), i32());
  }
  if (name == "%cluster_ctarank") {
    Value *x = B.CreateURem(ctaid(0), dim(0)), *y = B.CreateURem(ctaid(1), dim(1)),
          *z = B.CreateURem(ctaid(2), dim(2));
    return B.CreateAdd(x, B.CreateMul(dim(0), B.CreateAdd(y, B.CreateMul(dim(1), z))));
  }
  for (int d = 0; d < 3; ++d) {
    if (name == std::string("%cluster_ctaid") + axes[d])
      return B.CreateURem(ctaid(d), dim(d));
    if (name == std::string("%cluster_nctaid") + axes[d])
      return dim(d);
    if (name == std::string("%clusterid") + axes[d])
      return B.CreateUDiv(ctaid(d), dim(d));
    if (name == std::string("%nclusterid") + axes[d])
      return B.CreateUDiv(i32call(std::string("cuvirt.nctaid") + axes[d]), dim(d));
  }
  known = false;
  return nullptr;
}

// mbarrier.*: the object's layout is the target's (the calls below); waits
// are cuvirt.mbarrier.wait, where a target lets the block's other threads run.
Expected<Handled> FunctionLowering::lowerMbarrier(const Instr &in) {
  auto voidTy = B.getVoidTy();
  auto i64 = B.getInt64Ty();
  Space sp = space(in);
  auto count = [&](std::size_t k) -> Expected<Value *> {
    if (in.ops.size() <= k)
      return B.getInt32(1);
    return get(in.ops[k], Type::U32);
  };
  if (in.has(".init") || in.has(".inval")) {
    bool init = in.has(".init");
    if (in.ops.size() != (init ? 2u : 1u))
      return err(in.loc, init ? "mbarrier.init expects [addr], count" : "mbarrier.inval expects [addr]");
    PTX_GET(addr, address(in.ops[0], sp));
    if (init) {
      PTX_GET(n, get(in.ops[1], Type::U32));
      call("cuvirt.mbarrier.init", voidTy, {addr, n});
    } else {
      call("cuvirt.mbarrier.inval", voidTy, {addr});
    }
    return Handled::Yes;
  }
  if ((in.has(".expect_tx") && !in.has(".arrive") && !in.has(".arrive_drop")) || in.has(".complete_tx")) {
    // mbarrier.expect_tx / complete_tx [addr], txCount: no arrival
    if (in.ops.size() != 2)
      return err(in.loc, "mbarrier.expect_tx/complete_tx expects [addr], txCount");
    PTX_GET(addr, address(in.ops[0], sp));
    PTX_GET(tx, get(in.ops[1], Type::U32));
    if (in.has(".complete_tx"))
      tx = B.CreateNeg(tx);
    call("cuvirt.mbarrier.arrive", i64, {addr, B.getInt32(0), tx, B.getInt32(kMbarNoArrive)});
    return Handled::Yes;
  }
  if (in.has(".arrive") || in.has(".arrive_drop")) {
    // mbarrier.arrive{_drop}{.noComplete|.expect_tx} state, [addr]{, count|txCount}
    if (in.ops.size() < 2 || in.ops.size() > 3)
      return err(in.loc, "mbarrier.arrive expects state, [addr]{, count}");
    PTX_GET(addr, address(in.ops[1], sp));
    Value *n = B.getInt32(1), *tx = B.getInt32(0);
    if (in.has(".expect_tx")) {
      if (in.ops.size() != 3)
        return err(in.loc, "mbarrier.arrive.expect_tx expects state, [addr], txCount");
      PTX_GET(t, get(in.ops[2], Type::U32));
      tx = t;
    } else {
      PTX_GET(c, count(2));
      n = c;
    }
    int flags = (in.has(".noComplete") ? kMbarNoComplete : 0) | (in.has(".arrive_drop") ? kMbarDrop : 0);
    Value *state = call("cuvirt.mbarrier.arrive", i64, {addr, n, tx, B.getInt32(flags)});
    CUVIRT_TRY(set(in.ops[0], state, Type::B64));
    return Handled::Yes;
  }
  if (in.has(".test_wait") || in.has(".try_wait")) {
    // waitComplete, [addr], state|phaseParity{, suspendTimeHint}: the hint
    // does not matter, a CPU wait never times out early
    if (in.ops.size() < 3 || in.ops.size() > 4)
      return err(in.loc, "mbarrier.test_wait/try_wait expects waitComplete, [addr], state{, hint}");
    PTX_GET(addr, address(in.ops[1], sp));
    bool parity = in.has(".parity");
    Value *what;
    if (parity) {
      PTX_GET(p, get(in.ops[2], Type::U32));
      what = B.CreateZExt(p, i64);
    } else {
      PTX_GET(t, get(in.ops[2], Type::B64));
      what = t;
    }
    Value *done = call("cuvirt.mbarrier.wait", B.getInt1Ty(), {addr, what, B.getInt32(parity ? 1 : 0)});
    CUVIRT_TRY(set(in.ops[0], done, Type::Pred));
    return Handled::Yes;
  }
  if (in.has(".pending_count")) {
    if (in.ops.size() != 2)
      return err(in.loc, "mbarrier.pending_count expects count, state");
    PTX_GET(t, get(in.ops[1], Type::B64));
    CUVIRT_TRY(set(in.ops[0], call("cuvirt.mbarrier.pending", i32(), {t}), Type::U32));
    return Handled::Yes;
  }
  return err(in.loc, "unknown mbarrier operation");
}

Expected<Handled> FunctionLowering::lowerParallel(const Instr &in) {
  const std::string &op = in.opcode;
  auto voidTy = B.getVoidTy();
  auto fenceScope = [&]() -> unsigned {
    if (in.has(".sys"))
      return 2;
    if (in.has(".gl") || in.has(".gpu"))
      return 1;
    return 0;
  };
  if (op == "membar" || op == "fence") {
    if (in.has(".proxy") || in.has(".proxy.alias") || in.has(".proxy.async"))
      return Handled::Yes; // proxy fences: one memory proxy on the CPU
    call("cuvirt.fence", voidTy, {B.getInt32(fenceScope())});
    return Handled::Yes;
  }
  auto barrierArgs = [&](std::size_t first, std::vector<Value *> &args) -> Status {
    Value *id = B.getInt32(0), *count = B.getInt32(0);
    if (in.ops.size() > first) {
      PTX_GET(v, get(in.ops[first], Type::U32));
      id = v;
    }
    if (in.ops.size() > first + 1 && !(op == "bar" && in.has(".red") && in.ops.size() == first + 2)) {
      PTX_GET(v, get(in.ops[first + 1], Type::U32));
      count = v;
    }
    args = {id, count};
    return Status::success();
  };
  if ((op == "bar" || op == "barrier") && in.has(".warp")) {
    if (in.ops.size() != 1)
      return err(in.loc, "bar.warp.sync expects a mask");
    PTX_GET(mask, get(in.ops[0], Type::U32));
    call("cuvirt.warpsync", voidTy, {mask});
    return Handled::Yes;
  }
  if ((op == "bar" || op == "barrier") && in.has(".cluster")) {
    // arrive marks the block arrived; wait is a block barrier, after which
    // the block waits for the cluster's other blocks.
    if (in.has(".arrive")) {
      call("cuvirt.cluster_arrive", voidTy, {});
    } else {
      call("cuvirt.barrier", voidTy, {B.getInt32(0), B.getInt32(0)});
      call("cuvirt.cluster_wait", voidTy, {});
    }
    return Handled::Yes;
  }
  if (op == "mapa") {
    // mapa.u64 d, a, rank: a generic address in this CTA's shared memory to
    // the same place in CTA `rank` of the cluster.
    if (in.has(".shared::cluster"))
      return err(in.loc,
                 "mapa.shared::cluster (32-bit distributed shared memory addresses) is not supported; "
                 "generic mapa is");
    if (in.ops.size() != 3)
      return err(in.loc, "mapa expects d, a, rank");
    PTX_GET(a, get(in.ops[1], Type::U64));
    PTX_GET(rank, get(in.ops[2], Type::U32));
    CUVIRT_TRY(set(in.ops[0], call("cuvirt.cluster_map", B.getInt64Ty(), {a, rank}), Type::U64));
    return Handled::Yes;
  }
  if (op == "bar" || op == "barrier") {
    if (in.has(".red")) {
      // bar.red.op.type d, a{, b}, {!}c
      if (in.ops.size() < 3 || in.ops.size() > 4)
        return err(in.loc, "bar.red expects d, a[, b], p");
      std::vector<Value *> args;
      Value *id, *count = B.getInt32(0);
      {
        PTX_GET(v, get(in.ops[1], Type::U32));
        id = v;
      }
      if (in.ops.size() == 4) {
        PTX_GET(v, get(in.ops[2], Type::U32));
        count = v;
      }
      PTX_GET(p, get(in.ops.back(), Type::Pred));
      const char *kind = in.has(".popc") ? "popc" : in.has(".and") ? "and" : in.has(".or") ? "or" : nullptr;
      if (!kind)
        return err(in.loc, "bar.red needs .popc, .and or .or");
      Value *r = call(std::string("cuvirt.barrier.red.") + kind, i32(), {id, count, p});
      CUVIRT_TRY(set(in.ops[0], r, in.has(".pred") ? Type::U32 : Type::U32));
      return Handled::Yes;
    }
    std::vector<Value *> args;
    CUVIRT_TRY(barrierArgs(0, args));
    call(in.has(".arrive") ? "cuvirt.barrier.arrive" : "cuvirt.barrier", voidTy, args);
    return Handled::Yes;
  }
  if (op == "shfl") {
    const char *mode = in.has(".idx")    ? "idx"
                       : in.has(".up")   ? "up"
                       : in.has(".down") ? "down"
                       : in.has(".bfly") ? "bfly"
                                         : nullptr;
    if (!mode)
      return err(in.loc, "shfl needs .idx, .up, .down or .bfly");
    bool sync = in.has(".sync");
    if (in.ops.size() != (sync ? 5u : 4u))
      return err(in.loc, "shfl expects d[|p], a, b, c[, membermask]");
    PTX_GET(a, get(in.ops[1], Type::B32));
    PTX_GET(b, get(in.ops[2], Type::U32));
    PTX_GET(c, get(in.ops[3], Type::U32));
    Value *mask = B.getInt32(0xFFFFFFFF);
    if (sync) {
      PTX_GET(mv, get(in.ops[4], Type::U32));
      mask = mv;
    }
    auto *rt = StructType::get(ctx, {i32(), B.getInt1Ty()});
    Value *r = call(std::string("cuvirt.shfl.") + mode, rt, {mask, a, b, c});
    CUVIRT_TRY(set(in.ops[0], B.CreateExtractValue(r, 0), Type::B32));
    if (!in.ops[0].pairedPred.empty())
      CUVIRT_TRY(setReg(in.ops[0].pairedPred, in.ops[0].loc, B.CreateExtractValue(r, 1), Type::Pred));
    return Handled::Yes;
  }
  if (op == "vote") {
    bool sync = in.has(".sync");
    if (in.ops.size() != (sync ? 3u : 2u))
      return err(in.loc, "vote expects d, {!}a[, membermask]");
    PTX_GET(p, get(in.ops[1], Type::Pred));
    Value *mask = B.getInt32(0xFFFFFFFF);
    if (sync) {
      PTX_GET(mv, get(in.ops[2], Type::U32));
      mask = mv;
    }
    if (in.has(".ballot")) {
      CUVIRT_TRY(set(in.ops[0], call("cuvirt.vote.ballot", i32(), {mask, p}), Type::B32));
      return Handled::Yes;
    }
    const char *mode = in.has(".all") ? "all" : in.has(".any") ? "any" : in.has(".uni") ? "uni" : nullptr;
    if (!mode)
      return err(in.loc, "vote needs .all, .any, .uni or .ballot");
    CUVIRT_TRY(
        set(in.ops[0], call(std::string("cuvirt.vote.") + mode, B.getInt1Ty(), {mask, p}), Type::Pred));
    return Handled::Yes;
  }
  if (op == "match") {
    if (in.ops.size() != 3)
      return err(in.loc, "match expects d[|p], a, membermask");
    bool b64 = in.has(".b64");
    PTX_GET(v, get(in.ops[1], b64 ? Type::B64 : Type::B32));
    PTX_GET(mask, get(in.ops[2], Type::U32));
    std::string suffix = b64 ? ".i64" : ".i32";
    if (in.has(".any")) {
      CUVIRT_TRY(set(in.ops[0], call("cuvirt.match.any" + suffix, i32(), {mask, v}), Type::B32));
      return Handled::Yes;
    }
    if (!in.has(".all"))
      return err(in.loc, "match needs .any or .all");
    auto *rt = StructType::get(ctx, {i32(), B.getInt1Ty()});
    Value *r = call("cuvirt.match.all" + suffix, rt, {mask, v});
    CUVIRT_TRY(set(in.ops[0], B.CreateExtractValue(r, 0), Type::B32));
    if (!in.ops[0].pairedPred.empty())
      CUVIRT_TRY(setReg(in.ops[0].pairedPred, in.ops[0].loc, B.CreateExtractValue(r, 1), Type::Pred));
    return Handled::Yes;
  }
  if (op == "redux") {
    if (in.ops.size() != 3)
      return err(in.loc, "redux.sync expects d, a, membermask");
    auto tys = types(in);
    Type t = tys.empty() ? Type::B32 : tys.back();
    if (t == Type::F32)
      return err(in.loc, "redux.sync on .f32 is not supported");
    PTX_GET(v, get(in.ops[1], Type::B32));
    PTX_GET(mask, get(in.ops[2], Type::U32));
    std::string kind;
    if (in.has(".add"))
      kind = "add";
    else if (in.has(".min"))
      kind = isSigned(t) ? "min" : "umin";
    else if (in.has(".max"))
      kind = isSigned(t) ? "max" : "umax";
    else if (in.has(".and"))
      kind = "and";
    else if (in.has(".or"))
      kind = "or";
    else if (in.has(".xor"))
      kind = "xor";
    else
      return err(in.loc, "redux.sync needs an operation");
    CUVIRT_TRY(set(in.ops[0], call("cuvirt.redux." + kind, i32(), {mask, v}), Type::B32));
    return Handled::Yes;
  }
  if (op == "activemask") {
    if (in.ops.size() != 1)
      return err(in.loc, "activemask expects d");
    CUVIRT_TRY(set(in.ops[0], call("cuvirt.activemask", i32(), {}), Type::B32));
    return Handled::Yes;
  }
  if (op == "nanosleep") {
    if (in.ops.size() != 1)
      return err(in.loc, "nanosleep expects t");
    PTX_GET(t, get(in.ops[0], Type::U32));
    call("cuvirt.nanosleep", voidTy, {t});
    return Handled::Yes;
  }
  if (op == "trap" || op == "brkpt") {
    call("cuvirt.trap", voidTy, {});
    return Handled::Yes;
  }
  if (op == "elect") {
    // elect.sync d|p, membermask: the lowest lane of the mask is elected
    if (!in.has(".sync") || in.ops.size() != 2)
      return err(in.loc, "elect.sync expects d|p, membermask");
    PTX_GET(mask, get(in.ops[1], Type::U32));
    Value *leader = B.CreateBinaryIntrinsic(Intrinsic::cttz, mask, B.getTrue());
    leader = B.CreateSelect(B.CreateICmpEQ(mask, B.getInt32(0)), B.getInt32(0), leader);
    CUVIRT_TRY(set(in.ops[0], leader, Type::U32));
    if (!in.ops[0].pairedPred.empty())
      CUVIRT_TRY(setReg(in.ops[0].pairedPred, in.ops[0].loc,
                        B.CreateICmpEQ(call("cuvirt.laneid", i32(), {}), leader), Type::Pred));
    return Handled::Yes;
  }
  if (op == "pmevent" || op == "griddepcontrol" || op == "setmaxnreg")
    return Handled::Yes;
  if (op == "mbarrier")
    return lowerMbarrier(in);
  {
    PTX_GET(h, lowerTexture(in)); // lower_texture.cpp
    if (h == Handled::Yes)
      return h;
  }
  {
    PTX_GET(h, lowerMatrix(*this, in)); // lower_matrix.cpp: mma, wmma, ldmatrix, ...
    if (h == Handled::Yes)
      return h;
  }
  static const char *const texture[] = {"istypep"};
  static const char *const unsupported[] = {"mma",       "wmma",     "ldmatrix", "stmatrix",
                                            "movmatrix", "wgmma",    "cp",       "tensormap",
                                            "tcgen05",   "multimem", "st",       "clusterlaunchcontrol"};
  std::string what;
  for (auto *t : texture)
    if (op == t)
      what = "texture/surface instruction";
  for (auto *t : unsupported)
    if (op == t)
      what = "instruction";
  if (what.empty())
    return Handled::No;
  std::string full = op;
  for (auto &m : in.mods)
    full += m;
  std::string msg = fmt::format("{}:{}: {} '{}' is not supported", in.loc.line, in.loc.col, what, full);
  Value *str =
      B.CreateGlobalString(msg, "cuvirt.unsupported.msg", M.hooks.constAS == 0 ? 0 : M.hooks.constAS);
  call("cuvirt.unsupported", voidTy, {coerce(str, B.getPtrTy(), false)});
  return Handled::Yes;
}

} // namespace cuvirt::ptx::lowering
