// The CPU JIT engine (see engine.h).
#include "translate/cpu/jit/engine.h"
#include "runtime/log.h"
#include "translate/cpu/jit/block_runtime.h"
#include "translate/cpu/jit/blockify.h"
#include "translate/cpu/jit/cache.h"
#include "translate/cpu/jit/device_texture.h"
#include "translate/cpu/jit/ptx_slice.h"
#include "translate/cpu/jit/rounding.h"
#include "translate/cpu/jit/spin_wait.h"
#ifdef CUVIRT_HAVE_PTX_LOWER
#include "translate/ptx/lower.h"
#endif

#include <llvm/AsmParser/Parser.h>
#include <llvm/ExecutionEngine/Orc/AbsoluteSymbols.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ObjectLinkingLayer.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/InstIterator.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/Host.h>
#include <llvm/Transforms/IPO/GlobalDCE.h>
#include <llvm/Transforms/InstCombine/InstCombine.h>
#include <llvm/Transforms/Scalar/EarlyCSE.h>
#include <llvm/Transforms/Scalar/SROA.h>
#include <llvm/Transforms/Scalar/SimplifyCFG.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <mutex>
#include <set>
#include <unistd.h>
#include <xxhash.h>

// Defined by the backend (libcuda.so.1) or by a test; weak so that a program
// without them still links and gets a clear abort instead.
#pragma weak cuvirt_cpu_trap
#pragma weak cuvirt_cpu_assertfail
#pragma weak cuvirt_cpu_cdp_param_buffer
#pragma weak cuvirt_cpu_cdp_launch
#pragma weak cuvirt_cpu_cluster_dim
#pragma weak cuvirt_cpu_cluster_map
#pragma weak cuvirt_cpu_cluster_arrive
#pragma weak cuvirt_cpu_cluster_wait

namespace cuvirt::cpu::jit {
namespace {
using namespace llvm;

std::atomic<std::uint64_t> gHits{0}, gMisses{0}, gCodegens{0}, gKernelsCompiled{0}, gKernelsCached{0},
    gLightTier{0};
std::atomic<double> gCompileMs{0}, gLoadMs{0};

// CUVIRT_JIT_PERFMAP=1: names the JIT's functions (region functions
// included) for `perf report` in /tmp/perf-<pid>.map.
class PerfMapPlugin : public orc::ObjectLinkingLayer::Plugin {
public:
  void modifyPassConfig(orc::MaterializationResponsibility &, jitlink::LinkGraph &,
                        jitlink::PassConfiguration &config) override {
    // Region functions are reached through section-relative relocations, so
    // JITLink would prune their (unreferenced) names before we see them.
    config.PrePrunePasses.push_back([](jitlink::LinkGraph &g) -> Error {
      for (jitlink::Symbol *sym : g.defined_symbols())
        if (sym->hasName())
          sym->setLive(true);
      return Error::success();
    });
    config.PostFixupPasses.push_back([](jitlink::LinkGraph &g) -> Error {
      static std::mutex mu;
      std::lock_guard lock(mu);
      std::FILE *f = std::fopen(fmt::format("/tmp/perf-{}.map", getpid()).c_str(), "a");
      if (!f)
        return Error::success();
      // Region functions are local and often carry no ELF size: they run to
      // the next symbol of their block.
      for (jitlink::Block *block : g.blocks()) {
        if ((block->getSection().getMemProt() & orc::MemProt::Exec) == orc::MemProt::None)
          continue;
        std::vector<jitlink::Symbol *> named;
        for (jitlink::Symbol *sym : g.defined_symbols())
          if (&sym->getBlock() == block && sym->hasName())
            named.push_back(sym);
        std::sort(named.begin(), named.end(),
                  [](auto *a, auto *b) { return a->getOffset() < b->getOffset(); });
        for (std::size_t i = 0; i < named.size(); ++i) {
          const auto end = i + 1 < named.size() ? named[i + 1]->getOffset() : block->getSize();
          if (end > named[i]->getOffset())
            std::fprintf(f, "%llx %llx %s\n",
                         static_cast<unsigned long long>(named[i]->getAddress().getValue()),
                         static_cast<unsigned long long>(end - named[i]->getOffset()),
                         (*named[i]->getName()).str().c_str());
        }
      }
      std::fclose(f);
      return Error::success();
    });
  }
  Error notifyFailed(orc::MaterializationResponsibility &) override { return Error::success(); }
  Error notifyRemovingResources(orc::JITDylib &, orc::ResourceKey) override { return Error::success(); }
  void notifyTransferringResources(orc::JITDylib &, orc::ResourceKey, orc::ResourceKey) override {}
};

double msSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void initLlvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    InitializeNativeTarget();
    InitializeNativeTargetAsmPrinter();
    InitializeNativeTargetAsmParser();
    // Debugging aid: LLVM's own options (e.g. -pass-remarks=loop-vectorize).
    if (const char *opts = std::getenv("CUVIRT_JIT_LLVM_ARGS"); opts && *opts) {
      static std::vector<std::string> words;
      std::string w;
      for (const char *p = opts;; ++p) {
        if (*p == ' ' || !*p) {
          if (!w.empty())
            words.push_back(w);
          w.clear();
          if (!*p)
            break;
        } else {
          w.push_back(*p);
        }
      }
      std::vector<const char *> argv{"cuvirt-jit"};
      for (const std::string &x : words)
        argv.push_back(x.c_str());
      cl::ParseCommandLineOptions(int(argv.size()), argv.data(), "", &errs());
    }
  });
}

[[noreturn]] void missingTrap(BlockEnv *) {
  std::fputs("cuvirt: kernel trapped and no cuvirt_cpu_trap is linked\n", stderr);
  std::abort();
}
[[noreturn]] void missingAssert(const char *msg, const char *file, unsigned line, const char *fn, BlockEnv *,
                                unsigned, unsigned, unsigned) {
  std::fprintf(stderr, "%s:%u: %s: Assertion `%s` failed (no cuvirt_cpu_assertfail linked)\n", file, line, fn,
               msg);
  std::abort();
}

orc::JITTargetMachineBuilder hostBuilder() {
  orc::JITTargetMachineBuilder b{Triple(sys::getProcessTriple())};
  b.setCPU(sys::getHostCPUName().str());
  SubtargetFeatures features;
  for (const auto &f : sys::getHostCPUFeatures())
    features.AddFeature(f.first(), f.second);
  b.addFeatures(features.getFeatures());
  b.setCodeGenOptLevel(CodeGenOptLevel::Aggressive);
  b.setRelocationModel(Reloc::PIC_);
  b.setCodeModel(CodeModel::Small);
  return b;
}

Status jitFailure(std::string &log, const std::string &msg) {
  log += msg + "\n";
  return report(CUDA_ERROR_INVALID_IMAGE, msg);
}

/// An LLJIT with the device runtime's helpers and the module variables
/// (bound to the runtime's addresses) defined, and the process's libc/libm.
Expected<std::unique_ptr<orc::LLJIT>> makeJit(const CompileOptions &options, std::string &log) {
  auto jit = orc::LLJITBuilder().setJITTargetMachineBuilder(hostBuilder()).create();
  if (!jit)
    return jitFailure(log, "cpu jit: cannot create LLJIT: " + toString(jit.takeError()));
  orc::LLJIT &j = **jit;
  if (const char *perfMap = std::getenv("CUVIRT_JIT_PERFMAP"); perfMap && *perfMap == '1')
    if (auto *linker = dyn_cast<orc::ObjectLinkingLayer>(&j.getObjLinkingLayer()))
      linker->addPlugin(std::make_unique<PerfMapPlugin>());
  orc::JITDylib &jd = j.getMainJITDylib();
  orc::SymbolMap syms;
  auto def = [&](StringRef name, const void *addr) {
    syms[j.mangleAndIntern(name)] = {orc::ExecutorAddr::fromPtr(addr), JITSymbolFlags::Exported};
  };
  def("cuvirt_cpu_trap", &cuvirt_cpu_trap ? reinterpret_cast<const void *>(&cuvirt_cpu_trap)
                                          : reinterpret_cast<const void *>(&missingTrap));
  def("cuvirt_cpu_assertfail", &cuvirt_cpu_assertfail ? reinterpret_cast<const void *>(&cuvirt_cpu_assertfail)
                                                      : reinterpret_cast<const void *>(&missingAssert));
  def("cuvirt_cpu_vprintf", reinterpret_cast<const void *>(&cuvirt_cpu_vprintf));
  def("cuvirt_cpu_malloc", reinterpret_cast<const void *>(&cuvirt_cpu_malloc));
  def("cuvirt_cpu_free", reinterpret_cast<const void *>(&cuvirt_cpu_free));
  if (&cuvirt_cpu_cluster_dim != nullptr) { // the backend's
    def("cuvirt_cpu_cluster_dim", reinterpret_cast<const void *>(&cuvirt_cpu_cluster_dim));
    def("cuvirt_cpu_cluster_map", reinterpret_cast<const void *>(&cuvirt_cpu_cluster_map));
    def("cuvirt_cpu_cluster_arrive", reinterpret_cast<const void *>(&cuvirt_cpu_cluster_arrive));
    def("cuvirt_cpu_cluster_wait", reinterpret_cast<const void *>(&cuvirt_cpu_cluster_wait));
  }
  if (&cuvirt_cpu_cdp_param_buffer != nullptr && &cuvirt_cpu_cdp_launch != nullptr) { // the backend's
    def("cuvirt_cpu_cdp_param_buffer", reinterpret_cast<const void *>(&cuvirt_cpu_cdp_param_buffer));
    def("cuvirt_cpu_cdp_launch", reinterpret_cast<const void *>(&cuvirt_cpu_cdp_launch));
  }
  def("cuvirt_cpu_jit_run", reinterpret_cast<const void *>(&cuvirt_cpu_jit_run));
  def("cuvirt_cpu_jit_globaltimer", reinterpret_cast<const void *>(&cuvirt_cpu_jit_globaltimer));
  def("cuvirt_cpu_jit_uniform64", reinterpret_cast<const void *>(&cuvirt_cpu_jit_uniform64));
  def("cuvirt_cpu_jit_nsmid", reinterpret_cast<const void *>(&cuvirt_cpu_jit_nsmid));
  def("cuvirt_cpu_jit_spin_wait", reinterpret_cast<const void *>(&cuvirt_cpu_jit_spin_wait));
  def("cuvirt_cpu_mbar_init", reinterpret_cast<const void *>(&cuvirt_cpu_mbar_init));
  def("cuvirt_cpu_mbar_inval", reinterpret_cast<const void *>(&cuvirt_cpu_mbar_inval));
  def("cuvirt_cpu_mbar_arrive", reinterpret_cast<const void *>(&cuvirt_cpu_mbar_arrive));
  def("cuvirt_cpu_mbar_pending", reinterpret_cast<const void *>(&cuvirt_cpu_mbar_pending));
  def("cuvirt_cpu_jit_spin_begin", reinterpret_cast<const void *>(&cuvirt_cpu_jit_spin_begin));
  def("cuvirt_cpu_tex", reinterpret_cast<const void *>(&cuvirt_cpu_tex));
  def("cuvirt_cpu_islocal", reinterpret_cast<const void *>(&cuvirt_cpu_islocal));
  def("cuvirt_cpu_txq", reinterpret_cast<const void *>(&cuvirt_cpu_txq));
  def("cuvirt_cpu_suq", reinterpret_cast<const void *>(&cuvirt_cpu_suq));
  def("cuvirt_cpu_suld", reinterpret_cast<const void *>(&cuvirt_cpu_suld));
  def("cuvirt_cpu_sust", reinterpret_cast<const void *>(&cuvirt_cpu_sust));
  def("cuvirt_cpu_sured", reinterpret_cast<const void *>(&cuvirt_cpu_sured));
  for (const auto &[name, addr] : options.globals)
    syms[j.mangleAndIntern(name)] = {orc::ExecutorAddr(addr), JITSymbolFlags::Exported};
  if (Error e = jd.define(orc::absoluteSymbols(std::move(syms))))
    return jitFailure(log, "cpu jit: " + toString(std::move(e)));
  // libm/libc calls LLVM emits (memcpy, sinf, ...): from the process.
  auto gen = orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(j.getDataLayout().getGlobalPrefix());
  if (!gen)
    return jitFailure(log, "cpu jit: " + toString(gen.takeError()));
  jd.addGenerator(std::move(*gen));
  return std::move(*jit);
}

/// Links `object` into `j` and resolves every block function it defines now
/// (into `kernels`, by block-function name), so that link errors show here.
Status addObject(orc::LLJIT &j, const std::vector<char> &object,
                 std::unordered_map<std::string, BlockFn> &kernels, std::string &log) {
  auto buffer = MemoryBuffer::getMemBufferCopy(StringRef(object.data(), object.size()), "cuvirt-kernels.o");
  std::vector<std::string> blockFns;
  {
    auto obj = object::ObjectFile::createObjectFile(buffer->getMemBufferRef());
    if (!obj)
      return jitFailure(log, "cpu jit: bad object: " + toString(obj.takeError()));
    for (const object::SymbolRef &s : (*obj)->symbols()) {
      auto name = s.getName();
      auto flags = s.getFlags();
      if (!name || !flags) {
        consumeError(name.takeError());
        consumeError(flags.takeError());
        continue;
      }
      if ((*flags & object::SymbolRef::SF_Global) && !(*flags & object::SymbolRef::SF_Undefined) &&
          name->ends_with(".block"))
        blockFns.push_back(name->str());
    }
  }
  if (Error e = j.addObjectFile(std::move(buffer)))
    return jitFailure(log, "cpu jit: " + toString(std::move(e)));
  for (const std::string &name : blockFns) {
    auto addr = j.lookup(name);
    if (!addr)
      return jitFailure(log, "cpu jit: linking kernels: " + toString(addr.takeError()));
    kernels[name] = addr->toPtr<BlockFn>();
  }
  return {};
}

class JitModule final : public CompiledModule {
public:
  [[nodiscard]] BlockFn kernel(std::string_view name) const override {
    auto it = kernels_.find(blockFunctionName(name));
    return it == kernels_.end() ? nullptr : it->second;
  }

  // Links `object` with the module globals bound to `globals` and resolves
  // every block function now, so that link errors are reported here.
  static Expected<std::unique_ptr<CompiledModule>> load(const std::vector<char> &object,
                                                        const CompileOptions &options, std::string &log) {
    auto jit = makeJit(options, log);
    if (!jit)
      return jit.status();
    auto m = std::unique_ptr<JitModule>(new JitModule);
    m->jit_ = jit.take();
    CUVIRT_TRY(addObject(*m->jit_, object, m->kernels_, log));
    return std::unique_ptr<CompiledModule>(std::move(m));
  }

private:
  std::unique_ptr<orc::LLJIT> jit_;
  std::unordered_map<std::string, BlockFn> kernels_;
};

Expected<std::unique_ptr<CompiledModule>> loadCached(const std::string &dir, const std::string &key,
                                                     const CompileOptions &options, std::string &log,
                                                     bool &hit) {
  hit = false;
  auto t0 = std::chrono::steady_clock::now();
  auto obj = cacheLoad(dir, key);
  if (!obj)
    return Status(CUDA_ERROR_NOT_FOUND);
  auto m = JitModule::load(*obj, options, log);
  if (!m.ok())
    return m; // a stale/broken entry: the caller recompiles
  hit = true;
  ++gHits;
  gLoadMs = msSince(t0);
  return m;
}

std::string cacheDirOf(const CompileOptions &options) { return options.cacheDir; }

} // namespace

JitStats jitStats() {
  JitStats s;
  s.cacheHits = gHits;
  s.cacheMisses = gMisses;
  s.codegens = gCodegens;
  s.lastCompileMs = gCompileMs;
  s.kernelsCompiled = gKernelsCompiled;
  s.kernelsCached = gKernelsCached;
  s.lightTier = gLightTier;
  s.lastCacheLoadMs = gLoadMs;
  return s;
}

Expected<std::unique_ptr<llvm::TargetMachine>> hostTargetMachine() {
  initLlvm();
  auto tm = hostBuilder().createTargetMachine();
  if (!tm) {
    std::string msg = toString(tm.takeError());
    return report(CUDA_ERROR_NOT_SUPPORTED, "cpu jit: no target machine for the host: " + msg);
  }
  return std::move(*tm);
}

Status blockifyForHost(llvm::Module &m, llvm::TargetMachine &tm, const ModuleInfo &info, std::string &log) {
  m.setTargetTriple(tm.getTargetTriple());
  m.setDataLayout(tm.createDataLayout());
  // Texture/surface calls are plain per-thread helpers (device_texture.cpp).
  // So are the cluster helpers (cpu_executor.cpp).
  for (const char *name : {"tex", "txq", "suq", "suld", "sust", "sured", "islocal", "cluster_dim",
                           "cluster_map", "cluster_arrive", "cluster_wait"})
    if (Function *f = m.getFunction(std::string("cuvirt.") + name); f && f->isDeclaration())
      f->setName(std::string("cuvirt_cpu_") + name);
  // Device functions serve this module's kernels only (the driver reaches
  // kernels alone): internal, so one inlined everywhere is dropped rather
  // than kept out of line, where a barrier cannot run (libcudadevrt's
  // cudaCGSynchronize holds the grid sync's bar.sync).
  for (Function &f : m)
    if (!f.isDeclaration() && !f.hasFnAttribute("cuvirt-kernel"))
      f.setLinkage(GlobalValue::InternalLinkage);
  BlockifyOptions bo;
  for (const KernelInfo &k : info.kernels)
    bo.staticSharedBytes[k.name] = k.staticSharedBytes;
  if (const char *jam = std::getenv("CUVIRT_JIT_JAM")) // experiments
    bo.jam = unsigned(std::max(1, std::atoi(jam)));
  return blockify(m, bo, log);
}

namespace {
/// The kernel parameter (a load marked !cuvirt.param) at the root of an
/// integer add chain, or nullptr.
Value *paramBase(Value *v, unsigned paramKind, int depth) {
  if (auto *ld = dyn_cast<LoadInst>(v))
    return ld->hasMetadata(paramKind) && ld->getType()->isIntegerTy(64) ? ld : nullptr;
  auto *add = dyn_cast<BinaryOperator>(v);
  if (add == nullptr || add->getOpcode() != Instruction::Add || depth > 8)
    return nullptr;
  for (Value *op : add->operands())
    if (Value *b = paramBase(op, paramKind, depth + 1))
      return b;
  return nullptr;
}
} // namespace

/// PTX computes addresses as integers (`add.s64 %rd3, %rd1, %rd2`), so the
/// lowered IR has `inttoptr(param + offset)`, through which LLVM cannot see
/// that neighbouring threads touch neighbouring addresses: every access
/// becomes a gather. Rewriting each as `gep(inttoptr(param), offset)` gives
/// SCEV a base pointer and an affine offset, and the vectoriser plain vector
/// loads and stores (saxpy: 14x faster, measured in bench/kernels).
void rebaseParamAddresses(llvm::Module &m) {
  const unsigned kind = m.getContext().getMDKindID("cuvirt.param");
  for (Function &f : m) {
    DenseMap<Value *, Value *> basePointers;
    SmallVector<IntToPtrInst *, 32> casts;
    for (Instruction &i : instructions(f))
      if (auto *c = dyn_cast<IntToPtrInst>(&i))
        casts.push_back(c);
    for (IntToPtrInst *c : casts) {
      Value *x = c->getOperand(0);
      Value *base = paramBase(x, kind, 0);
      if (base == nullptr || base == x)
        continue;
      Value *&bp = basePointers[base];
      if (bp == nullptr) {
        IRBuilder<> at(cast<Instruction>(base)->getNextNode());
        bp = at.CreateIntToPtr(base, c->getType(), base->getName() + ".ptr");
      }
      if (bp->getType() != c->getType())
        continue; // another address space: leave it
      IRBuilder<> b(c);
      Value *offset = b.CreateSub(x, base);
      Value *gep = b.CreateGEP(b.getInt8Ty(), bp, offset, c->getName());
      c->replaceAllUsesWith(gep);
      c->eraseFromParent();
    }
  }
}

OptTier tierFor(std::uint64_t instructions) {
  // CUVIRT_JIT_LIGHT=N moves the threshold (experiments; 0 = always light).
  static const std::uint64_t threshold = [] {
    const char *v = std::getenv("CUVIRT_JIT_LIGHT");
    return v != nullptr && *v ? std::strtoull(v, nullptr, 10) : std::uint64_t(30000);
  }();
  return instructions >= threshold ? OptTier::Light : OptTier::Full;
}

void optimizeForHost(llvm::Module &m, llvm::TargetMachine &tm, OptTier tier) {
  rebaseParamAddresses(m);
  // Every function gets the host CPU, so the cost models see AVX-512 etc.
  for (Function &f : m) {
    if (f.isDeclaration())
      continue;
    f.addFnAttr("target-cpu", tm.getTargetCPU());
    f.addFnAttr("target-features", tm.getTargetFeatureString());
  }
  LoopAnalysisManager lam;
  FunctionAnalysisManager fam;
  CGSCCAnalysisManager cgam;
  ModuleAnalysisManager mam;
  PipelineTuningOptions pto;
  pto.LoopVectorization = true;
  pto.SLPVectorization = true;
  pto.LoopUnrolling = true;
  PassBuilder pb(&tm, pto);
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  if (tier == OptTier::Full) {
    ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(OptimizationLevel::O3);
    mpm.run(m, mam);
    return;
  }
  // Light: registers out of memory and local clean-ups, no inlining, loop or
  // vector passes (those are what cost seconds on 50k-instruction modules).
  FunctionPassManager fpm;
  fpm.addPass(SROAPass(SROAOptions::ModifyCFG));
  fpm.addPass(EarlyCSEPass(true));
  fpm.addPass(InstCombinePass());
  fpm.addPass(SimplifyCFGPass());
  ModulePassManager mpm;
  mpm.addPass(createModuleToFunctionPassAdaptor(std::move(fpm)));
  mpm.addPass(GlobalDCEPass());
  mpm.run(m, mam);
}

Expected<std::vector<char>> emitForHost(llvm::Module &m, llvm::TargetMachine &tm, bool assembly,
                                        OptTier tier) {
  // The level is read when the passes are added; put it back after.
  const CodeGenOptLevel saved = tm.getOptLevel();
  // Light: the default level, not aggressive. (None, FastISel, is 10x faster
  // again but its code ran CUB's reduction 2.4x slower: PERFORMANCE.md.)
  tm.setOptLevel(tier == OptTier::Full ? saved : CodeGenOptLevel::Default);
  struct Restore {
    TargetMachine &tm;
    CodeGenOptLevel level;
    ~Restore() { tm.setOptLevel(level); }
  } restore{tm, saved};
  SmallVector<char, 0> buf;
  raw_svector_ostream os(buf);
  legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr,
                             assembly ? CodeGenFileType::AssemblyFile : CodeGenFileType::ObjectFile))
    return report(CUDA_ERROR_NOT_SUPPORTED, "cpu jit: the host target cannot emit code");
  pm.run(m);
  return std::vector<char>(buf.begin(), buf.end());
}

Expected<std::unique_ptr<CompiledModule>> compileModule(std::unique_ptr<llvm::LLVMContext> context,
                                                        std::unique_ptr<llvm::Module> module,
                                                        const ModuleInfo &info, std::string_view cacheSource,
                                                        const CompileOptions &options, std::string &log) {
  (void)context; // owns `module`; destroyed after it
  // On every return, error ones included: the caller destroys the arguments
  // (GCC: `context` first), and a module outliving its context crashes.
  struct ModuleFirst {
    std::unique_ptr<llvm::Module> &module;
    ~ModuleFirst() { module.reset(); }
  } moduleFirst{module};
  auto t0 = std::chrono::steady_clock::now();
  auto tm = hostTargetMachine();
  if (!tm.ok())
    return tm.status();
  CUVIRT_TRY(blockifyForHost(*module, **tm, info, log));
  optimizeForHost(*module, **tm);
  auto obj = emitForHost(*module, **tm, false);
  if (!obj.ok())
    return obj.status();
  ++gCodegens;
  std::string dir = cacheDirOf(options);
  if (!dir.empty() && !cacheSource.empty())
    cacheStore(dir, cacheKey(cacheSource), *obj);
  auto m = JitModule::load(*obj, options, log);
  gCompileMs = msSince(t0);
  module.reset(); // before its context
  return m;
}

Expected<std::unique_ptr<CompiledModule>> compileIr(std::string_view ir, const ModuleInfo &info,
                                                    const CompileOptions &options, std::string &log) {
  initLlvm();
  // The shared-memory layout changes the code: part of the key.
  std::string source(ir);
  for (const KernelInfo &k : info.kernels)
    source += fmt::format("\n;shared {} {}", k.name, k.staticSharedBytes);
  std::string dir = cacheDirOf(options);
  if (!dir.empty()) {
    bool hit = false;
    auto m = loadCached(dir, cacheKey(source), options, log, hit);
    if (hit)
      return m;
    ++gMisses;
  }
  auto context = std::make_unique<LLVMContext>();
  SMDiagnostic diag;
  auto module = parseAssemblyString(StringRef(ir.data(), ir.size()), diag, *context);
  if (!module) {
    std::string msg = fmt::format("{}:{}: {}", diag.getLineNo(), diag.getColumnNo(), diag.getMessage().str());
    log += msg + "\n";
    return report(CUDA_ERROR_INVALID_PTX, "cpu jit: bad kernel IR: " + msg);
  }
  return compileModule(std::move(context), std::move(module), info, dir.empty() ? "" : source, options, log);
}

} // namespace cuvirt::cpu::jit

namespace cuvirt::cpu {

Expected<std::unique_ptr<CompiledModule>> compilePtx(std::string_view ptx, const CompileOptions &options,
                                                     std::string &log) {
  jit::initLlvm();
  const std::string &dir = options.cacheDir;
  if (!dir.empty()) {
    bool hit = false;
    auto m = jit::loadCached(dir, jit::cacheKey(ptx), options, log, hit);
    if (hit)
      return m;
    ++jit::gMisses;
  }
#ifdef CUVIRT_HAVE_PTX_LOWER
  auto tm = jit::hostTargetMachine();
  if (!tm.ok())
    return tm.status();
  ptx::TargetHooks hooks = jit::hostTargetHooks(**tm);
  auto context = std::make_unique<llvm::LLVMContext>();
  auto lowered = ptx::lower(ptx, *context, hooks, log);
  if (!lowered.ok())
    return lowered.status();
  ptx::Lowered l = lowered.take();
  return jit::compileModule(std::move(context), std::move(l.module), l.info, dir.empty() ? "" : ptx, options,
                            log);
#else
  log += "the PTX front end (cuvirt_ptx_llvm) is not built\n";
  return report(CUDA_ERROR_NOT_SUPPORTED, "cpu jit: built without the PTX front end");
#endif
}

} // namespace cuvirt::cpu

namespace cuvirt::cpu::jit {
namespace {

/// Makes every definition but those `keep` names internal: kernels (and a
/// module's function table) compiled separately
/// share one JIT (and the module's variables), so their device functions and
/// helpers must not collide; it also lets LLVM drop or inline them.
void internalizeAllBut(llvm::Module &m, llvm::function_ref<bool(llvm::StringRef)> keep) {
  for (llvm::GlobalValue &g : m.global_values())
    if (!g.isDeclaration() && !keep(g.getName()) && !g.hasLocalLinkage())
      g.setLinkage(llvm::GlobalValue::InternalLinkage);
}

/// The prefix under which a module's function-table object exports the
/// functions whose addresses module variables hold.
constexpr const char *kTablePrefix = "cuvirt.fnaddr.";

/// The lowered function of PTX function `name` (internal ones carry ".ptx").
llvm::Function *ptxFunction(llvm::Module &m, const std::string &name) {
  if (llvm::Function *f = m.getFunction(name + ".ptx"); f && !f->isDeclaration())
    return f;
  llvm::Function *f = m.getFunction(name);
  return f && !f->isDeclaration() ? f : nullptr;
}

/// A kernel that takes the address of a table function (`mov.u64 %rd, f`)
/// gets the table object's copy, so a function has one address (tables
/// compare equal to it); direct calls keep the kernel's own, inlinable copy.
void useTableAddresses(llvm::Module &m, const std::set<std::string> &table) {
  for (const std::string &name : table) {
    llvm::Function *f = ptxFunction(m, name);
    if (f == nullptr)
      continue;
    auto notCallee = [](llvm::Use &u) {
      auto *cb = llvm::dyn_cast<llvm::CallBase>(u.getUser());
      return !(cb && cb->isCallee(&u));
    };
    if (std::none_of(f->use_begin(), f->use_end(), notCallee))
      continue;
    llvm::Function *decl = llvm::Function::Create(f->getFunctionType(), llvm::GlobalValue::ExternalLinkage,
                                                  kTablePrefix + name, m);
    f->replaceUsesWithIf(decl, notCallee);
  }
}

std::uint64_t instructionCount(const llvm::Module &m) {
  std::uint64_t n = 0;
  for (const llvm::Function &f : m)
    n += f.getInstructionCount();
  return n;
}

class LazyPtxModule final : public LazyModule {
public:
  LazyPtxModule(std::string ptx, const ModuleInfo &info, CompileOptions options)
      : ptx_(std::move(ptx)), options_(std::move(options)) {
    for (const KernelInfo &k : info.kernels)
      shared_[k.name] = k.staticSharedBytes;
    XXH128_hash_t h = XXH3_128bits(ptx_.data(), ptx_.size());
    moduleHash_ = fmt::format("{:016x}{:016x}", h.high64, h.low64);
  }

  Expected<BlockFn> kernel(const std::string &name, std::string &log) override {
    Entry *e;
    {
      std::lock_guard lock(mutex_);
      auto &slot = entries_[name];
      if (!slot)
        slot = std::make_unique<Entry>();
      e = slot.get();
    }
    std::lock_guard lock(e->mutex); // one compile per kernel; others go on
    if (!e->done) {
      auto fn = load(name, log);
      e->done = true;
      if (fn.ok())
        e->fn = *fn;
      else
        e->status = fn.status();
      e->log = log;
    } else if (!e->status.ok()) {
      log += e->log;
    }
    if (!e->status.ok())
      return e->status;
    return e->fn;
  }

  Expected<std::unordered_map<std::string, std::uint64_t>>
  functionAddresses(const std::vector<std::string> &names, std::string &log) override {
    std::vector<std::string> fns;
    {
      std::lock_guard lock(indexMutex_);
      if (!index_)
        index_ = std::make_unique<PtxIndex>(ptx_);
      for (const std::string &n : names)
        if (index_->isDeviceFunction(n))
          fns.push_back(n);
    }
    std::sort(fns.begin(), fns.end());
    fns.erase(std::unique(fns.begin(), fns.end()), fns.end());
    std::unordered_map<std::string, std::uint64_t> out;
    if (fns.empty())
      return out;
    const std::string key =
        cacheKey(fmt::format("cuvirt lazy module {}\nfunction table\n{}", moduleHash_, fmt::join(fns, "\n")));
    const std::string &dir = options_.cacheDir;
    const auto t0 = std::chrono::steady_clock::now();
    bool linked = false;
    if (!dir.empty()) {
      if (auto obj = cacheLoad(dir, key)) {
        std::string linkLog;
        if (linkTable(*obj, fns, out, linkLog).ok()) {
          ++gHits;
          linked = true;
        } else {
          cuvirt::log().debug("cpu jit: cached function table does not link ({}); compiling", linkLog);
        }
      }
      if (!linked)
        ++gMisses;
    }
    if (!linked) {
      auto object = compileTable(fns, log);
      if (!object.ok())
        return object.status();
      if (!dir.empty())
        cacheStore(dir, key, *object);
      CUVIRT_TRY(linkTable(*object, fns, out, log));
    }
    cuvirt::log().debug("cpu jit: the module's {} table functions ({}) in {:.1f} ms", fns.size(),
                        linked ? "from the disk cache" : "compiled", msSince(t0));
    // Before any kernel compiles (the module is not handed out yet).
    table_.insert(fns.begin(), fns.end());
    return out;
  }

private:
  struct Entry {
    std::mutex mutex;
    bool done = false;
    BlockFn fn = nullptr;
    Status status;
    std::string log;
  };

  Expected<BlockFn> load(const std::string &name, std::string &log) {
    auto it = shared_.find(name);
    if (it == shared_.end())
      return error(CUDA_ERROR_NOT_FOUND, "kernel {} is not in the module", name);
    const std::string block = blockFunctionName(name);
    // The module (its hash stands for the image), the kernel and its layout.
    const std::string key = cacheKey(fmt::format("cuvirt lazy module {}\nkernel {}\nshared {}{}", moduleHash_,
                                                 name, it->second, table_.empty() ? "" : "\nfunction table"));
    const std::string &dir = options_.cacheDir;
    if (!dir.empty()) {
      auto t0 = std::chrono::steady_clock::now();
      if (auto obj = cacheLoad(dir, key)) {
        std::string linkLog;
        auto fn = link(*obj, block, linkLog);
        if (fn.ok()) {
          ++gHits;
          ++gKernelsCached;
          gLoadMs = msSince(t0);
          return fn;
        }
        cuvirt::log().debug("cpu jit: cached object of {} does not link ({}); compiling", name, linkLog);
      }
      ++gMisses;
    }
    auto object = compile(name, it->second, log);
    if (!object.ok())
      return object.status();
    if (!dir.empty())
      cacheStore(dir, key, *object);
    return link(*object, block, log);
  }

  Expected<std::vector<char>> compile(const std::string &name, std::uint32_t sharedBytes, std::string &log) {
#ifdef CUVIRT_HAVE_PTX_LOWER
    auto t0 = std::chrono::steady_clock::now();
    std::string slice;
    {
      std::lock_guard lock(indexMutex_);
      if (!index_)
        index_ = std::make_unique<PtxIndex>(ptx_);
      slice = index_->slice(name);
    }
    if (slice.empty())
      return error(CUDA_ERROR_NOT_FOUND, "kernel {} is not an entry of the module's PTX", name);
    auto tm = hostTargetMachine();
    if (!tm.ok())
      return tm.status();
    ptx::TargetHooks hooks = jit::hostTargetHooks(**tm);
    llvm::LLVMContext context;
    auto lowered = ptx::lower(slice, context, hooks, log);
    if (!lowered.ok())
      return lowered.status();
    ptx::Lowered l = lowered.take();
    const double lowerMs = msSince(t0);
    // Shared variables of the slice are a subset of the module's, laid out in
    // the same order, so the kernel fits the module's size (which the runtime
    // reports and allocates); dynamic shared memory starts after that.
    ModuleInfo one;
    for (const KernelInfo &k : l.info.kernels) {
      if (k.name != name)
        continue;
      if (k.staticSharedBytes > sharedBytes)
        return error(CUDA_ERROR_INVALID_PTX,
                     "kernel {}: {} bytes of static shared memory alone, {} in the module", name,
                     k.staticSharedBytes, sharedBytes);
      one.kernels.push_back(k);
      one.kernels.back().staticSharedBytes = sharedBytes;
    }
    if (one.kernels.empty())
      return error(CUDA_ERROR_NOT_FOUND, "kernel {} is missing from its slice", name);
    auto t1 = std::chrono::steady_clock::now();
    CUVIRT_TRY(blockifyForHost(*l.module, **tm, one, log));
    useTableAddresses(*l.module, table_);
    const std::string blockFn = blockFunctionName(name);
    internalizeAllBut(*l.module, [&](llvm::StringRef n) { return n == blockFn; });
    const std::uint64_t size = instructionCount(*l.module);
    const OptTier tier = tierFor(size);
    const double blockifyMs = msSince(t1);
    t1 = std::chrono::steady_clock::now();
    optimizeForHost(*l.module, **tm, tier);
    const double optMs = msSince(t1);
    t1 = std::chrono::steady_clock::now();
    auto obj = emitForHost(*l.module, **tm, false, tier);
    l.module.reset(); // before its context
    if (!obj.ok())
      return obj.status();
    ++gCodegens;
    ++gKernelsCompiled;
    if (tier == OptTier::Light)
      ++gLightTier;
    gCompileMs = msSince(t0);
    cuvirt::log().debug(
        "cpu jit: compiled {} ({} instructions, {} tier): lower {:.0f} ms, blockify {:.0f} ms, "
        "optimise {:.0f} ms, codegen {:.0f} ms",
        name, size, tier == OptTier::Full ? "full" : "light", lowerMs, blockifyMs, optMs, msSince(t1));
    return obj;
#else
    (void)name, (void)sharedBytes;
    log += "the PTX front end (cuvirt_ptx_llvm) is not built\n";
    return report(CUDA_ERROR_NOT_SUPPORTED, "cpu jit: built without the PTX front end");
#endif
  }

  /// The functions `fns` (and what they call) as one object, each exported
  /// as kTablePrefix + name with the signature of an indirect call target.
  Expected<std::vector<char>> compileTable(const std::vector<std::string> &fns, std::string &log) {
#ifdef CUVIRT_HAVE_PTX_LOWER
    std::string slice;
    {
      std::lock_guard lock(indexMutex_);
      slice = index_->sliceFunctions(fns);
    }
    if (slice.empty())
      return error(CUDA_ERROR_NOT_FOUND, "function table: a function is not defined in the module");
    auto tm = hostTargetMachine();
    if (!tm.ok())
      return tm.status();
    ptx::TargetHooks hooks = jit::hostTargetHooks(**tm);
    llvm::LLVMContext context;
    auto lowered = ptx::lower(slice, context, hooks, log);
    if (!lowered.ok())
      return lowered.status();
    ptx::Lowered l = lowered.take();
    llvm::Module &m = *l.module;
    // Address-taken (a constant array of them), so blockify gives each the
    // hidden thread-context arguments indirect call sites pass.
    std::vector<llvm::Constant *> addrs;
    for (const std::string &n : fns) {
      llvm::Function *f = ptxFunction(m, n);
      if (f == nullptr)
        return error(CUDA_ERROR_NOT_FOUND, "function table: {} is missing from its slice", n);
      addrs.push_back(f);
    }
    auto *arrayTy = llvm::ArrayType::get(llvm::PointerType::get(context, 0), addrs.size());
    auto *table = new llvm::GlobalVariable(m, arrayTy, true, llvm::GlobalValue::InternalLinkage,
                                           llvm::ConstantArray::get(arrayTy, addrs), "cuvirt.fntable");
    CUVIRT_TRY(blockifyForHost(m, **tm, ModuleInfo{}, log));
    auto *init = llvm::cast<llvm::ConstantArray>(table->getInitializer());
    std::vector<llvm::Function *> moved;
    for (unsigned i = 0; i < init->getNumOperands(); ++i)
      moved.push_back(llvm::cast<llvm::Function>(init->getOperand(i)->stripPointerCasts()));
    table->eraseFromParent();
    for (std::size_t i = 0; i < fns.size(); ++i) {
      moved[i]->setName(kTablePrefix + fns[i]);
      moved[i]->setLinkage(llvm::GlobalValue::ExternalLinkage);
      moved[i]->setVisibility(llvm::GlobalValue::DefaultVisibility);
    }
    internalizeAllBut(m, [](llvm::StringRef n) { return n.starts_with(kTablePrefix); });
    optimizeForHost(m, **tm);
    auto obj = emitForHost(m, **tm, false);
    l.module.reset(); // before its context
    if (!obj.ok())
      return obj.status();
    ++gCodegens;
    return obj;
#else
    (void)fns;
    log += "the PTX front end (cuvirt_ptx_llvm) is not built\n";
    return report(CUDA_ERROR_NOT_SUPPORTED, "cpu jit: built without the PTX front end");
#endif
  }

  /// Links the function-table object into the module's JIT, before any
  /// kernel (their objects refer to its functions), and looks them up.
  Status linkTable(const std::vector<char> &object, const std::vector<std::string> &fns,
                   std::unordered_map<std::string, std::uint64_t> &out, std::string &log) {
    std::lock_guard lock(jitMutex_);
    if (!jit_) {
      auto jit = makeJit(options_, log);
      if (!jit)
        return jit.status();
      jit_ = jit.take();
    }
    std::unordered_map<std::string, BlockFn> none;
    CUVIRT_TRY(addObject(*jit_, object, none, log));
    for (const std::string &n : fns) {
      auto addr = jit_->lookup(kTablePrefix + n);
      if (!addr)
        return jitFailure(log, "cpu jit: function table: " + llvm::toString(addr.takeError()));
      out[n] = addr->getValue();
    }
    return {};
  }

  /// Adds a kernel's object to the module's JIT (created at the first one).
  Expected<BlockFn> link(const std::vector<char> &object, const std::string &block, std::string &log) {
    std::unordered_map<std::string, BlockFn> fns;
    {
      std::lock_guard lock(jitMutex_);
      if (!jit_) {
        auto jit = makeJit(options_, log);
        if (!jit)
          return jit.status();
        jit_ = jit.take();
      }
      CUVIRT_TRY(addObject(*jit_, object, fns, log));
    }
    auto it = fns.find(block);
    if (it == fns.end())
      return jitFailure(log, "cpu jit: the object has no " + block);
    return it->second;
  }

  const std::string ptx_;
  const CompileOptions options_;
  std::unordered_map<std::string, std::uint32_t> shared_;
  std::string moduleHash_;
  std::mutex mutex_; ///< entries_
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  std::mutex indexMutex_;
  std::unique_ptr<PtxIndex> index_; ///< built at the first kernel compiled
  /// Functions of the function-table object (set at load, before kernels).
  std::set<std::string> table_;
  std::mutex jitMutex_;
  std::unique_ptr<llvm::orc::LLJIT> jit_; ///< after entries_: the code goes first
};

} // namespace
} // namespace cuvirt::cpu::jit

namespace cuvirt::cpu {

std::unique_ptr<LazyModule> lazyPtxModule(std::string ptx, const ModuleInfo &info, CompileOptions options) {
  jit::initLlvm();
  return std::make_unique<jit::LazyPtxModule>(std::move(ptx), info, std::move(options));
}

} // namespace cuvirt::cpu
