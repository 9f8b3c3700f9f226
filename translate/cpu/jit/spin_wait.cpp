// Spin-wait loops: see spin_wait.h.
#include "translate/cpu/jit/spin_wait.h"
#include <algorithm>
#include <cstdint>
#include <ctime>
#include <llvm/Analysis/LoopInfo.h>
#include <llvm/IR/CFG.h>
#include <llvm/IR/Dominators.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Instructions.h>
#include <llvm/IR/Module.h>

namespace cuvirt::cpu::jit {

using namespace llvm;

namespace {
bool isSpin(const Loop &l) {
  if (!l.getSubLoops().empty() || l.getHeader()->phis().begin() != l.getHeader()->phis().end())
    return false;
  bool polls = false;
  for (BasicBlock *bb : l.blocks())
    for (Instruction &i : *bb) {
      if (auto *ld = dyn_cast<LoadInst>(&i)) { // (LLVM counts ordered loads as writes)
        polls |= ld->isAtomic() || ld->isVolatile();
        continue;
      }
      if (i.mayWriteToMemory() || isa<CallBase>(i))
        return false;
    }
  return polls;
}
} // namespace

unsigned markSpinLoops(Function &f) {
  if (f.isDeclaration())
    return 0;
  DominatorTree dt(f);
  LoopInfo li(dt);
  std::vector<BasicBlock *> headers;
  for (Loop *l : li.getLoopsInPreorder())
    if (isSpin(*l))
      headers.push_back(l->getHeader());
  if (headers.empty())
    return 0;
  LLVMContext &ctx = f.getContext();
  Module *m = f.getParent();
  FunctionCallee begin = m->getOrInsertFunction("cuvirt_cpu_jit_spin_begin", Type::getVoidTy(ctx));
  FunctionCallee wait = m->getOrInsertFunction("cuvirt_cpu_jit_spin_wait", Type::getVoidTy(ctx));
  for (BasicBlock *h : headers) {
    // entering the loop starts a new wait; no values or memory in the IR, so
    // the loop stays as it was for the passes after this one
    Loop *l = li.getLoopFor(h);
    for (BasicBlock *pred : predecessors(h))
      if (!l->contains(pred))
        IRBuilder<>(pred->getTerminator()).CreateCall(begin);
    IRBuilder<>(&*h->getFirstInsertionPt()).CreateCall(wait);
  }
  return unsigned(headers.size());
}

namespace {
thread_local std::int64_t tStart = 0, tSpinNs = 10000;
thread_local SpinWatch *tWatch = nullptr;
} // namespace

void setSpinBudget(std::int64_t ns) { tSpinNs = ns; }
void setSpinWatch(SpinWatch *watch) { tWatch = watch; }

} // namespace cuvirt::cpu::jit

using cuvirt::cpu::jit::tSpinNs;
using cuvirt::cpu::jit::tStart;
using cuvirt::cpu::jit::tWatch;

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_jit_spin_begin() { tStart = 0; }

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_jit_spin_wait() {
  // Back off as a wait grows: pause for the first 10 us (the thread's spin
  // budget), then sleep 10 us doubling up to 160 us, which takes the waiter
  // off the run queue (blocks of a cooperative grid can outnumber the cores
  // many times; sched_yield would hand whole time slices to unrelated
  // processes).
  std::int64_t &start = tStart;
  thread_local long nap = 0;
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  const std::int64_t now = std::int64_t(ts.tv_sec) * 1000000000 + ts.tv_nsec;
  if (start == 0) {
    start = now;
    nap = tSpinNs > 0 ? 10000 : 80000; // oversubscribed: fewer, longer naps
    if (tWatch != nullptr)
      tWatch->since.store(now, std::memory_order_relaxed);
  }
  if (tWatch != nullptr) {
    tWatch->beat.store(now, std::memory_order_relaxed);
    if (tWatch->stop != nullptr && tWatch->stop->load(std::memory_order_relaxed))
      tWatch->onStop();
  }
  if (now - start < tSpinNs) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
    return;
  }
  timespec t{0, nap};
  nanosleep(&t, nullptr);
  nap = std::min(nap * 2, 160000L);
}
