// jit_stages: where the CPU JIT's time goes on a PTX module. Times parsing,
// analysis + checks (what module load does), lowering to per-thread IR, and
// then blockify / O3 / codegen for the whole module or for single kernels
// (each with only the functions it reaches), so a slow stage shows up.
//   jit_stages FILE.ptx [--kernels N] [--match SUBSTRING] [--opt 0-3, 4 = the engine's light tier] [--cg 0-3]
//   [--whole]
#define CUVIRT_HAVE_PTX_LOWER 1
#include "translate/cpu/jit/engine.h"
#include "translate/cpu/jit/ptx_slice.h"
#include "translate/cpu/jit/rounding.h"
#include "translate/ptx/analysis.h"
#include "translate/ptx/lower.h"
#include "translate/ptx/parser.h"
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fmt/format.h>
#include <fstream>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Transforms/Utils/Cloning.h>
#include <sstream>

namespace {
using Clock = std::chrono::steady_clock;
double ms(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}
} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: jit_stages FILE.ptx [--kernels N] [--match SUBSTRING] [--opt 0-3, 4 = the "
                         "engine's light tier] [--cg 0-3] [--whole]\n");
    return 2;
  }
  int nKernels = 3;
  bool whole = false;
  std::string match;               // only kernels whose name contains this
  int optLevel = -1, cgLevel = -1; // -1: the engine's own
  for (int i = 2; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--kernels") && i + 1 < argc)
      nKernels = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--match") && i + 1 < argc)
      match = argv[++i];
    else if (!std::strcmp(argv[i], "--opt") && i + 1 < argc)
      optLevel = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--cg") && i + 1 < argc)
      cgLevel = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--whole"))
      whole = true;
  }
  std::ifstream in(argv[1], std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string ptx = ss.str();
  std::string log;
  using namespace cuvirt;
  auto t0 = Clock::now();
  auto parsed = ptx::parse(ptx, log);
  if (!parsed) {
    std::fprintf(stderr, "%s", log.c_str());
    return 1;
  }
  std::printf("parse        %9.1f ms (%zu functions)\n", ms(t0), parsed->functions.size());
  t0 = Clock::now();
  auto facts = ptx::analyse(*parsed, log);
  std::printf("analyse      %9.1f ms\n", ms(t0));
  t0 = Clock::now();
  (void)ptx::checkSemantics(*parsed, log);
  std::printf("check        %9.1f ms\n", ms(t0));
  t0 = Clock::now();
  auto info = ptx::moduleInfoFrom(*parsed, *facts, log);
  std::printf("moduleInfo   %9.1f ms (%zu kernels)\n", ms(t0), info->kernels.size());

  auto tm = cpu::jit::hostTargetMachine();
  if (std::getenv("JIT_STAGES_SLICES")) { // lower each kernel's slice alone
    auto t = Clock::now();
    cpu::jit::PtxIndex index(ptx);
    std::printf("index        %9.1f ms (%zu statements)\n", ms(t), index.statements());
    for (const KernelInfo &k : info->kernels) {
      if (!match.empty() && k.name.find(match) == std::string::npos)
        continue;
      t = Clock::now();
      std::string slice = index.slice(k.name);
      double sliceMs = ms(t);
      ptx::TargetHooks h;
      h.triple = (*tm)->getTargetTriple().str();
      h.dataLayout = (*tm)->createDataLayout().getStringRepresentation();
      llvm::LLVMContext c;
      t = Clock::now();
      auto lw = ptx::lower(slice, c, h, log);
      std::printf("slice %7.1f ms, lower %8.1f ms %s  %.60s\n", sliceMs, ms(t), lw.ok() ? "" : "FAILED",
                  k.name.c_str());
    }
    return 0;
  }
  ptx::TargetHooks hooks;
  hooks.triple = (*tm)->getTargetTriple().str();
  hooks.dataLayout = (*tm)->createDataLayout().getStringRepresentation();
  hooks.directedOp = cpu::jit::hostDirectedRounding(**tm);
  llvm::LLVMContext ctx;
  t0 = Clock::now();
  auto lowered = ptx::lower(ptx, ctx, hooks, log);
  if (!lowered.ok()) {
    std::fprintf(stderr, "%s", log.c_str());
    return 1;
  }
  std::printf("lower (all)  %9.1f ms (includes parse+analyse again)\n", ms(t0));
  ptx::Lowered l = lowered.take();

  auto size = [](llvm::Module &m) {
    std::size_t n = 0, fns = 0;
    for (llvm::Function &f : m)
      if (!f.isDeclaration()) {
        ++fns;
        n += f.getInstructionCount();
      }
    return fmt::format("{} insts in {} fns", n, fns);
  };
  auto stages = [&](llvm::Module &m, const char *what) {
    std::printf("  thread IR: %s\n", size(m).c_str());
    auto t = Clock::now();
    if (!cpu::jit::blockifyForHost(m, **tm, l.info, log).ok()) {
      std::fprintf(stderr, "%s", log.c_str());
      return;
    }
    double b = ms(t);
    std::printf("  block IR: %s\n", size(m).c_str());
    if (std::getenv("JIT_STAGES_FNS"))
      for (llvm::Function &f : m)
        if (!f.isDeclaration())
          std::printf("    %6u %zu blocks %.80s\n", f.getInstructionCount(), f.size(),
                      f.getName().str().c_str());
    t = Clock::now();
    if (optLevel < 0 || optLevel == 4) {
      cpu::jit::optimizeForHost(m, **tm, optLevel == 4 ? cpu::jit::OptTier::Light : cpu::jit::OptTier::Full);
    } else {
      cpu::jit::rebaseParamAddresses(m);
      for (llvm::Function &f : m)
        if (!f.isDeclaration()) {
          f.addFnAttr("target-cpu", (*tm)->getTargetCPU());
          f.addFnAttr("target-features", (*tm)->getTargetFeatureString());
        }
      llvm::LoopAnalysisManager lam;
      llvm::FunctionAnalysisManager fam;
      llvm::CGSCCAnalysisManager cgam;
      llvm::ModuleAnalysisManager mam;
      llvm::PipelineTuningOptions pto;
      llvm::PassBuilder pb(tm->get(), pto);
      pb.registerModuleAnalyses(mam);
      pb.registerCGSCCAnalyses(cgam);
      pb.registerFunctionAnalyses(fam);
      pb.registerLoopAnalyses(lam);
      pb.crossRegisterProxies(lam, fam, cgam, mam);
      const llvm::OptimizationLevel levels[] = {llvm::OptimizationLevel::O0, llvm::OptimizationLevel::O1,
                                                llvm::OptimizationLevel::O2, llvm::OptimizationLevel::O3};
      llvm::ModulePassManager mpm = optLevel == 0 ? pb.buildO0DefaultPipeline(llvm::OptimizationLevel::O0)
                                                  : pb.buildPerModuleDefaultPipeline(levels[optLevel]);
      mpm.run(m, mam);
    }
    double o = ms(t);
    std::printf("  optimised IR: %s\n", size(m).c_str());
    t = Clock::now();
    if (cgLevel >= 0)
      (*tm)->setOptLevel(llvm::CodeGenOptLevel(cgLevel));
    auto obj = cpu::jit::emitForHost(m, **tm, false);
    double c = ms(t);
    std::printf("%-40.40s blockify %8.1f  O3 %8.1f  codegen %8.1f ms  (%zu bytes)\n", what, b, o, c,
                obj.ok() ? obj->size() : 0);
  };
  int done = 0;
  for (const KernelInfo &k : l.info.kernels) {
    if (!match.empty() && k.name.find(match) == std::string::npos)
      continue;
    if (done++ >= nKernels)
      break;
    auto t = Clock::now();
    llvm::Function *root = l.module->getFunction(k.name);
    // only what `root` reaches
    llvm::SmallPtrSet<const llvm::GlobalValue *, 32> keep;
    std::vector<const llvm::Function *> work{root};
    while (!work.empty()) {
      const llvm::Function *f = work.back();
      work.pop_back();
      if (!keep.insert(f).second)
        continue;
      for (const llvm::BasicBlock &bb : *f)
        for (const llvm::Instruction &i : bb)
          for (const llvm::Value *op : i.operands())
            if (auto *g = llvm::dyn_cast<llvm::Function>(op->stripPointerCasts()))
              work.push_back(g);
    }
    llvm::ValueToValueMapTy vmap;
    auto sub =
        llvm::CloneModule(*l.module, vmap, [&](const llvm::GlobalValue *g) { return keep.count(g) > 0; });
    std::printf("clone        %9.1f ms (%zu functions)\n", ms(t), std::size_t(keep.size()));
    stages(*sub, k.name.c_str());
  }
  if (whole)
    stages(*l.module, "(whole module)");
  return 0;
}
