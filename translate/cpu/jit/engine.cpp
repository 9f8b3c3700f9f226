// The CPU JIT engine (see engine.h).
#include "translate/cpu/jit/engine.h"
#include "translate/cpu/jit/block_runtime.h"
#include "translate/cpu/jit/blockify.h"
#include "translate/cpu/jit/cache.h"
#include "translate/cpu/jit/device_texture.h"
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

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fmt/format.h>
#include <mutex>

// Defined by the backend (libcuda.so.1) or by a test; weak so that a program
// without them still links and gets a clear abort instead.
#pragma weak cuvirt_cpu_trap
#pragma weak cuvirt_cpu_assertfail

namespace cuvirt::cpu::jit {
namespace {
using namespace llvm;

std::atomic<std::uint64_t> gHits{0}, gMisses{0}, gCodegens{0};
std::atomic<double> gCompileMs{0}, gLoadMs{0};

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
    auto fail = [&](const std::string &msg) -> Status {
      log += msg + "\n";
      return report(CUDA_ERROR_INVALID_IMAGE, msg);
    };
    auto jit = orc::LLJITBuilder().setJITTargetMachineBuilder(hostBuilder()).create();
    if (!jit)
      return fail("cpu jit: cannot create LLJIT: " + toString(jit.takeError()));
    auto m = std::unique_ptr<JitModule>(new JitModule);
    m->jit_ = std::move(*jit);
    orc::LLJIT &j = *m->jit_;
    orc::JITDylib &jd = j.getMainJITDylib();
    orc::SymbolMap syms;
    auto def = [&](StringRef name, const void *addr) {
      syms[j.mangleAndIntern(name)] = {orc::ExecutorAddr::fromPtr(addr), JITSymbolFlags::Exported};
    };
    def("cuvirt_cpu_trap", &cuvirt_cpu_trap ? reinterpret_cast<const void *>(&cuvirt_cpu_trap)
                                            : reinterpret_cast<const void *>(&missingTrap));
    def("cuvirt_cpu_assertfail", &cuvirt_cpu_assertfail
                                     ? reinterpret_cast<const void *>(&cuvirt_cpu_assertfail)
                                     : reinterpret_cast<const void *>(&missingAssert));
    def("cuvirt_cpu_vprintf", reinterpret_cast<const void *>(&cuvirt_cpu_vprintf));
    def("cuvirt_cpu_malloc", reinterpret_cast<const void *>(&cuvirt_cpu_malloc));
    def("cuvirt_cpu_free", reinterpret_cast<const void *>(&cuvirt_cpu_free));
    def("cuvirt_cpu_jit_run", reinterpret_cast<const void *>(&cuvirt_cpu_jit_run));
    def("cuvirt_cpu_jit_globaltimer", reinterpret_cast<const void *>(&cuvirt_cpu_jit_globaltimer));
    def("cuvirt_cpu_jit_uniform64", reinterpret_cast<const void *>(&cuvirt_cpu_jit_uniform64));
    def("cuvirt_cpu_jit_nsmid", reinterpret_cast<const void *>(&cuvirt_cpu_jit_nsmid));
    def("cuvirt_cpu_jit_spin_wait", reinterpret_cast<const void *>(&cuvirt_cpu_jit_spin_wait));
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
      return fail("cpu jit: " + toString(std::move(e)));
    // libm/libc calls LLVM emits (memcpy, sinf, ...): from the process.
    auto gen = orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(j.getDataLayout().getGlobalPrefix());
    if (!gen)
      return fail("cpu jit: " + toString(gen.takeError()));
    jd.addGenerator(std::move(*gen));

    auto buffer = MemoryBuffer::getMemBufferCopy(StringRef(object.data(), object.size()), "cuvirt-kernels.o");
    std::vector<std::string> blockFns;
    {
      auto obj = object::ObjectFile::createObjectFile(buffer->getMemBufferRef());
      if (!obj)
        return fail("cpu jit: bad object: " + toString(obj.takeError()));
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
      return fail("cpu jit: " + toString(std::move(e)));
    for (const std::string &name : blockFns) {
      auto addr = j.lookup(name);
      if (!addr)
        return fail("cpu jit: linking kernels: " + toString(addr.takeError()));
      m->kernels_[name] = addr->toPtr<BlockFn>();
    }
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
  for (const char *name : {"tex", "txq", "suq", "suld", "sust", "sured", "islocal"})
    if (Function *f = m.getFunction(std::string("cuvirt.") + name); f && f->isDeclaration())
      f->setName(std::string("cuvirt_cpu_") + name);
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

void optimizeForHost(llvm::Module &m, llvm::TargetMachine &tm) {
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
  ModulePassManager mpm = pb.buildPerModuleDefaultPipeline(OptimizationLevel::O3);
  mpm.run(m, mam);
}

Expected<std::vector<char>> emitForHost(llvm::Module &m, llvm::TargetMachine &tm, bool assembly) {
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
  ptx::TargetHooks hooks;
  hooks.triple = (*tm)->getTargetTriple().str();
  hooks.dataLayout = (*tm)->createDataLayout().getStringRepresentation();
  hooks.directedOp = jit::hostDirectedRounding(**tm);
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
