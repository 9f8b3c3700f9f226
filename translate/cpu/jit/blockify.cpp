// The block-ification pass (see blockify.h for the shape it produces).
#include "translate/cpu/jit/blockify.h"
#include "translate/cpu/jit/block_runtime.h"

#include <llvm/ADT/BitVector.h>
#include <llvm/ADT/PostOrderIterator.h>
#include <llvm/ADT/SmallPtrSet.h>
#include <llvm/ADT/StringSwitch.h>
#include <llvm/Analysis/AssumptionCache.h>
#include <llvm/Analysis/LoopInfo.h>
#include <llvm/Analysis/PostDominators.h>
#include <llvm/Analysis/ScalarEvolution.h>
#include <llvm/Analysis/ScalarEvolutionExpressions.h>
#include <llvm/Analysis/TargetLibraryInfo.h>
#include <llvm/Analysis/ValueTracking.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/DebugInfo.h>
#include <llvm/IR/Dominators.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/InstIterator.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/IntrinsicInst.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/MDBuilder.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/PassManager.h>
#include <llvm/IR/Verifier.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Transforms/IPO/AlwaysInliner.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/SROA.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>
#include <llvm/Transforms/Utils/BasicBlockUtils.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <llvm/Transforms/Utils/Local.h>
#include <llvm/Transforms/Utils/ScalarEvolutionExpander.h>
#include <llvm/Transforms/Utils/ValueMapper.h>

#include "translate/cpu/jit/spin_wait.h"
#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <set>

namespace cuvirt::cpu::jit {

static_assert(offsetof(BlockEnv, gridDim) == 0 && offsetof(BlockEnv, blockDim) == 12 &&
                  offsetof(BlockEnv, blockIdx) == 24 && offsetof(BlockEnv, dynamicSharedBytes) == 36 &&
                  offsetof(BlockEnv, shared) == 40 && offsetof(BlockEnv, params) == 48 &&
                  offsetof(BlockEnv, smid) == 64 && offsetof(BlockEnv, gridWorkspace) == 72,
              "the IR below mirrors BlockEnv's layout");
static_assert(offsetof(CollSlot, value) == 0 && offsetof(CollSlot, mask) == 8 &&
              offsetof(CollSlot, b) == 12 && offsetof(CollSlot, c) == 16 && offsetof(CollSlot, pred) == 20 &&
              offsetof(CollSlot, result) == 24 && offsetof(CollSlot, resultPred) == 32);

std::string blockFunctionName(std::string_view kernel) { return std::string(kernel) + ".block"; }

bool warpLockstepEverywhere() {
  static const bool on = [] {
    const char *v = std::getenv("CUVIRT_WARP_LOCKSTEP");
    return v && std::string_view(v) == "1";
  }();
  return on;
}

namespace {
using namespace llvm;

// ---- what each cuvirt.* call is --------------------------------------------

enum class Sr {
  None,
  Tid,
  Ntid,
  Ctaid,
  Nctaid, // with dim
  LaneId,
  WarpId,
  NWarpId,
  SmId,
  NSmId,
  GridId,
  EnvReg, // cuvirt.envreg(i32 n): %envreg<n>
  LmEq,
  LmLe,
  LmLt,
  LmGe,
  LmGt,
  Clock,
  Clock64,
  GlobalTimer,
  SharedBase,
  DynSharedBase,
  DynSharedSize,
  Trap,
  Nanosleep,
  Fence,
  Unsupported,
  Yield, // barrier or collective: see kind
  // the pass's own placeholders
  Slot,
  CollSlotPtr,
  ResumeHere,
  ShflResult, // cuvirt.jit.shfl: the result of an inline shuffle (see splitYields)
  Prefetch,   // cuvirt.jit.prefetch(ptr, i64 k, i64 d): round k+d's address (see addRoundPrefetches)
  ThreadEnv,  // cuvirt.jit.env(): the BlockEnv, passed to out-of-line callees (see passThreadContext)
  Mbar,       // cuvirt.mbarrier.{init,inval,arrive,pending}: per-thread helpers (block_runtime.cpp)
};

struct CallInfo {
  Sr sr = Sr::None;
  int dim = 0;
  std::int32_t kind = 0; // ResumeKind for Sr::Yield
};

CallInfo classify(StringRef name) {
  CallInfo ci;
  if (!name.starts_with("cuvirt."))
    return ci;
  StringRef n = name.drop_front(7);
  auto dimOf = [](StringRef s) { return s.ends_with(".x") ? 0 : s.ends_with(".y") ? 1 : 2; };
  if (n.starts_with("tid.") || n.starts_with("ntid.") || n.starts_with("ctaid.") ||
      n.starts_with("nctaid.")) {
    ci.sr = n.starts_with("tid.")     ? Sr::Tid
            : n.starts_with("ntid.")  ? Sr::Ntid
            : n.starts_with("ctaid.") ? Sr::Ctaid
                                      : Sr::Nctaid;
    ci.dim = dimOf(n);
    return ci;
  }
  ci.sr = StringSwitch<Sr>(n)
              .Case("laneid", Sr::LaneId)
              .Case("warpid", Sr::WarpId)
              .Case("nwarpid", Sr::NWarpId)
              .Case("smid", Sr::SmId)
              .Case("nsmid", Sr::NSmId)
              .Case("gridid", Sr::GridId)
              .Case("envreg", Sr::EnvReg)
              .Case("lanemask.eq", Sr::LmEq)
              .Case("lanemask.le", Sr::LmLe)
              .Case("lanemask.lt", Sr::LmLt)
              .Case("lanemask.ge", Sr::LmGe)
              .Case("lanemask.gt", Sr::LmGt)
              .Case("clock", Sr::Clock)
              .Case("clock64", Sr::Clock64)
              .Case("globaltimer", Sr::GlobalTimer)
              .Case("shared.base", Sr::SharedBase)
              .Case("dynshared.base", Sr::DynSharedBase)
              .Case("dynshared.size", Sr::DynSharedSize)
              .Case("trap", Sr::Trap)
              .Case("nanosleep", Sr::Nanosleep)
              .Case("fence", Sr::Fence)
              .Case("unsupported", Sr::Unsupported)
              .Case("jit.slot", Sr::Slot)
              .Case("jit.collslot", Sr::CollSlotPtr)
              .Case("jit.yield", Sr::ResumeHere)
              .Case("jit.shfl", Sr::ShflResult)
              .Case("jit.prefetch", Sr::Prefetch)
              .Case("jit.env", Sr::ThreadEnv)
              .Cases({"mbarrier.init", "mbarrier.inval", "mbarrier.arrive", "mbarrier.pending"}, Sr::Mbar)
              .Default(Sr::None);
  if (ci.sr != Sr::None)
    return ci;
  ci.kind = StringSwitch<std::int32_t>(n)
                .Case("barrier", kBarrier)
                .Case("barrier.arrive", kBarrier) // a stronger sync than needed, never a wrong one
                .Case("barrier.red.popc", kBarRedPopc)
                .Case("barrier.red.and", kBarRedAnd)
                .Case("barrier.red.or", kBarRedOr)
                .Case("jit.loop", kLoop)
                .Case("warpsync", kWarpSync)
                .Case("jit.lockstep", kLockstep)
                .Case("shfl.idx", kShflIdx)
                .Case("shfl.up", kShflUp)
                .Case("shfl.down", kShflDown)
                .Case("shfl.bfly", kShflBfly)
                .Case("vote.all", kVoteAll)
                .Case("vote.any", kVoteAny)
                .Case("vote.uni", kVoteUni)
                .Case("vote.ballot", kVoteBallot)
                .Case("match.any.i32", kMatchAny32)
                .Case("match.any.i64", kMatchAny64)
                .Case("match.all.i32", kMatchAll32)
                .Case("match.all.i64", kMatchAll64)
                .Case("redux.add", kReduxAdd)
                .Case("redux.min", kReduxMin)
                .Case("redux.max", kReduxMax)
                .Case("redux.umin", kReduxUmin)
                .Case("redux.umax", kReduxUmax)
                .Case("redux.and", kReduxAnd)
                .Case("redux.or", kReduxOr)
                .Case("redux.xor", kReduxXor)
                .Case("activemask", kActiveMask)
                .Case("warp.matrix", kWarpMatrix)
                .Case("mbarrier.wait", kMbarWait)
                .Default(-1);
  if (ci.kind >= 0)
    ci.sr = Sr::Yield;
  return ci;
}

CallInfo classify(const CallBase *cb) {
  const Function *f = cb->getCalledFunction();
  return f ? classify(f->getName()) : CallInfo{};
}

// Pure functions of the block/thread position: recomputed rather than stored.
bool isPureSr(Sr sr) {
  switch (sr) {
  case Sr::Tid:
  case Sr::Ntid:
  case Sr::Ctaid:
  case Sr::Nctaid:
  case Sr::LaneId:
  case Sr::WarpId:
  case Sr::NWarpId:
  case Sr::SmId:
  case Sr::NSmId:
  case Sr::GridId:
  case Sr::EnvReg:
  case Sr::LmEq:
  case Sr::LmLe:
  case Sr::LmLt:
  case Sr::LmGe:
  case Sr::LmGt:
  case Sr::SharedBase:
  case Sr::DynSharedBase:
  case Sr::DynSharedSize:
  case Sr::Slot:
  case Sr::CollSlotPtr:
  case Sr::ThreadEnv:
    return true;
  default:
    return false;
  }
}

std::string constString(Value *v) {
  if (auto *gv = dyn_cast<GlobalVariable>(v->stripPointerCasts()))
    if (gv->hasInitializer())
      if (auto *cds = dyn_cast<ConstantDataSequential>(gv->getInitializer()))
        if (cds->isString())
          return cds->getAsString().rtrim('\0').str();
  return "<unknown>";
}

// ---- the pass ----------------------------------------------------------------

struct SlotInfo {
  std::uint64_t size = 0, align = 1, prefix = 0;
  bool uniform = false; ///< the same value for every thread at each resume point
};

class Blockifier {
public:
  Blockifier(Module &m, const BlockifyOptions &o, std::string &log)
      : m_(m), opts_(o), log_(log), ctx_(m.getContext()), dl_(m.getDataLayout()) {
    i1_ = Type::getInt1Ty(ctx_);
    i32_ = Type::getInt32Ty(ctx_);
    i64_ = Type::getInt64Ty(ctx_);
    ptr_ = PointerType::getUnqual(ctx_);
    envTy_ = StructType::get(ctx_, {ArrayType::get(i32_, 3), ArrayType::get(i32_, 3), ArrayType::get(i32_, 3),
                                    i32_, ptr_, ptr_, ptr_, i32_, i64_});
    yieldFn_ = getFn("cuvirt.jit.yield", Type::getVoidTy(ctx_), {i32_});
    slotFn_ = getFn("cuvirt.jit.slot", ptr_, {i32_});
    collFn_ = getFn("cuvirt.jit.collslot", ptr_, {});
  }

  Status run();

private:
  struct Frame; // the values a region function has at hand

  Function *getFn(StringRef name, Type *ret, ArrayRef<Type *> args) {
    return cast<Function>(m_.getOrInsertFunction(name, FunctionType::get(ret, args, false)).getCallee());
  }
  unsigned paramKind() const { return ctx_.getMDKindID("cuvirt.param"); }
  void hoistBlockInvariant(Function &g);
  struct Guard {
    BranchInst *branch;
    CmpInst::Predicate pred; // pred(base + tid.x, bound)
    Value *base, *bound;
  };
  std::vector<Guard> findGuards(const std::vector<BasicBlock *> &blocks, Value *tidX);
  bool isBlockInvariant(Value *v, int depth);
  void markParallel(Function &g, const std::vector<BranchInst *> &latches);
  Status fail(CUresult code, const std::string &msg) {
    log_ += msg + "\n";
    return report(code, msg);
  }

  Status prepare();
  void insertLockstepPoints(Function &f);
  void passThreadContext();
  void lowerOutOfLine(Function &f);
  std::set<Function *> ctxFns_; // out-of-line functions taking the thread context (passThreadContext)
  Status blockifyKernel(Function &f, bool rounds = true);
  void markInvariantParamLoads(Function &f);
  std::vector<BasicBlock *> splitYields(Function &f, std::vector<std::int32_t> &kinds);
  void fixLiveAcross(Function &f, const std::vector<BasicBlock *> &entries);
  std::vector<AllocaInst *> demoted_; // made by fixLiveAcross: candidates for coalesceSlots
  void coalesceSlots(Function &f);
  Status allocasToSlots(Function &f, std::vector<SlotInfo> &slots, std::uint64_t &frameBytes);
  Function *emitRegion(Function &f, const std::string &name, bool withState, bool nested,
                       const std::vector<BasicBlock *> &entries, int entry,
                       const std::vector<SlotInfo> &slots);
  void lowerCalls(const std::vector<BasicBlock *> &blocks, Frame &fr, const std::vector<SlotInfo> &slots,
                  std::uint32_t staticShared);

  Module &m_;
  const BlockifyOptions &opts_;
  std::string &log_;
  LLVMContext &ctx_;
  const DataLayout &dl_;
  Type *i1_, *i32_, *i64_;
  PointerType *ptr_;
  StructType *envTy_;
  Function *yieldFn_, *slotFn_, *collFn_;
  SmallPtrSet<Value *, 16> uniformAllocas_; // demoted values every thread holds alike
  bool allBranchesUniform_ = false;
  std::set<Value *> divergent_;
  std::vector<MDNode *> slotScopes_, slotNoAlias_; // per frame slot of the kernel being built
  std::set<Value *> uniform_; // analysed and uniform; anything made later counts as divergent
  void analyzeUniformity(Function &f);
  SmallPtrSet<Value *, 8> ivSlots_; // loop-iteration counters (see rewriteInductions)
  struct InlineShfl {
    std::int32_t kind;
    std::uint32_t b, c;
    AllocaInst *value; // the operand, per thread (a frame slot)
    std::int32_t slot = -1;
  };
  std::map<std::int32_t, InlineShfl> inlineShfl_; // by resume id
  std::map<AllocaInst *, std::int32_t> slotOf_;   // allocasToSlots' numbering
  std::set<int>
      checkedSlots_; // iteration counters that are uniform when every thread's is (checked at run time)
  bool assumeChecked_ = false; // building the nest that runs when they are
  bool sawChecked_ = false;    // the region reads one of them
  bool skipExited_ = false;    // building a "fast, some threads exited" region (KernelDesc::fastLive)
  bool lean_ = false;          // a kernel with very many resume points: only the plain nest per region
  Function *shflFn_ = nullptr;
  void rewriteInductions(Function &f, const std::vector<BasicBlock *> &entries,
                         const std::vector<std::int32_t> &kinds);
  SmallPtrSet<Value *, 8> roundSlots_; // counters of loops whose top is a kLoop resume point
  std::set<int> roundSlotIdx_;
  bool yieldAtLoops(Function &f);
  struct RoundLoop {
    BasicBlock *header, *resume;
    std::vector<BasicBlock *> blocks;
    std::map<Value *, Value *> ahead; // induction value -> its value kPrefetchRounds later
    Value *counter = nullptr;         // this round's iteration counter (i64)
    std::int64_t distance = 0;        // kPrefetchRounds
  };
  void addRoundPrefetches(std::vector<RoundLoop> &loops);
  std::vector<CallInst *> prefetches_; // markers met while building a lockstep loop-round nest
  void emitPrefetches(BasicBlock *pre, const Frame &fr, const Frame &cf);
  bool collectPrefetches_ = false;
  bool isRematerializable(Value *v, int depth, bool speculative = false) const;
  void useUniformSlots(const std::vector<BasicBlock *> &clones, BasicBlock *regionEntry, Frame &cf,
                       const std::vector<SlotInfo> &slots, BasicBlock *entryBB);
};

// Inlines callees, cleans the front end's output, checks what cannot run.
Status Blockifier::prepare() {
  StripDebugInfo(m_); // cloned blocks would otherwise point at the wrong subprogram

  // Call graph, to keep recursive functions out of line.
  std::map<Function *, std::set<Function *>> callees;
  for (Function &f : m_)
    for (Instruction &i : instructions(f))
      if (auto *cb = dyn_cast<CallBase>(&i))
        if (Function *c = cb->getCalledFunction(); c && !c->isDeclaration())
          callees[&f].insert(c);
  auto reaches = [&](Function *from, Function *to) {
    std::set<Function *> seen;
    std::vector<Function *> work{from};
    while (!work.empty()) {
      Function *x = work.back();
      work.pop_back();
      for (Function *c : callees[x]) {
        if (c == to)
          return true;
        if (seen.insert(c).second)
          work.push_back(c);
      }
    }
    return false;
  };
  for (Function &f : m_) {
    if (f.isDeclaration() || f.hasFnAttribute("cuvirt-kernel"))
      continue;
    if (reaches(&f, &f))
      continue; // recursion: called per thread
    if (f.hasFnAttribute(Attribute::StrictFP))
      continue; // directed-rounding helpers: strictfp must not spread into the kernel
    f.removeFnAttr(Attribute::NoInline);
    f.addFnAttr(Attribute::AlwaysInline);
  }
  // Barriers and collectives must be visible: mark them so no pass moves them
  // across control flow, and special registers as pure so they can be CSE'd.
  for (Function &f : m_) {
    if (!f.isDeclaration())
      continue;
    CallInfo ci = classify(f.getName());
    if (ci.sr == Sr::Yield) {
      f.addFnAttr(Attribute::Convergent);
      f.addFnAttr(Attribute::NoUnwind);
    } else if (isPureSr(ci.sr) && ci.sr != Sr::Slot && ci.sr != Sr::CollSlotPtr) {
      f.setDoesNotAccessMemory();
      f.addFnAttr(Attribute::NoUnwind);
      f.addFnAttr(Attribute::WillReturn);
      f.addFnAttr(Attribute::Speculatable);
    } else if (ci.sr == Sr::None && f.getName().starts_with("cuvirt.")) {
      return fail(CUDA_ERROR_NOT_SUPPORTED,
                  fmt::format("cpu jit: unknown kernel IR call {}", f.getName().str()));
    }
  }

  LoopAnalysisManager lam;
  FunctionAnalysisManager fam;
  CGSCCAnalysisManager cgam;
  ModuleAnalysisManager mam;
  PassBuilder pb;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  ModulePassManager mpm;
  mpm.addPass(AlwaysInlinerPass());
  FunctionPassManager fpm;
  fpm.addPass(SROAPass(SROAOptions::ModifyCFG));
  fpm.addPass(EarlyCSEPass());
  fpm.addPass(InstCombinePass());
  fpm.addPass(SimplifyCFGPass());
  mpm.addPass(createModuleToFunctionPassAdaptor(std::move(fpm)));
  mpm.run(m_, mam);
  for (Function &f : m_)
    if (f.hasFnAttribute("cuvirt-kernel"))
      insertLockstepPoints(f);
  for (Function &f : m_) // cooperative grid syncs and inter-block flags spin: let waiters yield
    markSpinLoops(f);

  // External functions that every caller inlined: nothing runs them (the
  // JIT looks up kernels only), and their bodies may hold barriers.
  for (bool erased = true; erased;) {
    erased = false;
    for (Function &f : make_early_inc_range(m_))
      if (!f.isDeclaration() && !f.hasFnAttribute("cuvirt-kernel") && f.use_empty()) {
        f.eraseFromParent();
        erased = true;
      }
  }
  // Functions left out of line run per thread, called from a thread loop:
  // they cannot hold barriers/collectives, and get the thread's coordinates
  // as hidden arguments.
  for (Function &f : m_) {
    if (f.isDeclaration() || f.hasFnAttribute("cuvirt-kernel"))
      continue;
    for (Instruction &i : instructions(f)) {
      auto *cb = dyn_cast<CallBase>(&i);
      if (!cb)
        continue;
      CallInfo ci = classify(cb);
      if (ci.sr == Sr::Yield)
        return fail(
            CUDA_ERROR_NOT_SUPPORTED,
            fmt::format("cpu jit: barrier or warp collective in function {}, which is called recursively "
                        "or through a pointer (such calls run one thread at a time on the CPU)",
                        f.getName().str()));
      if (ci.sr == Sr::Unsupported)
        return fail(CUDA_ERROR_NOT_SUPPORTED,
                    fmt::format("cpu jit: function {} uses {}, which the CPU target cannot run",
                                f.getName().str(), constString(cb->getArgOperand(0))));
    }
  }
  passThreadContext();
  return Status::success();
}

namespace {
// Whether pointer `p` is computed from the block's shared window (the front
// end's @cuvirt.shared.base/dynshared.base, through cvta and generic -G code).
bool derivesFromShared(Value *p) {
  SmallPtrSet<Value *, 16> seen;
  SmallVector<Value *, 16> work{p};
  while (!work.empty() && seen.size() < 256) {
    Value *v = work.pop_back_val();
    if (!seen.insert(v).second)
      continue;
    if (auto *c = dyn_cast<CallBase>(v)) {
      Sr sr = classify(c).sr;
      if (sr == Sr::SharedBase || sr == Sr::DynSharedBase)
        return true;
      continue;
    }
    if (auto *phi = dyn_cast<PHINode>(v)) {
      work.append(phi->incoming_values().begin(), phi->incoming_values().end());
      continue;
    }
    if (auto *sel = dyn_cast<SelectInst>(v)) {
      work.push_back(sel->getTrueValue());
      work.push_back(sel->getFalseValue());
      continue;
    }
    auto *op = dyn_cast<Operator>(v);
    if (!op)
      continue;
    switch (op->getOpcode()) {
    case Instruction::Add:
    case Instruction::Sub:
    case Instruction::Or:
    case Instruction::Xor: // base + offset, either side
      work.push_back(op->getOperand(1));
      [[fallthrough]];
    case Instruction::GetElementPtr:
    case Instruction::IntToPtr:
    case Instruction::PtrToInt:
    case Instruction::BitCast:
    case Instruction::AddrSpaceCast:
    case Instruction::ZExt:
    case Instruction::SExt:
    case Instruction::Trunc:
    case Instruction::Freeze:
      work.push_back(op->getOperand(0));
      break;
    default:
      break;
    }
  }
  return false;
}
} // namespace

// Legacy warp-synchronous code (old cuda-samples reductions and scans) passes
// values between the lanes of a warp through shared memory behind `volatile`
// pointers, relying on the lanes executing each access together; threads run
// one after another here. So every volatile access to shared memory follows a
// lockstep point (cuvirt.jit.lockstep, a kLockstep resume point): the lanes of
// the warp that are there synchronise, as with __syncwarp(__activemask())
// before it. A volatile load needs none when only loads came since the last
// point in its basic block: lanes that only read cannot tell the order.
// Kernels without volatile shared accesses do not change. With
// CUVIRT_WARP_LOCKSTEP=1 every access but the thread's own (.local memory,
// parameters) gets points the same way.
void Blockifier::insertLockstepPoints(Function &f) {
  const bool everywhere = warpLockstepEverywhere();
  auto lockstep = [&](Value *ptr, bool isVolatile) {
    if (everywhere) { // not .local, the parameter array or a parameter's value
      const Value *base = getUnderlyingObject(ptr);
      if (auto *pl = dyn_cast<LoadInst>(base);
          pl && isa<Argument>(getUnderlyingObject(pl->getPointerOperand())))
        return false;
      return !isa<AllocaInst>(base) && !isa<Argument>(base);
    }
    return isVolatile && derivesFromShared(ptr);
  };
  auto isAccess = [&](Instruction &i) {
    if (auto *ld = dyn_cast<LoadInst>(&i))
      return lockstep(ld->getPointerOperand(), ld->isVolatile());
    if (auto *st = dyn_cast<StoreInst>(&i))
      return lockstep(st->getPointerOperand(), st->isVolatile());
    return false;
  };
  SmallPtrSet<BasicBlock *, 16> accessBlocks;
  for (BasicBlock &bb : f)
    if (std::any_of(bb.begin(), bb.end(), isAccess))
      accessBlocks.insert(&bb);
  if (accessBlocks.empty())
    return;
  // Where the lanes of a branch with lockstep accesses inside meet again (its
  // immediate post-dominator; a loop's exit) is a point too: lanes that
  // skipped the accesses, or left the loop, wait there for the others, as a
  // pre-Volta warp reconverges. Without it they would run on to the next
  // iteration's accesses, whose points come earlier in reverse post-order.
  PostDominatorTree pdt(f);
  SmallPtrSet<BasicBlock *, 16> joins;
  for (BasicBlock &bb : f) {
    Instruction *t = bb.getTerminator();
    if (t->getNumSuccessors() < 2 || !pdt.getNode(&bb) || !pdt.getNode(&bb)->getIDom())
      continue;
    BasicBlock *join = pdt.getNode(&bb)->getIDom()->getBlock();
    if (!join || joins.count(join))
      continue;
    SmallPtrSet<BasicBlock *, 16> seen;
    SmallVector<BasicBlock *, 16> work(successors(&bb));
    bool inside = false;
    while (!work.empty() && !inside) {
      BasicBlock *x = work.pop_back_val();
      if (x == join || !seen.insert(x).second)
        continue;
      inside = accessBlocks.count(x) != 0;
      work.append(succ_begin(x), succ_end(x));
    }
    if (inside)
      joins.insert(join);
  }
  std::vector<Instruction *> points;
  for (BasicBlock &bb : f) {
    bool onlyReads = joins.count(&bb) != 0; // since the last lockstep point in this block
    if (onlyReads)
      points.push_back(&*bb.getFirstInsertionPt());
    for (Instruction &i : bb) {
      auto *ld = dyn_cast<LoadInst>(&i);
      if (isAccess(i)) {
        if (!(ld && onlyReads))
          points.push_back(&i);
        onlyReads = ld != nullptr;
      } else if (!ld && i.mayWriteToMemory()) {
        onlyReads = false;
      }
    }
  }
  Function *sync = getFn("cuvirt.jit.lockstep", Type::getVoidTy(ctx_), {});
  sync->addFnAttr(Attribute::Convergent);
  sync->addFnAttr(Attribute::NoUnwind);
  for (Instruction *i : points)
    CallInst::Create(sync, {}, "", i->getIterator());
}

// Out-of-line functions (recursive ones, ones whose address is taken) that
// read the thread's coordinates, or call one that does, or call through a
// pointer, take hidden trailing arguments: (ptr BlockEnv, ptr dynamic shared
// base, i32 tid.x, tid.y, tid.z). Every function whose address is taken gets
// them too, so that each indirect call can pass them. A call site passes its
// own values as the calls cuvirt.jit.env/dynshared.base/tid.*, lowered with
// the rest of its function; lowerOutOfLine turns the callee's reads into
// uses of its arguments. Kernels without such calls do not change.
void Blockifier::passThreadContext() {
  auto readsContext = [&](Function &f) {
    for (Instruction &i : instructions(f)) {
      auto *cb = dyn_cast<CallBase>(&i);
      if (!cb)
        continue;
      if (!cb->getCalledFunction()) {
        if (!cb->isInlineAsm())
          return true; // an indirect call passes the context on
        continue;
      }
      switch (classify(cb).sr) {
      case Sr::None:
        if (cb->getCalledFunction()->getName() == "__assertfail")
          return true; // the message names the block and thread
        break;
      case Sr::Nanosleep:
      case Sr::Fence:
      case Sr::Clock:
      case Sr::Clock64:
      case Sr::GlobalTimer:
        break;
      default:
        return true;
      }
    }
    return false;
  };
  std::set<Function *> need;
  std::vector<Function *> work;
  for (Function &f : m_) {
    if (f.isDeclaration() || f.hasFnAttribute("cuvirt-kernel") || f.hasFnAttribute(Attribute::StrictFP))
      continue;
    if (f.hasAddressTaken() || readsContext(f))
      if (need.insert(&f).second)
        work.push_back(&f);
  }
  while (!work.empty()) { // callers of those, up to the kernels
    Function *g = work.back();
    work.pop_back();
    for (User *u : g->users())
      if (auto *cb = dyn_cast<CallBase>(u); cb && cb->getCalledOperand() == g) {
        Function *caller = cb->getFunction();
        if (!caller->hasFnAttribute("cuvirt-kernel") && need.insert(caller).second)
          work.push_back(caller);
      }
  }
  bool indirect = false;
  for (Function &f : m_)
    for (Instruction &i : instructions(f))
      if (auto *cb = dyn_cast<CallBase>(&i); cb && !cb->getCalledFunction() && !cb->isInlineAsm())
        indirect = true;
  if (need.empty() && !indirect)
    return;

  auto placeholder = [&](StringRef name, Type *ty) {
    Function *fn = getFn(name, ty, {});
    fn->setDoesNotAccessMemory();
    fn->addFnAttr(Attribute::NoUnwind);
    fn->addFnAttr(Attribute::WillReturn);
    fn->addFnAttr(Attribute::Speculatable);
    return fn;
  };
  Function *envFn = placeholder("cuvirt.jit.env", ptr_), *dynFn = placeholder("cuvirt.dynshared.base", ptr_);
  Function *tidFn[3] = {placeholder("cuvirt.tid.x", i32_), placeholder("cuvirt.tid.y", i32_),
                        placeholder("cuvirt.tid.z", i32_)};
  const char *hidden[] = {"cuvirt.env", "cuvirt.dynshared", "cuvirt.tid.x", "cuvirt.tid.y", "cuvirt.tid.z"};
  auto withContext = [&](FunctionType *t) {
    SmallVector<Type *, 8> ps(t->params());
    ps.append({ptr_, ptr_, i32_, i32_, i32_});
    return FunctionType::get(t->getReturnType(), ps, t->isVarArg());
  };

  std::map<Function *, Function *> moved;
  for (Function *f : need) {
    Function *nf =
        Function::Create(withContext(f->getFunctionType()), f->getLinkage(), f->getAddressSpace(), "", &m_);
    nf->copyAttributesFrom(f);
    nf->splice(nf->begin(), f);
    for (unsigned a = 0; a < f->arg_size(); ++a) {
      f->getArg(a)->replaceAllUsesWith(nf->getArg(a));
      nf->getArg(a)->takeName(f->getArg(a));
    }
    for (unsigned a = 0; a < 5; ++a)
      nf->getArg(f->arg_size() + a)->setName(hidden[a]);
    moved[f] = nf;
    ctxFns_.insert(nf);
  }
  std::vector<CallBase *> calls;
  for (Function &f : m_)
    for (Instruction &i : instructions(f))
      if (auto *cb = dyn_cast<CallBase>(&i)) {
        Function *c = cb->getCalledFunction();
        if ((c && moved.count(c)) || (!c && !cb->isInlineAsm()))
          calls.push_back(cb);
      }
  for (CallBase *cb : calls) {
    auto *ci = cast<CallInst>(cb); // the front end makes no invokes
    IRBuilder<> b(ci);
    SmallVector<Value *, 8> args(ci->args());
    args.append({b.CreateCall(envFn), b.CreateCall(dynFn), b.CreateCall(tidFn[0]), b.CreateCall(tidFn[1]),
                 b.CreateCall(tidFn[2])});
    Function *c = ci->getCalledFunction();
    Value *callee = c ? moved.at(c) : ci->getCalledOperand();
    SmallVector<OperandBundleDef, 1> bundles;
    ci->getOperandBundlesAsDefs(bundles);
    CallInst *nc = b.CreateCall(withContext(ci->getFunctionType()), callee, args, bundles);
    nc->setCallingConv(ci->getCallingConv());
    nc->setAttributes(ci->getAttributes());
    nc->setTailCallKind(ci->getTailCallKind() == CallInst::TCK_MustTail ? CallInst::TCK_None
                                                                        : ci->getTailCallKind());
    nc->takeName(ci);
    ci->replaceAllUsesWith(nc);
    ci->eraseFromParent();
  }
  for (auto [f, nf] : moved) { // addresses (tables in device memory, Relocation names) now mean nf
    f->replaceAllUsesWith(nf);
    nf->takeName(f);
    f->eraseFromParent();
  }
}

// Kernel parameters never change during a launch: say so, so that their
// loads leave the thread loops (and the loops vectorise).
void Blockifier::markInvariantParamLoads(Function &f) {
  if (f.arg_empty())
    return;
  MDNode *empty = MDNode::get(ctx_, {});
  std::vector<std::pair<Value *, int>> work{{f.getArg(0), 0}};
  std::set<Value *> seen;
  while (!work.empty()) {
    auto [v, level] = work.back();
    work.pop_back();
    if (!seen.insert(v).second)
      continue;
    for (User *u : v->users()) {
      if (isa<GetElementPtrInst>(u) || isa<BitCastInst>(u) || isa<AddrSpaceCastInst>(u)) {
        work.push_back({u, level});
      } else if (auto *ld = dyn_cast<LoadInst>(u); ld && ld->getPointerOperand() == v && !ld->isVolatile()) {
        ld->setMetadata(LLVMContext::MD_invariant_load, empty);
        ld->setMetadata(paramKind(), empty);
        if (level == 0 && ld->getType()->isPointerTy())
          work.push_back({ld, 1});
      }
    }
  }
}

// Makes each barrier/collective a resume point: operands go to the thread's
// CollSlot, a `cuvirt.jit.yield(id)` block ends the region, and the resume
// block reads the result. Returns the resume entries (index = resume id).
std::vector<BasicBlock *> Blockifier::splitYields(Function &f, std::vector<std::int32_t> &kinds) {
  std::vector<CallInst *> calls;
  for (Instruction &i : instructions(f))
    if (auto *c = dyn_cast<CallInst>(&i); c && classify(c).sr == Sr::Yield)
      calls.push_back(c);
  if (std::any_of(calls.begin(), calls.end(), [](CallInst *c) { return classify(c).kind == kLockstep; })) {
    // Resume ids in reverse post-order: warp_ops.cpp lets a warp's lanes at
    // the earliest lockstep point (the lowest id) go first.
    DenseMap<BasicBlock *, unsigned> order;
    unsigned next = 0;
    for (BasicBlock *bb : ReversePostOrderTraversal<Function *>(&f))
      order[bb] = next++;
    std::stable_sort(calls.begin(), calls.end(), [&](CallInst *a, CallInst *b) {
      return a->getParent() != b->getParent() ? order.lookup(a->getParent()) < order.lookup(b->getParent())
                                              : a->comesBefore(b);
    });
  }
  std::vector<BasicBlock *> entries{&f.getEntryBlock()};
  kinds.assign(1, kEntry);
  inlineShfl_.clear();
  // Shuffles with constant lane operands whose operand store the next region
  // cannot reach again (it would overwrite what other threads still read):
  // the operand goes to a frame slot, and the region after it reads the
  // source lane's slot itself when every thread is there (the usual case).
  auto firstYieldFrom = [&](BasicBlock::iterator it, BasicBlock *bb) -> CallInst * {
    for (; it != bb->end(); ++it)
      if (auto *y = dyn_cast<CallInst>(&*it); y && classify(y).sr == Sr::Yield)
        return y;
    return nullptr;
  };
  auto reachesItself = [&](CallInst *c) {
    if (firstYieldFrom(std::next(c->getIterator()), c->getParent()))
      return false;
    SmallPtrSet<BasicBlock *, 16> seen;
    SmallVector<BasicBlock *, 16> work(successors(c->getParent()));
    while (!work.empty()) {
      BasicBlock *bb = work.pop_back_val();
      if (!seen.insert(bb).second)
        continue;
      if (CallInst *y = firstYieldFrom(bb->begin(), bb)) {
        if (y == c)
          return true;
        continue; // another yield ends this path
      }
      for (BasicBlock *succ : successors(bb))
        work.push_back(succ);
    }
    return false;
  };
  std::set<CallInst *> inlineCalls;
  for (CallInst *c : calls) {
    std::int32_t kind = classify(c).kind;
    if (kind < kShflIdx || kind > kShflBfly || c->arg_size() < 4 || !isa<ConstantInt>(c->getArgOperand(2)) ||
        !isa<ConstantInt>(c->getArgOperand(3)) ||
        c->getArgOperand(1)->getType()->getPrimitiveSizeInBits() != 32)
      continue;
    if (!reachesItself(c))
      inlineCalls.insert(c);
  }
  if (!inlineCalls.empty() && !shflFn_)
    shflFn_ = getFn("cuvirt.jit.shfl", StructType::get(ctx_, {i32_, i1_}), {i32_, ptr_});
  for (CallInst *c : calls) {
    std::int32_t kind = classify(c).kind;
    auto id = std::int32_t(entries.size());
    IRBuilder<> b(c);
    if (inlineCalls.count(c)) {
      Value *v = c->getArgOperand(1);
      if (!v->getType()->isIntegerTy())
        v = b.CreateBitCast(v, i32_);
      IRBuilder<> eb(&*f.getEntryBlock().getFirstInsertionPt());
      AllocaInst *a = eb.CreateAlloca(i32_, nullptr, "shfl.v");
      b.CreateStore(v, a);
      inlineShfl_[id] = {kind, std::uint32_t(cast<ConstantInt>(c->getArgOperand(2))->getZExtValue()),
                         std::uint32_t(cast<ConstantInt>(c->getArgOperand(3))->getZExtValue()), a};
    }
    auto field = [&](Value *slot, unsigned off) {
      return b.CreateConstInBoundsGEP1_32(b.getInt8Ty(), slot, off);
    };
    auto toI32 = [&](Value *v) { return b.CreateZExtOrTrunc(v, i32_); };
    if (kind != kBarrier && kind != kLoop && kind != kLockstep && !inlineCalls.count(c)) {
      Value *slot = b.CreateCall(collFn_);
      if (kind >= kBarRedPopc && kind <= kBarRedOr) {
        b.CreateStore(toI32(c->getArgOperand(2)), field(slot, 20));
      } else if (kind == kMbarWait) { // (address, token or parity, is parity): see block_runtime.h
        b.CreateStore(b.CreatePtrToInt(c->getArgOperand(0), i64_), field(slot, 0));
        b.CreateStore(c->getArgOperand(1), field(slot, 24));
        b.CreateStore(toI32(c->getArgOperand(2)), field(slot, 16));
      } else if (kind == kActiveMask) {
        b.CreateStore(b.getInt32(0xffffffffu), field(slot, 8));
      } else {
        b.CreateStore(toI32(c->getArgOperand(0)), field(slot, 8));
        if (kind == kVoteAll || kind == kVoteAny || kind == kVoteUni || kind == kVoteBallot) {
          b.CreateStore(toI32(c->getArgOperand(1)), field(slot, 20));
        } else if (kind != kWarpSync) {
          Value *v = c->getArgOperand(1);
          if (v->getType()->isFloatingPointTy())
            v = b.CreateBitCast(v, b.getIntNTy(v->getType()->getPrimitiveSizeInBits()));
          b.CreateStore(b.CreateZExtOrTrunc(v, i64_), field(slot, 0));
          if (c->arg_size() >= 4) {
            b.CreateStore(toI32(c->getArgOperand(2)), field(slot, 12));
            b.CreateStore(toI32(c->getArgOperand(3)), field(slot, 16));
          }
        }
      }
    }
    CallInst *y = b.CreateCall(yieldFn_, {b.getInt32(std::uint32_t(id))});
    BasicBlock *head = c->getParent();
    BasicBlock *resume = head->splitBasicBlock(c, "resume");
    head->splitBasicBlock(y, "yield");
    if (inlineCalls.count(c)) {
      IRBuilder<> r(c);
      Value *res = r.CreateCall(shflFn_, {r.getInt32(std::uint32_t(id)), inlineShfl_[id].value});
      if (res->getType() != c->getType()) {
        Value *out = PoisonValue::get(c->getType());
        auto *st = cast<StructType>(c->getType());
        out = r.CreateInsertValue(out, r.CreateExtractValue(res, {0}), {0});
        if (st->getNumElements() > 1)
          out = r.CreateInsertValue(
              out, r.CreateZExtOrTrunc(r.CreateExtractValue(res, {1}), st->getElementType(1)), {1});
        res = out;
      }
      c->replaceAllUsesWith(res);
    } else if (!c->getType()->isVoidTy()) {
      IRBuilder<> r(c);
      Value *slot = r.CreateCall(collFn_);
      Value *res = r.CreateLoad(i64_, r.CreateConstInBoundsGEP1_32(r.getInt8Ty(), slot, 24));
      Value *pred = r.CreateICmpNE(r.CreateLoad(i32_, r.CreateConstInBoundsGEP1_32(r.getInt8Ty(), slot, 32)),
                                   r.getInt32(0));
      Type *ty = c->getType();
      Value *out = nullptr;
      if (auto *st = dyn_cast<StructType>(ty)) {
        out = PoisonValue::get(st);
        out = r.CreateInsertValue(out, r.CreateZExtOrTrunc(res, st->getElementType(0)), {0});
        if (st->getNumElements() > 1)
          out = r.CreateInsertValue(out, r.CreateZExtOrTrunc(pred, st->getElementType(1)), {1});
      } else if (ty->isIntegerTy(1)) {
        out = pred;
      } else {
        out = r.CreateZExtOrTrunc(res, ty);
      }
      c->replaceAllUsesWith(out);
    }
    c->eraseFromParent();
    entries.push_back(resume);
    kinds.push_back(kind);
  }
  return entries;
}

// `speculative`: the copy may run where the original did not, with other
// operands (a later round's prefetch address), so no division that could
// trap. Otherwise a copy runs where the original (which dominates it) ran
// before with the same pure operands: a division is as safe as it was there.
bool Blockifier::isRematerializable(Value *v, int depth, bool speculative) const {
  if (isa<Constant>(v) || isa<Argument>(v) || isa<AllocaInst>(v))
    return true;
  auto *i = dyn_cast<Instruction>(v);
  if (!i || depth > 8)
    return false;
  if (auto *ii = dyn_cast<IntrinsicInst>(i)) { // umax, abs, ctpop, fshl, ...: pure arithmetic
    if (!ii->doesNotAccessMemory() || !ii->willReturn() || ii->isConvergent() || ii->mayHaveSideEffects())
      return false;
  } else if (auto *cb = dyn_cast<CallBase>(i)) {
    return isPureSr(classify(cb).sr);
  }
  if (auto *ld = dyn_cast<LoadInst>(i))
    return (ld->hasMetadata(LLVMContext::MD_invariant_load) || ivSlots_.contains(ld->getPointerOperand())) &&
           isRematerializable(ld->getPointerOperand(), depth + 1, speculative);
  if (auto *bo = dyn_cast<BinaryOperator>(i)) {
    switch (bo->getOpcode()) {
    case Instruction::UDiv:
    case Instruction::SDiv:
    case Instruction::URem:
    case Instruction::SRem: {
      auto *d = dyn_cast<ConstantInt>(bo->getOperand(1));
      if (speculative && (!d || d->isZero() || d->isMinusOne()))
        return false;
      break;
    }
    default:
      break;
    }
  } else if (!isa<CastInst>(i) && !isa<GetElementPtrInst>(i) && !isa<CmpInst>(i) && !isa<SelectInst>(i) &&
             !isa<UnaryOperator>(i) && !isa<ExtractValueInst>(i) && !isa<IntrinsicInst>(i)) {
    return false;
  }
  for (Value *op : i->operands())
    if (!isRematerializable(op, depth + 1, speculative))
      return false;
  return true;
}

Value *rematAt(Value *v, Instruction *before) {
  auto *i = dyn_cast<Instruction>(v);
  if (!i || isa<AllocaInst>(i))
    return v;
  Instruction *c = i->clone();
  c->insertBefore(before->getIterator());
  for (unsigned k = 0; k < c->getNumOperands(); ++k)
    c->setOperand(k, rematAt(c->getOperand(k), c));
  return c;
}

// Blocks where `v` is live on entry (classic per-variable backward walk).
SmallPtrSet<BasicBlock *, 16> liveInBlocks(Instruction *v) {
  SmallPtrSet<BasicBlock *, 16> live;
  BasicBlock *def = v->getParent();
  SmallVector<BasicBlock *, 16> work;
  for (Use &u : v->uses()) {
    auto *user = cast<Instruction>(u.getUser());
    BasicBlock *b = user->getParent();
    if (auto *phi = dyn_cast<PHINode>(user))
      b = phi->getIncomingBlock(u);
    if (b != def)
      work.push_back(b);
  }
  while (!work.empty()) {
    BasicBlock *b = work.pop_back_val();
    if (!live.insert(b).second)
      continue;
    for (BasicBlock *p : predecessors(b))
      if (p != def)
        work.push_back(p);
  }
  return live;
}

// A loop inside the thread loop runs scalar (LLVM vectorises innermost loops
// only), one thread after another: a grid-stride accumulation is then a
// chain of dependent adds. Its top becomes a resume point that synchronises
// nothing (kLoop): each round runs one iteration of every thread, as a
// vectorisable loop over the threads. Innermost loops whose trip count is
// not a constant (constant ones LLVM unrolls), in kernels whose every alloca
// can become a frame slot.
bool Blockifier::yieldAtLoops(Function &f) {
  for (Instruction &i : instructions(f))
    if (auto *a = dyn_cast<AllocaInst>(&i); a && !a->getAllocationSize(dl_))
      return false;
  std::vector<BasicBlock *> headers;
  {
    DominatorTree dt(f);
    LoopInfo li(dt);
    TargetLibraryInfoImpl tlii(m_.getTargetTriple());
    TargetLibraryInfo tli(tlii);
    AssumptionCache ac(f);
    ScalarEvolution se(f, tli, ac, dt, li);
    for (Loop *l : li.getLoopsInPreorder()) {
      if (!l->isInnermost() || !l->getLoopPreheader() || !l->getLoopLatch() ||
          se.getSmallConstantTripCount(l))
        continue;
      bool yields = false;
      for (BasicBlock *bb : l->blocks())
        for (Instruction &i : *bb)
          if (auto *c = dyn_cast<CallInst>(&i); c && classify(c).sr == Sr::Yield)
            yields = true;
      if (!yields)
        headers.push_back(l->getHeader());
    }
  }
  if (headers.empty())
    return false;
  Function *fn = getFn("cuvirt.jit.loop", Type::getVoidTy(ctx_), {});
  fn->addFnAttr(Attribute::Convergent);
  fn->addFnAttr(Attribute::NoUnwind);
  for (BasicBlock *h : headers)
    CallInst::Create(fn, {}, "", h->getFirstInsertionPt());
  return true;
}

// Affine induction variables of loops that hold a resume point (the tile
// pointers of a tiled kernel) would be kept per thread across the barrier and
// reloaded as opaque values, which the vectoriser turns into gathers. Each
// such loop instead gets one iteration counter in memory, written at the top
// of every iteration, and its affine phis become `start + k * step` with a
// rematerializable start: they are recomputed after each resume point, and
// when every branch is uniform the counter is read once per region from
// thread 0, so addresses stay affine in tid.x. The arithmetic wraps exactly
// as the recurrence does.
void Blockifier::rewriteInductions(Function &f, const std::vector<BasicBlock *> &entries,
                                   const std::vector<std::int32_t> &kinds) {
  SmallPtrSet<BasicBlock *, 16> resume(entries.begin() + 1, entries.end());
  // (phi, header, preheader, step expanded in the preheader)
  std::vector<std::tuple<PHINode *, BasicBlock *, BasicBlock *, Value *>> cands;
  std::map<BasicBlock *, std::vector<BasicBlock *>> loopBlocks; // by header
  {
    DominatorTree dt(f);
    LoopInfo li(dt);
    TargetLibraryInfoImpl tlii(m_.getTargetTriple());
    TargetLibraryInfo tli(tlii);
    AssumptionCache ac(f);
    ScalarEvolution se(f, tli, ac, dt, li);
    SCEVExpander exp(se, "iv.step");
    for (Loop *l : li.getLoopsInPreorder()) {
      BasicBlock *pre = l->getLoopPreheader();
      if (!pre || !l->getLoopLatch() ||
          none_of(l->blocks(), [&](BasicBlock *b) { return resume.contains(b); }))
        continue;
      for (PHINode &phi : l->getHeader()->phis()) {
        if (!phi.getType()->isIntegerTy() && !phi.getType()->isPointerTy())
          continue;
        auto *ar = dyn_cast<SCEVAddRecExpr>(se.getSCEV(&phi));
        if (!ar || ar->getLoop() != l || !ar->isAffine())
          continue;
        const SCEV *step = ar->getStepRecurrence(se);
        if (!se.isLoopInvariant(step, l) || step->isZero() ||
            !exp.isSafeToExpandAt(step, pre->getTerminator()))
          continue;
        Type *ty = phi.getType()->isPointerTy() ? dl_.getIndexType(phi.getType()) : phi.getType();
        if (step->getType() != ty)
          continue;
        cands.emplace_back(&phi, l->getHeader(), pre, exp.expandCodeFor(step, ty, pre->getTerminator()));
        loopBlocks[l->getHeader()] = l->getBlocks();
      }
    }
    exp.clear();
  }
  // The analyses are gone: the IR can change. Outer loops first, so an inner
  // start built from an outer induction variable is rematerializable.
  std::map<BasicBlock *, Value *> counter; // header -> this iteration's index (i64)
  std::vector<PHINode *> dead;
  // Loops that run in rounds: their loads of a later round are prefetched.
  static const std::int64_t kAhead = [] {
    const char *e = std::getenv("CUVIRT_JIT_PREFETCH_ROUNDS"); // experiments; 0 = off
    return e ? std::strtoll(e, nullptr, 10) : 8;
  }();
  std::map<BasicBlock *, RoundLoop> rounds; // by header
  for (auto [phi, header, pre, step] : cands) {
    Value *start = phi->getIncomingValueForBlock(pre);
    if (!isRematerializable(start, 0))
      continue; // kept per thread like any other value
    Value *&k = counter[header];
    if (!k) {
      IRBuilder<> eb(&*f.getEntryBlock().getFirstInsertionPt());
      AllocaInst *slot = eb.CreateAlloca(i64_, nullptr, "iv.k");
      ivSlots_.insert(slot);
      // header -> yield -> its resume block: a loop that runs in rounds.
      if (BasicBlock *y = header->getUniqueSuccessor())
        if (BasicBlock *r = y->getUniqueSuccessor())
          for (std::size_t e = 1; e < entries.size(); ++e)
            if (entries[e] == r && kinds[e] == kLoop) {
              roundSlots_.insert(slot);
              if (kAhead > 0)
                rounds[header] = {header, r, loopBlocks[header], {}};
            }
      IRBuilder<> pb(pre->getTerminator());
      pb.CreateStore(pb.getInt64(-1), slot);
      IRBuilder<> hb(&*header->getFirstInsertionPt());
      hb.CreateStore(hb.CreateAdd(hb.CreateLoad(i64_, slot, "iv.prev"), hb.getInt64(1)), slot);
      // Read back, so that recomputing a user after a resume point reads the
      // slot rather than adding one again.
      k = hb.CreateLoad(i64_, slot, "iv.k");
      if (auto it = rounds.find(header); it != rounds.end()) {
        it->second.counter = k;
        it->second.distance = kAhead;
      }
    }
    IRBuilder<> hb(cast<Instruction>(k)->getNextNode());
    Value *nv;
    if (phi->getType()->isPointerTy()) {
      nv = hb.CreateGEP(hb.getInt8Ty(), start, hb.CreateMul(k, step), phi->getName() + ".iv");
    } else {
      Value *kk = hb.CreateZExtOrTrunc(k, phi->getType());
      nv = hb.CreateAdd(start, hb.CreateMul(kk, step), phi->getName() + ".iv");
    }
    if (auto it = rounds.find(header); it != rounds.end()) {
      Value *ka = hb.CreateAdd(k, hb.getInt64(std::uint64_t(kAhead)));
      it->second.ahead[nv] =
          phi->getType()->isPointerTy()
              ? hb.CreateGEP(hb.getInt8Ty(), start, hb.CreateMul(ka, step))
              : hb.CreateAdd(start, hb.CreateMul(hb.CreateZExtOrTrunc(ka, phi->getType()), step));
    }
    phi->replaceAllUsesWith(nv);
    dead.push_back(phi);
  }
  for (PHINode *phi : dead)
    RecursivelyDeleteDeadPHINode(phi);
  std::vector<RoundLoop> loops;
  for (auto &[h, rl] : rounds)
    if (!rl.ahead.empty())
      loops.push_back(std::move(rl));
  addRoundPrefetches(loops);
}

// A loop that runs in rounds walks memory like a GPU grid-stride loop: each
// round of a block reads a small contiguous piece (1 KiB for 256 floats) far
// from the last one, which the hardware prefetchers do not follow. For loads
// whose address is affine in the loop's iteration counter, the round's entry
// gets a marker with the address kAhead rounds later; the lockstep nest turns
// it into prefetches of that round's span over the block (emitRegion).
void Blockifier::addRoundPrefetches(std::vector<RoundLoop> &loops) {
  Function *marker = nullptr;
  for (RoundLoop &rl : loops) {
    SmallPtrSet<BasicBlock *, 16> inLoop(rl.blocks.begin(), rl.blocks.end());
    // Pure arithmetic inside the loop that reaches an induction value.
    std::function<int(Value *, int)> depends = [&](Value *v, int depth) -> int { // 1 yes, 0 no, -1 unsafe
      if (rl.ahead.count(v))
        return 1;
      auto *i = dyn_cast<Instruction>(v);
      if (!i || !inLoop.contains(i->getParent()))
        return 0;
      auto *bo = dyn_cast<BinaryOperator>(i);
      if (depth > 12 || !((bo && !bo->isIntDivRem()) || isa<CastInst>(i) || isa<GetElementPtrInst>(i)))
        return -1;
      int any = 0;
      for (Value *op : i->operands()) {
        int d = depends(op, depth + 1);
        if (d < 0)
          return -1;
        any |= d;
      }
      return any;
    };
    std::vector<LoadInst *> loads;
    for (BasicBlock *bb : rl.blocks)
      for (Instruction &i : *bb)
        if (auto *ld = dyn_cast<LoadInst>(&i);
            ld && ld->isSimple() && depends(ld->getPointerOperand(), 0) == 1)
          loads.push_back(ld);
    if (loads.size() > 4)
      loads.resize(4);
    Instruction *at = &*rl.resume->getFirstInsertionPt();
    for (LoadInst *ld : loads) {
      std::map<Value *, Value *> memo(rl.ahead.begin(), rl.ahead.end());
      std::vector<Instruction *> made;
      std::function<Value *(Value *)> clone = [&](Value *v) -> Value * {
        if (auto it = memo.find(v); it != memo.end())
          return it->second;
        auto *i = dyn_cast<Instruction>(v);
        if (!i || !inLoop.contains(i->getParent()))
          return v; // the same in every round (and defined before the loop)
        Instruction *c = i->clone();
        c->dropPoisonGeneratingFlags(); // a hint past the end of the data must stay defined
        for (unsigned o = 0; o < c->getNumOperands(); ++o)
          c->setOperand(o, clone(c->getOperand(o)));
        c->insertBefore(at->getIterator());
        made.push_back(c);
        return memo[v] = c;
      };
      Value *p = clone(ld->getPointerOperand());
      if (!isRematerializable(p, 0, true)) { // it would be kept per thread: not worth a slot
        for (auto it = made.rbegin(); it != made.rend(); ++it)
          (*it)->eraseFromParent();
        continue;
      }
      if (!marker)
        marker = getFn("cuvirt.jit.prefetch", Type::getVoidTy(ctx_), {ptr_, i64_, i64_});
      CallInst::Create(marker, {p, rl.counter, ConstantInt::get(i64_, std::uint64_t(rl.distance))}, "",
                       at->getIterator());
    }
  }
}

// Values live at a resume point: recompute them there when they depend only
// on thread-invariant inputs and the thread index, otherwise keep them per
// thread in memory (an alloca, which becomes a frame slot).
void Blockifier::fixLiveAcross(Function &f, const std::vector<BasicBlock *> &entries) {
  SmallPtrSet<BasicBlock *, 16> resume(entries.begin() + 1, entries.end());
  for (int round = 0; round < 16; ++round) {
    std::vector<Instruction *> across;
    for (Instruction &i : instructions(f)) {
      if (isa<AllocaInst>(i) || i.getType()->isVoidTy() || i.use_empty())
        continue;
      auto live = liveInBlocks(&i);
      if (std::any_of(resume.begin(), resume.end(), [&](BasicBlock *e) { return live.contains(e); }))
        across.push_back(&i);
    }
    if (across.empty())
      return;
    for (Instruction *i : across) {
      if (!isa<PHINode>(i) && isRematerializable(i, 0)) {
        for (Use &u : make_early_inc_range(i->uses())) {
          auto *user = cast<Instruction>(u.getUser());
          Instruction *at = user;
          if (auto *phi = dyn_cast<PHINode>(user))
            at = phi->getIncomingBlock(u)->getTerminator();
          u.set(rematAt(i, at));
        }
        if (i->use_empty() && !i->mayHaveSideEffects())
          i->eraseFromParent();
      } else if (auto *phi = dyn_cast<PHINode>(i)) {
        bool uni = allBranchesUniform_ && uniform_.count(phi);
        AllocaInst *a = DemotePHIToStack(phi);
        demoted_.push_back(a);
        if (uni) {
          uniformAllocas_.insert(a);
          for (User *u : a->users()) // its reloads are as uniform as the value
            if (isa<LoadInst>(u))
              uniform_.insert(u);
        }
      } else {
        bool uni = allBranchesUniform_ && uniform_.count(i);
        AllocaInst *a = DemoteRegToStack(*i);
        demoted_.push_back(a);
        if (uni) {
          uniformAllocas_.insert(a);
          for (User *u : a->users()) // its reloads are as uniform as the value
            if (isa<LoadInst>(u))
              uniform_.insert(u);
        }
      }
    }
  }
}

// Demotion gives every value live across a resume point a slot of its own,
// and every phi another: a loop-carried sum becomes its register's slot, the
// header phi's, the exit phi's and the exit value's, each stored per thread
// per round (in a vectorised round: one store instruction each, masked or
// not). Slots never live at once, or holding the same value whenever both are
// live, share one (copy coalescing on frame slots, like a register
// allocator's): a loop-carried value then costs one store per round.
void Blockifier::coalesceSlots(Function &f) {
  constexpr std::size_t kMaxCandidates = 1024; // quadratic below; huge kernels keep their slots
  std::vector<AllocaInst *> cand;
  DenseMap<Value *, unsigned> index;
  for (AllocaInst *a : demoted_) {
    if (ivSlots_.contains(a) || roundSlots_.contains(a) || !a->isStaticAlloca())
      continue;
    bool simple = all_of(a->users(), [&](User *u) {
      if (auto *ld = dyn_cast<LoadInst>(u))
        return ld->isSimple() && ld->getType() == a->getAllocatedType();
      auto *st = dyn_cast<StoreInst>(u);
      return st && st->isSimple() && st->getPointerOperand() == a && st->getValueOperand() != a &&
             st->getValueOperand()->getType() == a->getAllocatedType();
    });
    if (simple) {
      index[a] = unsigned(cand.size());
      cand.push_back(a);
    }
  }
  const std::size_t n = cand.size();
  if (n < 2 || n > kMaxCandidates)
    return;
  auto slotOf = [&](Value *ptr) -> int {
    auto it = index.find(ptr);
    return it == index.end() ? -1 : int(it->second);
  };
  // Block-level liveness: a slot is live where a load of it can follow
  // without a store to it in between.
  DenseMap<BasicBlock *, BitVector> liveIn, gen, kill;
  for (BasicBlock &bb : f) {
    BitVector g(n), k(n);
    for (Instruction &i : reverse(bb)) {
      if (auto *st = dyn_cast<StoreInst>(&i); st && slotOf(st->getPointerOperand()) >= 0) {
        g.reset(unsigned(slotOf(st->getPointerOperand())));
        k.set(unsigned(slotOf(st->getPointerOperand())));
      } else if (auto *ld = dyn_cast<LoadInst>(&i); ld && slotOf(ld->getPointerOperand()) >= 0) {
        g.set(unsigned(slotOf(ld->getPointerOperand())));
        k.reset(unsigned(slotOf(ld->getPointerOperand())));
      }
    }
    gen[&bb] = g;
    kill[&bb] = k;
    liveIn[&bb] = g;
  }
  auto liveOut = [&](BasicBlock *bb) {
    BitVector out(n);
    for (BasicBlock *succ : successors(bb))
      out |= liveIn[succ];
    return out;
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (BasicBlock *bb : post_order(&f)) {
      BitVector in = liveOut(bb);
      in.reset(kill[bb]);
      in |= gen[bb];
      if (in != liveIn[bb]) {
        liveIn[bb] = std::move(in);
        changed = true;
      }
    }
  }
  // Interference: a store to X while Y is live, unless Y is known to hold
  // the stored value there (it was just loaded from Y, or stored to Y).
  std::vector<BitVector> interferes(n, BitVector(n));
  for (BasicBlock &bb : f) {
    DenseMap<Value *, BitVector> holders; // value -> slots known to hold it
    DenseMap<StoreInst *, BitVector> holdAtStore;
    auto forget = [&](unsigned x) {
      for (auto &[v, h] : holders)
        h.reset(x);
    };
    for (Instruction &i : bb) {
      if (auto *ld = dyn_cast<LoadInst>(&i); ld && slotOf(ld->getPointerOperand()) >= 0) {
        BitVector h(n);
        for (auto &[v, hv] : holders) // anything holding what the slot holds
          if (hv.test(unsigned(slotOf(ld->getPointerOperand()))))
            h |= hv;
        h.set(unsigned(slotOf(ld->getPointerOperand())));
        holders[ld] = h;
      } else if (auto *st = dyn_cast<StoreInst>(&i); st && slotOf(st->getPointerOperand()) >= 0) {
        auto x = unsigned(slotOf(st->getPointerOperand()));
        forget(x);
        BitVector &h = holders[st->getValueOperand()];
        h.resize(n);
        holdAtStore[st] = h;
        h.set(x);
      }
    }
    BitVector live = liveOut(&bb);
    for (Instruction &i : reverse(bb)) {
      if (auto *st = dyn_cast<StoreInst>(&i); st && slotOf(st->getPointerOperand()) >= 0) {
        auto x = unsigned(slotOf(st->getPointerOperand()));
        BitVector conflict = live;
        conflict.reset(holdAtStore[st]);
        conflict.reset(x);
        for (unsigned y : conflict.set_bits()) {
          interferes[x].set(y);
          interferes[y].set(x);
        }
        live.reset(x);
      } else if (auto *ld = dyn_cast<LoadInst>(&i); ld && slotOf(ld->getPointerOperand()) >= 0) {
        live.set(unsigned(slotOf(ld->getPointerOperand())));
      }
    }
  }
  // Greedy merging, in creation order (a value's slot, then its copies'). A
  // leader's row of `interferes` grows into its whole class's.
  std::vector<int> leader(n, -1);
  std::vector<unsigned> leaders;
  for (unsigned x = 0; x < n; ++x) {
    const bool uni = uniformAllocas_.contains(cand[x]);
    for (unsigned l : leaders)
      if (!interferes[l].test(x) && uniformAllocas_.contains(cand[l]) == uni &&
          cand[l]->getAllocatedType() == cand[x]->getAllocatedType() &&
          cand[l]->getAlign() >= cand[x]->getAlign()) {
        leader[x] = int(l);
        interferes[l] |= interferes[x];
        break;
      }
    if (leader[x] < 0) {
      leader[x] = int(x);
      leaders.push_back(x);
    }
  }
  for (unsigned x = 0; x < n; ++x)
    if (leader[x] != int(x)) {
      cand[x]->replaceAllUsesWith(cand[unsigned(leader[x])]);
      uniformAllocas_.erase(cand[x]);
      index.erase(cand[x]);
      cand[x]->eraseFromParent();
    }
  // What merging left behind: a slot stored with what was just loaded from it.
  for (BasicBlock &bb : f) {
    DenseMap<Value *, Value *> held; // slot -> value it is known to hold
    for (Instruction &i : make_early_inc_range(bb)) {
      if (auto *ld = dyn_cast<LoadInst>(&i); ld && slotOf(ld->getPointerOperand()) >= 0) {
        held.try_emplace(ld->getPointerOperand(), ld);
      } else if (auto *st = dyn_cast<StoreInst>(&i); st && slotOf(st->getPointerOperand()) >= 0) {
        auto it = held.find(st->getPointerOperand());
        if (it != held.end() && it->second == st->getValueOperand()) {
          st->eraseFromParent();
          continue;
        }
        held[st->getPointerOperand()] = st->getValueOperand(); // nothing else writes a slot
      }
    }
  }
}

// Which values may differ between the threads of a block (a forward
// propagation from the thread index, per-thread memory and collectives).
// When no branch depends on such a value, every thread reaches each resume
// point by the same path, so a uniform value kept across a barrier holds the
// same in every thread's slot: see useUniformSlots.
void Blockifier::analyzeUniformity(Function &f) {
  divergent_.clear();
  std::vector<Instruction *> work;
  auto source = [&](Instruction &i) {
    if (isa<AllocaInst>(i))
      return !ivSlots_.contains(&i);
    if (isa<AtomicRMWInst>(i) || isa<AtomicCmpXchgInst>(i))
      return true;
    if (auto *ld = dyn_cast<LoadInst>(&i)) // an iteration counter diverges only with the branches
      return !ld->hasMetadata(paramKind()) && !ivSlots_.contains(ld->getPointerOperand());
    if (auto *cb = dyn_cast<CallBase>(&i)) {
      switch (classify(cb).sr) {
      case Sr::Ntid:
      case Sr::Ctaid:
      case Sr::Nctaid:
      case Sr::NWarpId:
      case Sr::SmId:
      case Sr::NSmId:
      case Sr::GridId:
      case Sr::EnvReg:
      case Sr::SharedBase:
      case Sr::DynSharedBase:
      case Sr::DynSharedSize:
        return false;
      default:
        return !cb->getType()->isVoidTy();
      }
    }
    return false;
  };
  for (Instruction &i : instructions(f))
    if (source(i) && divergent_.insert(&i).second)
      work.push_back(&i);
  while (!work.empty()) {
    Instruction *i = work.back();
    work.pop_back();
    for (User *u : i->users())
      if (auto *ui = dyn_cast<Instruction>(u); ui && divergent_.insert(ui).second)
        work.push_back(ui);
  }
  uniform_.clear();
  for (Instruction &i : instructions(f))
    if (!divergent_.count(&i))
      uniform_.insert(&i);
  allBranchesUniform_ = true;
  for (BasicBlock &bb : f) {
    Instruction *t = bb.getTerminator();
    if (auto *br = dyn_cast<BranchInst>(t); br && br->isConditional() && divergent_.count(br->getCondition()))
      allBranchesUniform_ = false;
    if (auto *sw = dyn_cast<SwitchInst>(t); sw && divergent_.count(sw->getCondition()))
      allBranchesUniform_ = false;
    if (isa<IndirectBrInst>(t) || isa<InvokeInst>(t) || isa<CallBrInst>(t))
      allBranchesUniform_ = false;
  }
}

// Every alloca becomes a per-thread slot of the block frame: slot k of thread
// t lives at frame + n * prefix_k + t * size_k (slots sorted by alignment).
Status Blockifier::allocasToSlots(Function &f, std::vector<SlotInfo> &slots, std::uint64_t &frameBytes) {
  std::vector<AllocaInst *> allocas;
  for (Instruction &i : instructions(f))
    if (auto *a = dyn_cast<AllocaInst>(&i))
      allocas.push_back(a);
  slots.clear();
  slotOf_.clear();
  for (AllocaInst *a : allocas) {
    auto size = a->getAllocationSize(dl_);
    if (!size || size->isScalable())
      return fail(CUDA_ERROR_NOT_SUPPORTED,
                  fmt::format("cpu jit: dynamic alloca in kernel {} with barriers", f.getName().str()));
    SlotInfo s;
    s.uniform = uniformAllocas_.contains(a);
    s.align = std::min<std::uint64_t>(a->getAlign().value(), 64);
    s.size = std::max<std::uint64_t>((size->getFixedValue() + s.align - 1) / s.align * s.align, s.align);
    auto idx = std::uint32_t(slots.size());
    slots.push_back(s);
    slotOf_[a] = std::int32_t(idx);
    for (User *u : make_early_inc_range(a->users()))
      if (auto *ii = dyn_cast<IntrinsicInst>(u); ii && ii->isLifetimeStartOrEnd())
        ii->eraseFromParent();
    for (Use &u : make_early_inc_range(a->uses())) {
      auto *user = cast<Instruction>(u.getUser());
      Instruction *at = user;
      if (auto *phi = dyn_cast<PHINode>(user))
        at = phi->getIncomingBlock(u)->getTerminator();
      u.set(CallInst::Create(slotFn_, {ConstantInt::get(i32_, idx)}, "slot", at->getIterator()));
    }
    a->eraseFromParent();
  }
  std::vector<std::size_t> order(slots.size());
  for (std::size_t k = 0; k < order.size(); ++k)
    order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](auto x, auto y) { return slots[x].align > slots[y].align; });
  std::uint64_t prefix = 0;
  for (std::size_t k : order) {
    slots[k].prefix = prefix;
    prefix += slots[k].size;
  }
  frameBytes = (prefix + 15) / 16 * 16;
  return Status::success();
}

struct Blockifier::Frame {
  Value *env = nullptr, *params = nullptr, *shared = nullptr, *dynBytes = nullptr, *smid = nullptr;
  Value *gridWs = nullptr; // BlockEnv::gridWorkspace
  Value *n32 = nullptr, *n64 = nullptr;
  Value *bdim[3]{}, *gdim[3]{}, *bidx[3]{};

  Value *frame = nullptr, *state = nullptr, *coll = nullptr;
  std::vector<Value *> slotBase;
  Value *tid[3]{}; // i32
  Value *t64 = nullptr, *t32 = nullptr;
  int fastEntry = -1; // the resume id every thread starts at (fast regions), else -1
  bool skipExited = false;
};

// In a region run by all threads, a uniform slot read before the thread has
// written it in this region holds the value every thread had at the resume
// point: read it once, from thread 0, before the thread loop. Indices built
// from it become affine in tid.x, and conditions on it loop-invariant.
void Blockifier::useUniformSlots(const std::vector<BasicBlock *> &clones, BasicBlock *regionEntry, Frame &cf,
                                 const std::vector<SlotInfo> &slots, BasicBlock *entryBB) {
  auto slotOf = [&](Value *p) -> int {
    auto *c = dyn_cast<CallInst>(p);
    if (!c || c->getCalledFunction() != slotFn_)
      return -1;
    auto idx = int(cast<ConstantInt>(c->getArgOperand(0))->getZExtValue());
    if (checkedSlots_.count(idx))
      return assumeChecked_ ? idx : (sawChecked_ = true, -1);
    return slots[std::size_t(idx)].uniform ? idx : -1;
  };
  // The blocks this region runs: the thread loop's back edge leads to the
  // next thread, whose slot a store did not touch, and clones the entry cannot
  // reach (removed later) do not run.
  SmallPtrSet<BasicBlock *, 32> body;
  {
    SmallPtrSet<BasicBlock *, 32> inClones(clones.begin(), clones.end());
    SmallVector<BasicBlock *, 16> work{regionEntry};
    while (!work.empty()) {
      BasicBlock *bb = work.pop_back_val();
      if (!inClones.contains(bb) || !body.insert(bb).second)
        continue;
      for (BasicBlock *succ : successors(bb))
        work.push_back(succ);
    }
  }
  std::map<int, std::vector<StoreInst *>> stores;
  std::vector<std::pair<LoadInst *, int>> loads;
  for (BasicBlock *bb : clones)
    for (Instruction &i : *bb) {
      if (!body.contains(bb))
        break;
      if (auto *st = dyn_cast<StoreInst>(&i); st && slotOf(st->getPointerOperand()) >= 0)
        stores[slotOf(st->getPointerOperand())].push_back(st);
      else if (auto *ld = dyn_cast<LoadInst>(&i); ld && slotOf(ld->getPointerOperand()) >= 0)
        loads.push_back({ld, slotOf(ld->getPointerOperand())});
    }
  // Loads a store of the same slot may precede (in this region) stay per thread.
  std::map<int, SmallPtrSet<Instruction *, 16>> dirty;
  for (auto &[idx, sts] : stores) {
    SmallPtrSet<BasicBlock *, 16> reached;
    SmallVector<BasicBlock *, 16> work;
    for (StoreInst *st : sts) {
      for (Instruction *i = st->getNextNode(); i; i = i->getNextNode())
        dirty[idx].insert(i);
      for (BasicBlock *succ : successors(st->getParent()))
        work.push_back(succ);
    }
    while (!work.empty()) {
      BasicBlock *bb = work.pop_back_val();
      if (!body.contains(bb) || !reached.insert(bb).second)
        continue;
      for (Instruction &i : *bb)
        dirty[idx].insert(&i);
      for (BasicBlock *succ : successors(bb))
        work.push_back(succ);
    }
  }
  std::map<std::pair<int, Type *>, Value *> atEntry;
  for (auto [ld, idx] : loads) {
    if (dirty[idx].contains(ld) || ld->isVolatile())
      continue;
    Value *&v = atEntry[{idx, ld->getType()}];
    if (!v) {
      IRBuilder<> b(entryBB->getTerminator());
      v = b.CreateLoad(ld->getType(),
                       b.CreateInBoundsGEP(b.getInt8Ty(), cf.frame, cf.slotBase[std::size_t(idx)]),
                       "uniform");
    }
    ld->replaceAllUsesWith(v);
    ld->eraseFromParent();
  }
}

// Emits a function that runs the threads of a block over the per-thread body
// of `f`, entered at entries[entry] (or, entry < 0, at each thread's state).
Function *Blockifier::emitRegion(Function &f, const std::string &name, bool withState, bool nested,
                                 const std::vector<BasicBlock *> &entries, int entry,
                                 const std::vector<SlotInfo> &slots) {
  FunctionType *fty = withState ? FunctionType::get(i32_, {ptr_, ptr_, ptr_, ptr_}, false)
                                : FunctionType::get(Type::getVoidTy(ctx_), {ptr_}, false);
  Function *g = Function::Create(fty, withState ? GlobalValue::InternalLinkage : GlobalValue::ExternalLinkage,
                                 name, &m_);
  g->addFnAttr(Attribute::NoUnwind);
  if (!withState)
    g->setVisibility(GlobalValue::DefaultVisibility);
  for (unsigned a = 1; withState && a < 4; ++a)
    g->addParamAttr(a, Attribute::NoAlias);
  g->addParamAttr(0, Attribute::NoAlias);

  Frame fr;
  BasicBlock *entryBB = BasicBlock::Create(ctx_, "entry", g);
  IRBuilder<> b(entryBB);
  fr.env = g->getArg(0);
  auto envField = [&](Type *ty, unsigned field, unsigned idx, const char *nm) -> Value * {
    Value *p = field < 3
                   ? b.CreateInBoundsGEP(envTy_, fr.env, {b.getInt32(0), b.getInt32(field), b.getInt32(idx)})
                   : b.CreateStructGEP(envTy_, fr.env, field);
    auto *ld = b.CreateLoad(ty, p, nm);
    ld->setMetadata(LLVMContext::MD_invariant_load, MDNode::get(ctx_, {}));
    return ld;
  };
  for (unsigned d = 0; d < 3; ++d) {
    fr.gdim[d] = envField(i32_, 0, d, "nctaid");
    fr.bdim[d] = envField(i32_, 1, d, "ntid");
    fr.bidx[d] = envField(i32_, 2, d, "ctaid");
  }
  fr.dynBytes = envField(i32_, 3, 0, "dynsmem");
  fr.shared = envField(ptr_, 4, 0, "shared");
  fr.params = envField(ptr_, 5, 0, "params");
  fr.smid = envField(i32_, 7, 0, "smid");
  fr.gridWs = envField(i64_, 8, 0, "gridws");
  fr.n32 = b.CreateNUWMul(b.CreateNUWMul(fr.bdim[0], fr.bdim[1]), fr.bdim[2], "nthreads");
  fr.n64 = b.CreateZExt(fr.n32, i64_);
  Value *bx = b.CreateZExt(fr.bdim[0], i64_), *by = b.CreateZExt(fr.bdim[1], i64_),
        *bz = b.CreateZExt(fr.bdim[2], i64_);
  if (withState) {
    fr.frame = g->getArg(1);
    fr.state = g->getArg(2);
    fr.coll = g->getArg(3);
    if (nested)
      fr.fastEntry = entry;
    fr.skipExited = skipExited_;
    for (const SlotInfo &s : slots)
      fr.slotBase.push_back(b.CreateNUWMul(fr.n64, b.getInt64(s.prefix)));
  }

  // The small-block variant (K.whole, see blockifyKernel) shares K's layout.
  std::string kernelKey = f.getName().str();
  if (StringRef(kernelKey).ends_with(".whole"))
    kernelKey.resize(kernelKey.size() - 6);
  std::uint32_t staticShared =
      opts_.staticSharedBytes.contains(kernelKey) ? opts_.staticSharedBytes.at(kernelKey) : 0;
  BasicBlock *done = BasicBlock::Create(ctx_, "block.done", g);
  PHINode *doneAnd = nullptr, *doneOr = nullptr;
  {
    IRBuilder<> db(done);
    if (withState) {
      doneAnd = db.CreatePHI(i32_, 2);
      doneOr = db.CreatePHI(i32_, 2);
      db.CreateRet(db.CreateSelect(db.CreateICmpEQ(doneAnd, doneOr), doneAnd, db.getInt32(-1)));
    } else {
      db.CreateRetVoid();
    }
  }
  std::vector<BranchInst *> threadLatches;

  // One copy of the per-thread body for the thread described by `cf`, entered
  // from `from` (at the region's entry, or through `dispatch` per state); its
  // exits go to `join`, with the new state in `st`. What the entry cannot
  // reach goes away later, so each region keeps only its own blocks (blocks
  // reachable from several resume points are thereby replicated).
  std::vector<BasicBlock *> lastClones; // the body blocks cloned last (guard versioning)
  Value *lastTidX = nullptr;
  Frame lastFrame;
  auto cloneBody = [&](Frame &cf, BasicBlock *from, BasicBlock *join, PHINode *st, SwitchInst *dispatch) {
    ValueToValueMapTy vm;
    if (!f.arg_empty())
      vm[f.getArg(0)] = cf.params;
    // A region entered at one resume point ends at the next yields: clone
    // only what it reaches up to them (the generic region, entered anywhere,
    // takes every block). Cloning the whole body per region made kernels
    // with hundreds of collectives quadratic.
    SmallPtrSet<const BasicBlock *, 32> keep;
    if (!dispatch) {
      SmallVector<BasicBlock *, 64> work{entries[std::size_t(entry)]};
      while (!work.empty()) {
        BasicBlock *bb = work.pop_back_val();
        if (!keep.insert(bb).second)
          continue;
        if (auto *y = dyn_cast<CallInst>(&bb->front()); y && y->getCalledFunction() == yieldFn_)
          continue;
        for (BasicBlock *s : successors(bb))
          work.push_back(s);
      }
      // Allocas left in the entry block (kernels without barriers), which
      // the region may not reach: one copy in the function's entry.
      if (!keep.contains(&f.getEntryBlock()))
        for (Instruction &i : f.getEntryBlock())
          if (auto *a = dyn_cast<AllocaInst>(&i); a && isa<ConstantInt>(a->getArraySize())) {
            Instruction *c = a->clone();
            c->insertBefore(entryBB->getTerminator()->getIterator());
            vm[a] = c;
          }
    }
    std::vector<BasicBlock *> clones;
    for (BasicBlock &bb : f) {
      if (!dispatch && !keep.contains(&bb))
        continue;
      BasicBlock *c = CloneBasicBlock(&bb, vm, "", g);
      c->moveBefore(join);
      vm[&bb] = c;
      clones.push_back(c);
    }
    for (BasicBlock *c : clones)
      for (Instruction &i : *c) {
        RemapInstruction(&i, vm, RF_NoModuleLevelChanges | RF_IgnoreMissingLocals);
        if (dispatch)
          continue;
        // Edges from blocks the region does not reach; values of such
        // blocks (none after fixLiveAcross) would be poison, as when
        // pruned.
        if (auto *phi = dyn_cast<PHINode>(&i))
          for (unsigned k = phi->getNumIncomingValues(); k-- > 0;)
            if (phi->getIncomingBlock(k)->getParent() != g)
              phi->removeIncomingValue(k, false);
        for (Use &u : i.operands())
          if (auto *d = dyn_cast<Instruction>(u.get()); d && d->getFunction() != g)
            u.set(PoisonValue::get(d->getType()));
      }
    for (BasicBlock *c : clones) {
      Instruction *term = c->getTerminator();
      if (isa<ReturnInst>(term)) {
        BranchInst::Create(join, term->getIterator());
        term->eraseFromParent();
        if (st)
          st->addIncoming(ConstantInt::get(i32_, kExit), c);
        continue;
      }
      if (auto *y = dyn_cast<CallInst>(&c->front()); y && y->getCalledFunction() == yieldFn_) {
        Value *id = y->getArgOperand(0);
        term->eraseFromParent();
        y->eraseFromParent();
        BranchInst::Create(join, c);
        st->addIncoming(id, c);
      }
    }
    // Per-thread allocas (kernels without barriers) belong to the function entry.
    if (auto *origEntry = cast_if_present<BasicBlock>(static_cast<Value *>(vm.lookup(&f.getEntryBlock()))))
      for (Instruction &i : make_early_inc_range(*origEntry))
        if (auto *a = dyn_cast<AllocaInst>(&i); a && isa<ConstantInt>(a->getArraySize()))
          a->moveBefore(entryBB->getTerminator()->getIterator());
    if (dispatch) {
      for (std::size_t k = 0; k < entries.size(); ++k)
        dispatch->addCase(ConstantInt::get(cast<IntegerType>(i32_), k), cast<BasicBlock>(vm[entries[k]]));
    } else if (cf.skipExited) {
      IRBuilder<> fb(from);
      Value *s0 = fb.CreateLoad(i32_, fb.CreateInBoundsGEP(i32_, cf.state, cf.t64), "state");
      fb.CreateCondBr(fb.CreateICmpEQ(s0, fb.getInt32(kExit)), join,
                      cast<BasicBlock>(vm[entries[std::size_t(entry)]]));
      st->addIncoming(fb.getInt32(kExit), from);
    } else {
      BranchInst::Create(cast<BasicBlock>(vm[entries[std::size_t(entry)]]), from);
    }
    if (!dispatch && withState)
      useUniformSlots(clones, cast<BasicBlock>(vm[entries[std::size_t(entry)]]), cf, slots, entryBB);
    lowerCalls(clones, cf, slots, staticShared);
    lastClones.insert(lastClones.end(), clones.begin(), clones.end());
    lastTidX = cf.tid[0];
    lastFrame = cf;
  };

  if (!nested) {
    // Any mix of states: one loop over the linear thread index, a switch on
    // each thread's state.
    b.CreateBr(BasicBlock::Create(ctx_, "t.head", g, done));
    BasicBlock *th = entryBB->getTerminator()->getSuccessor(0);
    BasicBlock *skip = BasicBlock::Create(ctx_, "t.skip", g, done);
    BasicBlock *join = BasicBlock::Create(ctx_, "thread.next", g, done);
    IRBuilder<> tb(th), jb(join);
    PHINode *t = tb.CreatePHI(i64_, 2, "t");
    PHINode *aT = tb.CreatePHI(i32_, 2), *oT = tb.CreatePHI(i32_, 2);
    Frame cf = fr;
    cf.t64 = t;
    cf.t32 = tb.CreateTrunc(t, i32_, "t32", true, true);
    Value *s0 = tb.CreateLoad(i32_, tb.CreateInBoundsGEP(i32_, fr.state, t), "state");
    cf.tid[0] = tb.CreateTrunc(tb.CreateURem(t, bx), i32_, "tid.x");
    cf.tid[1] = tb.CreateTrunc(tb.CreateURem(tb.CreateUDiv(t, bx), by), i32_, "tid.y");
    cf.tid[2] = tb.CreateTrunc(tb.CreateUDiv(t, tb.CreateNUWMul(bx, by)), i32_, "tid.z");
    SwitchInst *dispatch = tb.CreateSwitch(s0, skip, unsigned(entries.size()));
    PHINode *st = jb.CreatePHI(i32_, 4, "newstate");
    BranchInst::Create(join, skip);
    st->addIncoming(s0, skip);
    jb.CreateStore(st, jb.CreateInBoundsGEP(i32_, fr.state, t));
    Value *allAnd = jb.CreateAnd(aT, st), *allOr = jb.CreateOr(oT, st);
    Value *t1 = jb.CreateAdd(t, jb.getInt64(1), "", true, true);
    threadLatches.push_back(jb.CreateCondBr(jb.CreateICmpULT(t1, fr.n64), th, done));
    t->addIncoming(b.getInt64(0), entryBB);
    t->addIncoming(t1, join);
    aT->addIncoming(b.getInt32(-1), entryBB);
    oT->addIncoming(b.getInt32(0), entryBB);
    aT->addIncoming(allAnd, join);
    oT->addIncoming(allOr, join);
    doneAnd->addIncoming(allAnd, join);
    doneOr->addIncoming(allOr, join);
    cloneBody(cf, nullptr, join, st, dispatch);
  } else {
    // z, y, x loops, x innermost so the loop over tid.x vectorises. With
    // `jam` > 1 each x iteration runs the threads of `jam` consecutive rows
    // (unroll-and-jam of the y loop): independent chains for the CPU where
    // one row of a 16x16 block is a single vector.
    // A region for threads some of which have exited (fastLive) in a 1-D
    // block stops at the last live thread: the dispatcher leaves its index
    // + 1 in state[n + 1] (a tail after `if (warp == 0)` runs 32 threads, not
    // all of them). The threads past it count as exited in the region's answer.
    Value *xEnd = bx, *andInit = b.getInt32(-1), *orInit = b.getInt32(0);
    if (withState && skipExited_) {
      Value *live = b.CreateZExt(
          b.CreateLoad(i32_, b.CreateInBoundsGEP(i32_, fr.state, b.CreateAdd(fr.n64, b.getInt64(1)))), i64_,
          "live.end");
      Value *flat = b.CreateAnd(b.CreateICmpEQ(by, b.getInt64(1)), b.CreateICmpEQ(bz, b.getInt64(1)));
      xEnd = b.CreateSelect(flat, b.CreateBinaryIntrinsic(Intrinsic::umin, bx, live), bx, "x.end");
      Value *skipped = b.CreateICmpULT(xEnd, bx, "skipped");
      andInit = b.CreateSelect(skipped, b.getInt32(kExit), b.getInt32(-1));
      orInit = b.CreateSelect(skipped, b.getInt32(kExit), b.getInt32(0));
    }
    auto nest = [&](unsigned jam, BasicBlock *pre) {
      BasicBlock *zh = BasicBlock::Create(ctx_, "z.head", g, done),
                 *yh = BasicBlock::Create(ctx_, "y.head", g, done),
                 *xh = BasicBlock::Create(ctx_, "x.head", g, done);
      IRBuilder<> zb(zh), yb(yh), xb(xh);
      PHINode *z = zb.CreatePHI(i64_, 2, "z"), *y = yb.CreatePHI(i64_, 2, "y"),
              *x = xb.CreatePHI(i64_, 2, "x");
      PHINode *aZ = nullptr, *oZ = nullptr, *aY = nullptr, *oY = nullptr, *aX = nullptr, *oX = nullptr;
      if (withState) {
        aZ = zb.CreatePHI(i32_, 2);
        oZ = zb.CreatePHI(i32_, 2);
        aY = yb.CreatePHI(i32_, 2);
        oY = yb.CreatePHI(i32_, 2);
        aX = xb.CreatePHI(i32_, 2);
        oX = xb.CreatePHI(i32_, 2);
      }
      zb.CreateBr(yh);
      yb.CreateBr(xh);
      z->addIncoming(b.getInt64(0), pre);
      y->addIncoming(b.getInt64(0), zh);
      x->addIncoming(b.getInt64(0), yh);
      Value *acc[2] = {aX, oX};
      BasicBlock *from = xh;
      Value *row0 = xb.CreateAdd(xb.CreateNUWMul(z, by), y, "", true, true);
      for (unsigned j = 0; j < jam; ++j) {
        Frame cf = fr;
        IRBuilder<> hb(from);
        Value *yj = j ? hb.CreateAdd(y, hb.getInt64(j), "", true, true) : y;
        Value *row = j ? hb.CreateAdd(row0, hb.getInt64(j), "", true, true) : row0;
        cf.t64 = hb.CreateAdd(hb.CreateNUWMul(row, bx), x, "t", true, true);
        cf.t32 = hb.CreateTrunc(cf.t64, i32_, "t32", true, true);
        cf.tid[0] = hb.CreateTrunc(x, i32_, "tid.x", true, true);
        cf.tid[1] = hb.CreateTrunc(yj, i32_, "tid.y", true, true);
        cf.tid[2] = hb.CreateTrunc(z, i32_, "tid.z", true, true);
        BasicBlock *join = BasicBlock::Create(ctx_, "thread.next", g, done);
        IRBuilder<> jb(join);
        PHINode *st = nullptr;
        if (withState) {
          st = jb.CreatePHI(i32_, 4, "newstate");
          jb.CreateStore(st, jb.CreateInBoundsGEP(i32_, fr.state, cf.t64));
          acc[0] = jb.CreateAnd(acc[0], st);
          acc[1] = jb.CreateOr(acc[1], st);
        }
        cloneBody(cf, from, join, st, nullptr);
        from = join;
      }
      BasicBlock *yl = BasicBlock::Create(ctx_, "y.next", g, done),
                 *zl = BasicBlock::Create(ctx_, "z.next", g, done);
      IRBuilder<> lb(from), ylb(yl), zlb(zl);
      Value *x1 = lb.CreateAdd(x, lb.getInt64(1), "", true, true);
      threadLatches.push_back(lb.CreateCondBr(lb.CreateICmpULT(x1, xEnd), xh, yl));
      x->addIncoming(x1, from);
      Value *y1 = ylb.CreateAdd(y, ylb.getInt64(jam), "", true, true);
      ylb.CreateCondBr(ylb.CreateICmpULT(y1, by), yh, zl);
      y->addIncoming(y1, yl);
      Value *z1 = zlb.CreateAdd(z, zlb.getInt64(1), "", true, true);
      zlb.CreateCondBr(zlb.CreateICmpULT(z1, bz), zh, done);
      z->addIncoming(z1, zl);
      if (withState) {
        aZ->addIncoming(andInit, pre);
        oZ->addIncoming(orInit, pre);
        aZ->addIncoming(acc[0], zl);
        oZ->addIncoming(acc[1], zl);
        aY->addIncoming(aZ, zh);
        oY->addIncoming(oZ, zh);
        aY->addIncoming(acc[0], yl);
        oY->addIncoming(acc[1], yl);
        aX->addIncoming(aY, yh);
        oX->addIncoming(oY, yh);
        aX->addIncoming(acc[0], from);
        oX->addIncoming(acc[1], from);
        doneAnd->addIncoming(acc[0], zl);
        doneOr->addIncoming(acc[1], zl);
      }
      return zh;
    };
    // Rows are jammed when blockDim.y is a multiple of the factor.
    const unsigned kJam = lean_ ? 1 : opts_.jam;
    BasicBlock *pre1 = BasicBlock::Create(ctx_, "nest.1", g, done);
    BasicBlock *preJ = BasicBlock::Create(ctx_, "nest.jam", g, done);
    if (kJam > 1) {
      b.CreateCondBr(b.CreateICmpEQ(b.CreateURem(by, b.getInt64(kJam)), b.getInt64(0)), preJ, pre1);
      BranchInst::Create(nest(kJam, preJ), preJ);
    } else {
      b.CreateBr(pre1);
      preJ->eraseFromParent();
    }
    lastClones.clear();
    BranchInst::Create(nest(1, pre1), pre1);
    // Bounds guards (`if (i < n)` with i = invariant + tid.x): when the guard
    // is the same for the whole row of threads, a copy of the nest runs with
    // it decided up front, so the loop needs no masked loads/stores.
    if (kJam <= 1 && !lean_ && !findGuards(lastClones, lastTidX).empty()) {
      BasicBlock *preG = BasicBlock::Create(ctx_, "nest.inbounds", g, done);
      lastClones.clear();
      BranchInst::Create(nest(1, preG), preG);
      std::vector<Guard> guards = findGuards(lastClones, lastTidX);
      Instruction *term = entryBB->getTerminator();
      IRBuilder<> eb(term);
      Value *all = eb.getTrue();
      Value *last = eb.CreateSub(fr.bdim[0], eb.getInt32(1));
      for (const Guard &gd : guards) {
        Value *base = rematAt(gd.base, term), *bound = rematAt(gd.bound, term);
        Value *c0 = eb.CreateICmp(gd.pred, base, bound);
        Value *lastVal = eb.CreateAdd(base, last);
        Value *cl = eb.CreateICmp(gd.pred, lastVal, bound);
        // base + tid.x must not wrap over the row, or the guard is not monotone.
        bool isSigned = ICmpInst::isSigned(gd.pred);
        Value *wide = isSigned ? eb.CreateSExt(base, i64_) : eb.CreateZExt(base, i64_);
        Value *end = eb.CreateAdd(wide, eb.CreateZExt(last, i64_));
        Value *fits = eb.CreateICmpSLE(end, eb.getInt64(isSigned ? INT32_MAX : UINT32_MAX));
        all = eb.CreateAnd(all, eb.CreateAnd(fits, eb.CreateICmpEQ(c0, cl)));
        gd.branch->setCondition(c0);
      }
      BranchInst::Create(preG, pre1, all, entryBB);
      term->eraseFromParent();
    }
    // Loop rounds: when every thread is in the same iteration of a loop (the
    // usual case, checked at entry), a copy of the nest reads the iteration
    // counters once, so induction variables stay affine in tid.x.
    if (withState && sawChecked_ && !lean_) {
      BasicBlock *preU = BasicBlock::Create(ctx_, "nest.lockstep", g, done);
      assumeChecked_ = true;
      collectPrefetches_ = true;
      prefetches_.clear();
      BranchInst::Create(nest(1, preU), preU);
      assumeChecked_ = false;
      collectPrefetches_ = false;
      emitPrefetches(preU, fr, lastFrame);
      Instruction *term = entryBB->getTerminator();
      BasicBlock *choose = BasicBlock::Create(ctx_, "nest.choose", g, preU);
      term->removeFromParent();
      term->insertInto(choose, choose->end());
      IRBuilder<> eb(entryBB);
      FunctionCallee same = m_.getOrInsertFunction("cuvirt_cpu_jit_uniform64", i1_, ptr_, i64_);
      Value *all = eb.getTrue();
      // Counters of loops that run in rounds are equal while every round so
      // far has run all threads from one resume point to another (each round
      // passes such a loop's top once or not at all, in every thread): the
      // dispatcher says so in state[n]. Other counters are compared.
      Value *lockstep =
          eb.CreateICmpNE(eb.CreateLoad(i32_, eb.CreateInBoundsGEP(i32_, fr.state, fr.n64)), eb.getInt32(0));
      for (int idx : checkedSlots_)
        all =
            eb.CreateAnd(all, roundSlotIdx_.count(idx)
                                  ? lockstep
                                  : eb.CreateCall(same, {eb.CreateInBoundsGEP(eb.getInt8Ty(), fr.frame,
                                                                              fr.slotBase[std::size_t(idx)]),
                                                         fr.n64}));
      eb.CreateCondBr(all, preU, choose);
    }
  }
  sawChecked_ = false;
  for (CallInst *c : prefetches_) // markers of nests that do not prefetch
    c->eraseFromParent();
  prefetches_.clear();
  removeUnreachableBlocks(*g);
  hoistBlockInvariant(*g);
  markParallel(*g, threadLatches);
  return g;
}

// The lockstep nest of a loop round (every thread in the same iteration):
// each prefetch marker's address is computed for threads 0 and blockDim.x - 1
// of row 0 (`cf` is the nest's per-thread frame), and the cache lines between
// them are prefetched once, before the thread loop (a prefetch inside it
// would keep the loop from vectorising). Spans over 16 KiB are skipped.
void Blockifier::emitPrefetches(BasicBlock *pre, const Frame &fr, const Frame &cf) {
  std::vector<CallInst *> markers;
  markers.swap(prefetches_);
  if (markers.empty())
    return;
  BasicBlock *entryBB = &pre->getParent()->getEntryBlock();
  for (CallInst *m : markers) {
    Value *const address = m->getArgOperand(0), *const counter = m->getArgOperand(1);
    const std::int64_t distance = cast<ConstantInt>(m->getArgOperand(2))->getSExtValue();
    // The marker's address for thread (x32, 0, 0), built before `at`; with
    // `round`, for that round instead of this one's + distance. Null when the
    // address needs something other than pure arithmetic.
    auto addrFor = [&](Value *x32, Instruction *at, Value *round) -> Value * {
      IRBuilder<> b(at);
      std::map<Value *, Value *> sub{{cf.tid[0], x32},
                                     {cf.tid[1], b.getInt32(0)},
                                     {cf.tid[2], b.getInt32(0)},
                                     {cf.t32, x32},
                                     {cf.t64, b.CreateZExt(x32, i64_)}};
      if (round)
        sub[counter] = b.CreateSub(round, b.getInt64(std::uint64_t(distance)));
      std::vector<Instruction *> made;
      bool ok = true;
      std::function<Value *(Value *)> h = [&](Value *v) -> Value * {
        if (auto it = sub.find(v); it != sub.end())
          return it->second;
        auto *i = dyn_cast<Instruction>(v);
        if (!ok || !i || i->getParent() == entryBB)
          return v;
        auto *bo = dyn_cast<BinaryOperator>(i);
        auto *ld = dyn_cast<LoadInst>(i);
        bool pure = (bo && !bo->isIntDivRem()) || isa<CastInst>(i) || isa<GetElementPtrInst>(i) ||
                    isa<CmpInst>(i) || isa<SelectInst>(i) ||
                    (ld && ld->isSimple() && ld->hasMetadata(LLVMContext::MD_invariant_load));
        if (!pure) {
          ok = false;
          return v;
        }
        Instruction *c = i->clone();
        c->dropPoisonGeneratingFlags();
        for (unsigned o = 0; o < c->getNumOperands(); ++o)
          c->setOperand(o, h(c->getOperand(o)));
        c->insertBefore(at->getIterator());
        made.push_back(c);
        return sub[v] = c;
      };
      Value *p = h(address);
      if (ok)
        return p;
      for (auto it = made.rbegin(); it != made.rend(); ++it)
        (*it)->eraseFromParent();
      return nullptr;
    };
    // Prefetches the lines of [lo, hi] (when under 16 KiB) at the end of
    // `from`, continuing in the block it returns.
    auto prefetchSpan = [&](BasicBlock *from, Value *lo, Value *hi) -> BasicBlock * {
      Instruction *at = from->getTerminator();
      IRBuilder<> b(at);
      Value *loI = b.CreateAnd(b.CreatePtrToInt(lo, i64_), b.getInt64(~std::uint64_t(63)));
      Value *hiI = b.CreatePtrToInt(hi, i64_);
      Value *small = b.CreateICmpULT(b.CreateSub(hiI, loI), b.getInt64(16384));
      BasicBlock *rest = from->splitBasicBlock(at, "pf.done");
      BasicBlock *loop = BasicBlock::Create(ctx_, "pf.loop", from->getParent(), rest);
      from->getTerminator()->eraseFromParent();
      BranchInst::Create(loop, rest, small, from);
      IRBuilder<> lb(loop);
      PHINode *pa = lb.CreatePHI(i64_, 2, "pf.addr");
      pa->addIncoming(loI, from);
      lb.CreateIntrinsic(Intrinsic::prefetch, {ptr_},
                         {lb.CreateIntToPtr(pa, ptr_), lb.getInt32(0), lb.getInt32(3), lb.getInt32(1)});
      Value *next = lb.CreateAdd(pa, lb.getInt64(64));
      pa->addIncoming(next, loop);
      lb.CreateCondBr(lb.CreateICmpULE(next, hiI), loop, rest);
      return rest;
    };
    Value *lo = addrFor(IRBuilder<>(pre->getTerminator()).getInt32(0), pre->getTerminator(), nullptr);
    Value *hi = nullptr;
    if (lo) {
      IRBuilder<> b(pre->getTerminator());
      hi = addrFor(b.CreateSub(fr.bdim[0], b.getInt32(1)), pre->getTerminator(), nullptr);
    }
    m->eraseFromParent();
    if (!lo || !hi)
      continue;
    // The first round of a block also fetches rounds 1 .. distance-1, which
    // no earlier round did (a grid-stride loop of 64 rounds would otherwise
    // start cold in one round of eight). Needs the counter as one value for
    // the whole nest (read once at entry).
    auto *kIns = dyn_cast<Instruction>(counter);
    if (distance > 1 && kIns && kIns->getParent() == entryBB) {
      Instruction *at = pre->getTerminator();
      BasicBlock *main = pre->splitBasicBlock(at, "pf.main");
      BasicBlock *head = BasicBlock::Create(ctx_, "pf.cold", pre->getParent(), main);
      pre->getTerminator()->eraseFromParent();
      IRBuilder<> pb(pre);
      pb.CreateCondBr(pb.CreateICmpEQ(counter, pb.getInt64(0)), head, main);
      IRBuilder<> hb(head);
      PHINode *round = hb.CreatePHI(i64_, 2, "pf.round");
      round->addIncoming(hb.getInt64(1), pre);
      Instruction *hterm = hb.CreateUnreachable();
      Value *clo = addrFor(hb.getInt32(0), hterm, round);
      IRBuilder<> tb(hterm);
      Value *chi = clo ? addrFor(tb.CreateSub(fr.bdim[0], tb.getInt32(1)), hterm, round) : nullptr;
      hterm->eraseFromParent();
      if (!clo || !chi) { // cannot happen once the plain span could be built; stay safe
        BranchInst::Create(main, head);
        round->addIncoming(ConstantInt::get(i64_, 1), head);
        round->removeIncomingValue(head);
      } else {
        BranchInst::Create(main, head); // placeholder terminator, split below
        BasicBlock *next = prefetchSpan(head, clo, chi);
        next->getTerminator()->eraseFromParent();
        IRBuilder<> nb(next);
        Value *r1 = nb.CreateAdd(round, nb.getInt64(1));
        round->addIncoming(r1, next);
        nb.CreateCondBr(nb.CreateICmpSLT(r1, nb.getInt64(std::uint64_t(distance))), head, main);
      }
      pre = main;
    }
    pre = prefetchSpan(pre, lo, hi);
  }
}

// Thread-independent within a block: built from constants, the BlockEnv's
// fields, kernel parameters and pure arithmetic on them.
bool Blockifier::isBlockInvariant(Value *v, int depth) {
  if (isa<Constant>(v) || isa<Argument>(v))
    return true;
  auto *i = dyn_cast<Instruction>(v);
  if (!i || depth > 8)
    return false;
  if (i->getParent() == &i->getFunction()->getEntryBlock() && !isa<PHINode>(i))
    return true;
  if (auto *ld = dyn_cast<LoadInst>(i))
    return ld->hasMetadata(paramKind()) && isBlockInvariant(ld->getPointerOperand(), depth + 1);
  if (auto *bo = dyn_cast<BinaryOperator>(i); bo && bo->isIntDivRem())
    return false;
  if (!isa<BinaryOperator>(i) && !isa<CastInst>(i) && !isa<GetElementPtrInst>(i) && !isa<CmpInst>(i) &&
      !isa<SelectInst>(i))
    return false;
  return all_of(i->operands(), [&](Value *op) { return isBlockInvariant(op, depth + 1); });
}

std::vector<Blockifier::Guard> Blockifier::findGuards(const std::vector<BasicBlock *> &blocks, Value *tidX) {
  std::vector<Guard> out;
  for (BasicBlock *bb : blocks) {
    auto *br = dyn_cast<BranchInst>(bb->getTerminator());
    if (!br || !br->isConditional())
      continue;
    auto *cmp = dyn_cast<ICmpInst>(br->getCondition());
    if (!cmp || !cmp->hasOneUse() || cmp->isEquality())
      continue;
    CmpInst::Predicate pred = cmp->getPredicate();
    Value *lhs = cmp->getOperand(0), *rhs = cmp->getOperand(1);
    if (!isa<BinaryOperator>(lhs)) {
      std::swap(lhs, rhs);
      pred = CmpInst::getSwappedPredicate(pred);
    }
    auto *add = dyn_cast<BinaryOperator>(lhs);
    if (!add || add->getOpcode() != Instruction::Add || !add->getType()->isIntegerTy(32) ||
        !isBlockInvariant(rhs, 0))
      continue;
    Value *base = add->getOperand(0) == tidX   ? add->getOperand(1)
                  : add->getOperand(1) == tidX ? add->getOperand(0)
                                               : nullptr;
    if (!base || !isBlockInvariant(base, 0))
      continue;
    out.push_back({br, pred, base, rhs});
  }
  return out;
}

// Threads of a block are independent between barriers (CUDA: a data race
// otherwise), so the innermost thread loop has no loop-carried memory
// dependences: say so, as PoCL does, so that vectorisation needs no runtime
// alias checks (which fail for indices that are not affine in tid.x).
// Except for the allocas left in `g` (.local memory of kernels without
// barriers): they sit in the entry block, one copy shared by every thread of
// the loop, so their accesses do depend across iterations. Those keep no
// access group; if an address of theirs escapes, nothing is claimed.
void Blockifier::markParallel(Function &g, const std::vector<BranchInst *> &latches) {
  SmallPtrSet<Value *, 32> local; // values that may be (or compute) an alloca's address
  SmallVector<Instruction *, 32> work;
  for (Instruction &i : instructions(g))
    if (isa<AllocaInst>(i) && local.insert(&i).second)
      work.push_back(&i);
  bool escapes = false;
  while (!work.empty() && !escapes) {
    Instruction *v = work.pop_back_val();
    for (Use &u : v->uses()) {
      auto *user = cast<Instruction>(u.getUser());
      if (isa<LoadInst>(user) || isa<MemIntrinsic>(user) || isa<CmpInst>(user) ||
          (isa<StoreInst>(user) && u.getOperandNo() == StoreInst::getPointerOperandIndex()))
        continue;
      if (auto *ii = dyn_cast<IntrinsicInst>(user); ii && ii->isLifetimeStartOrEnd())
        continue;
      if (isa<StoreInst>(user) || isa<AtomicRMWInst>(user) || isa<AtomicCmpXchgInst>(user) ||
          isa<CallBase>(user) || user->getType()->isVoidTy()) {
        escapes = true; // stored or handed on: its later loads could be anything
        break;
      }
      if (local.insert(user).second)
        work.push_back(user); // GEPs, casts, integer arithmetic, phis, selects
    }
  }
  if (escapes)
    return;
  auto isLocal = [&](Value *p) { return local.contains(p); };
  MDNode *group = MDNode::getDistinct(ctx_, {});
  for (BasicBlock &bb : g) {
    if (&bb == &g.getEntryBlock())
      continue;
    for (Instruction &i : bb) {
      if (!(isa<LoadInst>(i) || isa<StoreInst>(i) || isa<MemIntrinsic>(i)) || i.isAtomic())
        continue;
      if (auto *ld = dyn_cast<LoadInst>(&i); ld && isLocal(ld->getPointerOperand()))
        continue;
      if (auto *st = dyn_cast<StoreInst>(&i); st && isLocal(st->getPointerOperand()))
        continue;
      if (auto *mi = dyn_cast<MemIntrinsic>(&i);
          mi && (isLocal(mi->getDest()) ||
                 (isa<MemTransferInst>(mi) && isLocal(cast<MemTransferInst>(mi)->getSource()))))
        continue;
      i.setMetadata(LLVMContext::MD_access_group, group);
    }
  }
  MDNode *parallel = MDNode::get(ctx_, {MDString::get(ctx_, "llvm.loop.parallel_accesses"), group});
  auto loopId = MDNode::getDistinct(ctx_, {nullptr, parallel});
  loopId->replaceOperandWith(0, loopId);
  for (BranchInst *latch : latches)
    latch->setMetadata(LLVMContext::MD_loop, loopId);
}

// Moves what every thread computes alike (parameter loads and arithmetic on
// them and the block's coordinates) out of the thread loops. LICM cannot do
// it for loads under a condition; these are always safe to execute, and
// without it the loops do not vectorise.
void Blockifier::hoistBlockInvariant(Function &g) {
  BasicBlock *entry = &g.getEntryBlock();
  SmallPtrSet<Value *, 32> inv;
  auto isInv = [&](Value *v) {
    if (isa<Constant>(v) || isa<Argument>(v) || inv.contains(v))
      return true;
    auto *i = dyn_cast<Instruction>(v);
    return i && i->getParent() == entry;
  };
  ReversePostOrderTraversal<Function *> rpo(&g);
  for (BasicBlock *bb : rpo) {
    if (bb == entry)
      continue;
    for (Instruction &i : make_early_inc_range(*bb)) {
      bool candidate = false;
      if (auto *ld = dyn_cast<LoadInst>(&i))
        candidate = ld->hasMetadata(paramKind()) && !ld->isVolatile();
      else if (auto *bo = dyn_cast<BinaryOperator>(&i))
        candidate = !bo->isIntDivRem();
      else
        candidate = isa<GetElementPtrInst>(i) || isa<CastInst>(i) || isa<CmpInst>(i) || isa<SelectInst>(i);
      if (!candidate || !all_of(i.operands(), isInv))
        continue;
      i.moveBefore(entry->getTerminator()->getIterator());
      inv.insert(&i);
    }
  }
}

void Blockifier::lowerCalls(const std::vector<BasicBlock *> &blocks, Frame &fr,
                            const std::vector<SlotInfo> &slots, std::uint32_t staticShared) {
  std::vector<CallBase *> calls;
  for (BasicBlock *bb : blocks)
    for (Instruction &i : *bb)
      if (auto *cb = dyn_cast<CallBase>(&i); cb && cb->getCalledFunction())
        calls.push_back(cb);
  for (CallBase *c : calls) {
    CallInfo ci = classify(c);
    StringRef callee = c->getCalledFunction()->getName();
    IRBuilder<> b(c);
    Value *lane = nullptr;
    auto laneId = [&] { return lane ? lane : (lane = b.CreateAnd(fr.t32, 31)); };
    Value *v = nullptr;
    switch (ci.sr) {
    case Sr::Tid:
      v = fr.tid[ci.dim];
      break;
    case Sr::Ntid:
      v = fr.bdim[ci.dim];
      break;
    case Sr::Ctaid:
      v = fr.bidx[ci.dim];
      break;
    case Sr::Nctaid:
      v = fr.gdim[ci.dim];
      break;
    case Sr::LaneId:
      v = laneId();
      break;
    case Sr::WarpId:
      v = b.CreateLShr(fr.t32, 5);
      break;
    case Sr::NWarpId:
      v = b.CreateLShr(b.CreateAdd(fr.n32, b.getInt32(31)), 5);
      break;
    case Sr::SmId:
      v = fr.smid;
      break;
    case Sr::NSmId:
      v = b.CreateCall(m_.getOrInsertFunction("cuvirt_cpu_jit_nsmid", i32_));
      break;
    case Sr::GridId:
      v = b.getInt64(0);
      break;
    case Sr::EnvReg: { // %envreg1:%envreg2 = the cooperative grid's workspace (hi:lo), the rest 0
      auto *n = dyn_cast<ConstantInt>(c->getArgOperand(0));
      unsigned reg = n ? unsigned(n->getZExtValue()) : 0;
      v = reg == 1 || reg == 2 ? b.CreateTrunc(reg == 1 ? b.CreateLShr(fr.gridWs, 32) : fr.gridWs, i32_)
                               : b.getInt32(0);
      break;
    }
    case Sr::LmEq:
      v = b.CreateShl(b.getInt32(1), laneId());
      break;
    case Sr::LmLt:
      v = b.CreateSub(b.CreateShl(b.getInt32(1), laneId()), b.getInt32(1));
      break;
    case Sr::LmLe:
      v = b.CreateSub(b.CreateShl(b.getInt32(2), laneId()), b.getInt32(1));
      break;
    case Sr::LmGe:
      v = b.CreateNot(b.CreateSub(b.CreateShl(b.getInt32(1), laneId()), b.getInt32(1)));
      break;
    case Sr::LmGt:
      v = b.CreateNot(b.CreateSub(b.CreateShl(b.getInt32(2), laneId()), b.getInt32(1)));
      break;
    case Sr::Clock:
    case Sr::Clock64:
      v = b.CreateIntrinsic(Intrinsic::readcyclecounter, {});
      break;
    case Sr::GlobalTimer:
      v = b.CreateCall(m_.getOrInsertFunction("cuvirt_cpu_jit_globaltimer", i64_));
      break;
    case Sr::SharedBase:
      v = fr.shared;
      break;
    case Sr::DynSharedBase:
      v = b.CreateConstInBoundsGEP1_32(b.getInt8Ty(), fr.shared, (staticShared + 15) / 16 * 16);
      break;
    case Sr::DynSharedSize:
      v = fr.dynBytes;
      break;
    case Sr::Trap: {
      FunctionCallee trap = m_.getOrInsertFunction("cuvirt_cpu_trap", Type::getVoidTy(ctx_), ptr_);
      cast<Function>(trap.getCallee())->setDoesNotReturn();
      b.CreateCall(trap, {fr.env});
      break;
    }
    case Sr::Slot: {
      auto idx = cast<ConstantInt>(c->getArgOperand(0))->getZExtValue();
      Value *off =
          b.CreateAdd(fr.slotBase[idx], b.CreateNUWMul(fr.t64, b.getInt64(slots[idx].size)), "", true, true);
      v = b.CreateInBoundsGEP(b.getInt8Ty(), fr.frame, off);
      // Slots are disjoint arrays: tell alias analysis, which cannot see it
      // through frame + n * prefix (n unknown).
      if (idx < slotScopes_.size())
        for (User *u : c->users()) {
          auto *ld = dyn_cast<LoadInst>(u);
          auto *st = dyn_cast<StoreInst>(u);
          if ((ld && ld->getPointerOperand() == c) || (st && st->getPointerOperand() == c)) {
            auto *i = cast<Instruction>(u);
            i->setMetadata(LLVMContext::MD_alias_scope, MDNode::get(ctx_, {slotScopes_[idx]}));
            i->setMetadata(LLVMContext::MD_noalias, slotNoAlias_[idx]);
          }
        }
      break;
    }
    case Sr::CollSlotPtr:
      v = b.CreateInBoundsGEP(b.getInt8Ty(), fr.coll, b.CreateNUWMul(fr.t64, b.getInt64(40)));
      break;
    case Sr::ShflResult: {
      auto id = std::int32_t(cast<ConstantInt>(c->getArgOperand(0))->getSExtValue());
      Value *res = nullptr, *pred = nullptr;
      if (fr.fastEntry == id) {
        // Every thread of the block stopped here, so every lane is present:
        // PTX shfl.sync's source lane, read from that lane's operand slot.
        const InlineShfl &s = inlineShfl_.at(id);
        std::int32_t segMask = std::int32_t((s.c >> 8) & 31), cval = std::int32_t(s.c & 31);
        std::int32_t bb = std::int32_t(s.b);
        Value *ln = laneId();
        Value *maxLane = b.CreateOr(b.CreateAnd(ln, segMask), b.getInt32(cval & ~segMask));
        Value *j = nullptr;
        switch (s.kind) {
        case kShflUp:
          j = b.CreateSub(ln, b.getInt32(bb));
          pred = b.CreateICmpSGE(j, maxLane);
          break;
        case kShflDown:
          j = b.CreateAdd(ln, b.getInt32(bb));
          pred = b.CreateICmpSLE(j, maxLane);
          break;
        case kShflBfly:
          j = b.CreateXor(ln, b.getInt32(bb));
          pred = b.CreateICmpSLE(j, maxLane);
          break;
        default:
          j = b.CreateOr(b.CreateAnd(ln, segMask), b.getInt32((bb & 31) & ~segMask));
          pred = b.CreateICmpSLE(j, maxLane);
          break;
        }
        Value *jOk = b.CreateAnd(pred, b.CreateICmpULE(j, b.getInt32(31))); // also j >= 0
        Value *delta = b.CreateSExt(b.CreateSub(j, ln), i64_);
        Value *src = b.CreateAdd(fr.t64, delta);
        Value *ok = b.CreateAnd(jOk, b.CreateICmpULT(src, fr.n64)); // lanes past the block are absent
        if (fr.skipExited) {
          // Lanes that had exited are absent: the dispatcher left each warp's
          // present lanes in its first CollSlot's pad.
          Value *w0 = b.CreateAnd(fr.t64, b.getInt64(~std::uint64_t(31)));
          Value *pp = b.CreateInBoundsGEP(b.getInt8Ty(), fr.coll,
                                          b.CreateAdd(b.CreateMul(w0, b.getInt64(40)), b.getInt64(36)));
          Value *present = b.CreateLoad(i32_, pp);
          Value *bit = b.CreateAnd(b.CreateLShr(present, b.CreateAnd(j, b.getInt32(31))), b.getInt32(1));
          ok = b.CreateAnd(ok, b.CreateICmpNE(bit, b.getInt32(0)));
        }
        delta = b.CreateSelect(ok, delta, b.getInt64(0));
        Value *p = c->getArgOperand(1);
        res = b.CreateLoad(i32_, b.CreateGEP(i32_, p, delta));
      } else {
        Value *slot = b.CreateInBoundsGEP(b.getInt8Ty(), fr.coll, b.CreateNUWMul(fr.t64, b.getInt64(40)));
        res = b.CreateTrunc(b.CreateLoad(i64_, b.CreateConstInBoundsGEP1_32(b.getInt8Ty(), slot, 24)), i32_);
        pred = b.CreateICmpNE(b.CreateLoad(i32_, b.CreateConstInBoundsGEP1_32(b.getInt8Ty(), slot, 32)),
                              b.getInt32(0));
      }
      v = b.CreateInsertValue(b.CreateInsertValue(PoisonValue::get(c->getType()), res, {0}), pred, {1});
      break;
    }
    case Sr::Prefetch:
      if (collectPrefetches_) { // hoisted out of the thread loop by emitRegion
        prefetches_.push_back(cast<CallInst>(c));
        continue;
      }
      break;
    case Sr::ThreadEnv:
      v = fr.env;
      break;
    case Sr::Nanosleep:
      break;
    case Sr::Mbar: { // cuvirt.mbarrier.X -> cuvirt_cpu_mbar_X, same operands
      std::string helper = "cuvirt_cpu_mbar_" + callee.substr(callee.rfind('.') + 1).str();
      std::vector<Value *> args(c->arg_begin(), c->arg_end());
      v = b.CreateCall(m_.getOrInsertFunction(helper, c->getFunctionType()), args);
      break;
    }
    case Sr::Fence: {
      auto *scope = dyn_cast<ConstantInt>(c->getArgOperand(0));
      if (!scope || !scope->isZero())
        b.CreateFence(AtomicOrdering::SequentiallyConsistent);
      break;
    }
    default:
      if (callee == "__assertfail" && c->arg_size() >= 4) {
        FunctionCallee af = m_.getOrInsertFunction("cuvirt_cpu_assertfail", Type::getVoidTy(ctx_), ptr_, ptr_,
                                                   i32_, ptr_, ptr_, i32_, i32_, i32_);
        cast<Function>(af.getCallee())->setDoesNotReturn();
        auto asPtr = [&](Value *x) { return x->getType()->isPointerTy() ? x : b.CreateIntToPtr(x, ptr_); };
        b.CreateCall(af, {asPtr(c->getArgOperand(0)), asPtr(c->getArgOperand(1)),
                          b.CreateZExtOrTrunc(c->getArgOperand(2), i32_), asPtr(c->getArgOperand(3)), fr.env,
                          fr.tid[0], fr.tid[1], fr.tid[2]});
        break;
      }
      continue; // an ordinary call
    }
    if (!c->getType()->isVoidTy()) {
      if (!v)
        v = PoisonValue::get(c->getType());
      else if (v->getType() != c->getType())
        v = b.CreateZExtOrTrunc(v, c->getType());
      c->replaceAllUsesWith(v);
    }
    c->eraseFromParent();
  }
}

// An out-of-line function's special registers, from its hidden arguments
// (see passThreadContext): the block's values from the BlockEnv, the
// thread's from tid.x/y/z.
void Blockifier::lowerOutOfLine(Function &f) {
  unsigned n = f.arg_size();
  Argument *env = f.getArg(n - 5), *dyn = f.getArg(n - 4);
  std::vector<BasicBlock *> blocks;
  for (BasicBlock &bb : f)
    blocks.push_back(&bb);
  for (BasicBlock *bb : blocks) // the caller's kernel knows where dynamic shared memory starts
    for (Instruction &i : make_early_inc_range(*bb))
      if (auto *cb = dyn_cast<CallBase>(&i); cb && classify(cb).sr == Sr::DynSharedBase) {
        cb->replaceAllUsesWith(dyn);
        cb->eraseFromParent();
      }
  IRBuilder<> b(&*f.getEntryBlock().getFirstInsertionPt());
  Frame fr;
  fr.env = env;
  auto envField = [&](Type *ty, unsigned field, unsigned idx) -> Value * {
    Value *p = field < 3
                   ? b.CreateInBoundsGEP(envTy_, env, {b.getInt32(0), b.getInt32(field), b.getInt32(idx)})
                   : b.CreateStructGEP(envTy_, env, field);
    auto *ld = b.CreateLoad(ty, p);
    ld->setMetadata(LLVMContext::MD_invariant_load, MDNode::get(ctx_, {}));
    return ld;
  };
  for (unsigned d = 0; d < 3; ++d) {
    fr.gdim[d] = envField(i32_, 0, d);
    fr.bdim[d] = envField(i32_, 1, d);
    fr.bidx[d] = envField(i32_, 2, d);
    fr.tid[d] = f.getArg(n - 3 + d);
  }
  fr.dynBytes = envField(i32_, 3, 0);
  fr.shared = envField(ptr_, 4, 0);
  fr.params = envField(ptr_, 5, 0);
  fr.smid = envField(i32_, 7, 0);
  fr.gridWs = envField(i64_, 8, 0);
  fr.n32 = b.CreateMul(b.CreateMul(fr.bdim[0], fr.bdim[1]), fr.bdim[2]);
  fr.n64 = b.CreateZExt(fr.n32, i64_);
  fr.t32 = b.CreateAdd(fr.tid[0],
                       b.CreateMul(fr.bdim[0], b.CreateAdd(fr.tid[1], b.CreateMul(fr.bdim[1], fr.tid[2]))));
  fr.t64 = b.CreateZExt(fr.t32, i64_);
  lowerCalls(blocks, fr, {}, 0);
}

Status Blockifier::blockifyKernel(Function &f, bool rounds) {
  std::string name = f.getName().str();
  std::size_t resumePoints = 0;
  for (Instruction &i : instructions(f))
    if (auto *cb = dyn_cast<CallBase>(&i)) {
      CallInfo ci = classify(cb);
      resumePoints += ci.sr == Sr::Yield;
      if (ci.sr == Sr::Unsupported)
        return fail(CUDA_ERROR_NOT_SUPPORTED,
                    fmt::format("cpu jit: kernel {} uses {}, which the CPU target cannot run", name,
                                constString(cb->getArgOperand(0))));
      if (!cb->getCalledFunction() && !cb->isInlineAsm())
        continue; // indirect call: per thread, like any other
    }
  markInvariantParamLoads(f);
  // Every resume point has region functions of its own, one copy of its
  // code per nest variant: past kLeanResumePoints (CUB's onesweep radix sort
  // has ~550 warp collectives) only the plain nest, without loop rounds, or
  // the module grows to millions of instructions and minutes of codegen.
  constexpr std::size_t kLeanResumePoints = 128;
  lean_ = resumePoints > kLeanResumePoints;
  rounds = rounds && !lean_;
  std::vector<std::int32_t> kinds;
  // Rounds only pay when enough threads share their cost: blocks with fewer
  // run a variant compiled without them (K.whole.block, chosen per block).
  Function *whole = nullptr;
  if (rounds && !std::getenv("CUVIRT_JIT_NO_LOOP_ROUNDS")) { // experiments
    ValueToValueMapTy vm;
    Function *copy = CloneFunction(&f, vm);
    copy->setName(name + ".whole");
    if (yieldAtLoops(f)) {
      CUVIRT_TRY(blockifyKernel(*copy, false));
      whole = m_.getFunction(blockFunctionName(name + ".whole"));
      whole->setLinkage(GlobalValue::InternalLinkage);
    }
    copy->eraseFromParent();
  }
  std::vector<BasicBlock *> entries = splitYields(f, kinds);
  std::string blockName = blockFunctionName(name);
  if (entries.size() == 1) {
    emitRegion(f, blockName, false, true, entries, 0, {});
  } else {
    uniformAllocas_.clear();
    ivSlots_.clear();
    roundSlots_.clear();
    rewriteInductions(f, entries, kinds);
    analyzeUniformity(f);
    if (allBranchesUniform_)
      for (Value *a : ivSlots_)
        uniformAllocas_.insert(a);
    demoted_.clear();
    fixLiveAcross(f, entries);
    coalesceSlots(f);
    std::vector<SlotInfo> slots;
    std::uint64_t frameBytes = 0;
    CUVIRT_TRY(allocasToSlots(f, slots, frameBytes));
    for (auto &[id, sh] : inlineShfl_)
      sh.slot = slotOf_.at(sh.value);
    checkedSlots_.clear();
    roundSlotIdx_.clear();
    for (Value *a : ivSlots_) // erased by now: only compared as keys
      if (auto it = slotOf_.find(static_cast<AllocaInst *>(a));
          it != slotOf_.end() && !slots[std::size_t(it->second)].uniform)
        checkedSlots_.insert(it->second), roundSlotIdx_.insert(roundSlots_.count(a) ? it->second : -1);
    MDBuilder mdb(ctx_);
    MDNode *domain = mdb.createAnonymousAliasScopeDomain(name + ".frame");
    slotScopes_.clear();
    slotNoAlias_.clear();
    for (std::size_t k = 0; k < slots.size(); ++k)
      slotScopes_.push_back(mdb.createAnonymousAliasScope(domain));
    for (std::size_t k = 0; k < slots.size(); ++k) {
      SmallVector<Metadata *, 8> others;
      for (std::size_t o = 0; o < slots.size(); ++o)
        if (o != k)
          others.push_back(slotScopes_[o]);
      slotNoAlias_.push_back(MDNode::get(ctx_, others));
    }
    std::vector<Constant *> fast;
    for (std::size_t k = 0; k < entries.size(); ++k)
      fast.push_back(emitRegion(f, fmt::format("{}.r{}", name, k), true, true, entries, int(k), slots));
    // The same for rounds in which the threads that have not exited agree
    // (e.g. `if (warp == 0) { shuffles }` after the other warps returned).
    std::vector<Constant *> fastLive;
    skipExited_ = true;
    for (std::size_t k = 0; k < entries.size(); ++k)
      fastLive.push_back(emitRegion(f, fmt::format("{}.l{}", name, k), true, true, entries, int(k), slots));
    skipExited_ = false;
    Function *generic = emitRegion(f, name + ".any", true, false, entries, -1, slots);
    auto *kindsTy = ArrayType::get(i32_, kinds.size());
    std::vector<Constant *> kindVals;
    for (std::int32_t k : kinds)
      kindVals.push_back(ConstantInt::get(i32_, std::uint64_t(std::int64_t(k))));
    auto *kindsGv = new GlobalVariable(m_, kindsTy, true, GlobalValue::PrivateLinkage,
                                       ConstantArray::get(kindsTy, kindVals), name + ".kinds");
    auto *fastTy = ArrayType::get(ptr_, fast.size());
    auto *fastGv = new GlobalVariable(m_, fastTy, true, GlobalValue::PrivateLinkage,
                                      ConstantArray::get(fastTy, fast), name + ".regions");
    // Per resume id: {operand slot prefix or -1, b, c} of inline shuffles.
    std::vector<Constant *> shflVals;
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      auto it = inlineShfl_.find(std::int32_t(k));
      std::int64_t prefix = -1;
      std::uint32_t sb = 0, sc = 0;
      if (it != inlineShfl_.end()) {
        prefix = std::int64_t(slots[std::size_t(it->second.slot)].prefix);
        sb = it->second.b;
        sc = it->second.c;
      }
      shflVals.push_back(ConstantInt::get(i32_, std::uint64_t(prefix)));
      shflVals.push_back(ConstantInt::get(i32_, sb));
      shflVals.push_back(ConstantInt::get(i32_, sc));
    }
    auto *shflTy = ArrayType::get(i32_, shflVals.size());
    auto *shflGv = new GlobalVariable(m_, shflTy, true, GlobalValue::PrivateLinkage,
                                      ConstantArray::get(shflTy, shflVals), name + ".shfl");
    auto *fastLiveGv = new GlobalVariable(m_, fastTy, true, GlobalValue::PrivateLinkage,
                                          ConstantArray::get(fastTy, fastLive), name + ".regions.live");
    auto *descTy = StructType::get(ctx_, {i32_, i32_, ptr_, ptr_, ptr_, ptr_, ptr_});
    auto *desc = new GlobalVariable(
        m_, descTy, true, GlobalValue::PrivateLinkage,
        ConstantStruct::get(descTy, {ConstantInt::get(i32_, kinds.size()), ConstantInt::get(i32_, frameBytes),
                                     kindsGv, fastGv, generic, shflGv, fastLiveGv}),
        name + ".desc");
    Function *blk = Function::Create(FunctionType::get(Type::getVoidTy(ctx_), {ptr_}, false),
                                     GlobalValue::ExternalLinkage, blockName, &m_);
    blk->addFnAttr(Attribute::NoUnwind);
    IRBuilder<> b(BasicBlock::Create(ctx_, "entry", blk));
    if (whole) {
      BasicBlock *small = BasicBlock::Create(ctx_, "whole", blk),
                 *big = BasicBlock::Create(ctx_, "rounds", blk);
      Value *n = nullptr;
      for (unsigned d = 0; d < 3; ++d) {
        Value *bd = b.CreateLoad(
            i32_, b.CreateInBoundsGEP(envTy_, blk->getArg(0), {b.getInt32(0), b.getInt32(1), b.getInt32(d)}));
        n = n ? b.CreateMul(n, bd) : bd;
      }
      b.CreateCondBr(b.CreateICmpULT(n, b.getInt32(kMinRoundThreads)), small, big);
      IRBuilder<> sb(small);
      sb.CreateCall(whole, {blk->getArg(0)});
      sb.CreateRetVoid();
      b.SetInsertPoint(big);
    }
    b.CreateCall(m_.getOrInsertFunction("cuvirt_cpu_jit_run", Type::getVoidTy(ctx_), ptr_, ptr_),
                 {blk->getArg(0), desc});
    b.CreateRetVoid();
  }
  return Status::success();
}

Status Blockifier::run() {
  CUVIRT_TRY(prepare());
  std::vector<Function *> kernels;
  for (Function &f : m_)
    if (!f.isDeclaration() && f.hasFnAttribute("cuvirt-kernel"))
      kernels.push_back(&f);
  for (Function *f : kernels)
    CUVIRT_TRY(blockifyKernel(*f));
  for (Function *f : kernels) {
    f->replaceAllUsesWith(PoisonValue::get(f->getType()));
    f->eraseFromParent();
  }
  // Device libc calls left in the module (kernels and out-of-line functions).
  for (auto [from, to] : {std::pair<const char *, const char *>{"vprintf", "cuvirt_cpu_vprintf"},
                          {"malloc", "cuvirt_cpu_malloc"},
                          {"free", "cuvirt_cpu_free"}}) {
    if (Function *fn = m_.getFunction(from); fn && fn->isDeclaration())
      fn->setName(to);
  }
  // Out-of-line functions: with the thread context of their hidden
  // arguments, or (they read none of it) with none.
  for (Function *f : ctxFns_)
    lowerOutOfLine(*f);
  for (Function &f : m_) {
    if (f.isDeclaration() || ctxFns_.count(&f))
      continue;
    for (Instruction &i : make_early_inc_range(instructions(f))) {
      auto *cb = dyn_cast<CallBase>(&i);
      if (!cb || !cb->getCalledFunction())
        continue;
      CallInfo ci = classify(cb);
      StringRef callee = cb->getCalledFunction()->getName();
      if (ci.sr == Sr::None && callee != "__assertfail")
        continue;
      if (ci.sr == Sr::Slot || ci.sr == Sr::CollSlotPtr || ci.sr == Sr::ResumeHere)
        continue;
      Frame fr; // passThreadContext left only calls that need no thread here
      fr.env = ConstantPointerNull::get(ptr_);
      for (Value *&t : fr.tid)
        t = ConstantInt::get(i32_, 0);
      std::vector<BasicBlock *> blocks;
      for (BasicBlock &bb : f)
        blocks.push_back(&bb);
      lowerCalls(blocks, fr, {}, 0);
      break;
    }
  }
  for (Function &f : make_early_inc_range(m_))
    if (f.isDeclaration() && f.use_empty() &&
        (f.getName().starts_with("cuvirt.") || f.getName() == "__assertfail"))
      f.eraseFromParent();
  std::string err;
  raw_string_ostream os(err);
  if (verifyModule(m_, &os))
    return fail(CUDA_ERROR_UNKNOWN, "cpu jit: blockify produced invalid IR: " + err);
  return Status::success();
}

} // namespace

Status blockify(llvm::Module &m, const BlockifyOptions &options, std::string &log) {
  return Blockifier(m, options, log).run();
}

} // namespace cuvirt::cpu::jit
