// Debug dumps of the JIT stages (see dump.h).
#include "translate/cpu/jit/dump.h"
#include "translate/cpu/jit/engine.h"
#include "translate/cpu/jit/rounding.h"
#ifdef CUVIRT_HAVE_PTX_LOWER
#include "translate/ptx/lower.h"
#endif
#include <fmt/format.h>
#include <llvm/AsmParser/Parser.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/SourceMgr.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

namespace cuvirt::cpu::jit {
namespace {

std::string print(const llvm::Module &m) {
  std::string s;
  llvm::raw_string_ostream os(s);
  m.print(os, nullptr);
  return s;
}

Expected<std::string> runStages(llvm::Module &m, const ModuleInfo &info, DumpStage stage, std::string &log) {
  if (stage == DumpStage::ThreadIR)
    return print(m);
  auto tm = hostTargetMachine();
  if (!tm.ok())
    return tm.status();
  CUVIRT_TRY(blockifyForHost(m, **tm, info, log));
  if (stage == DumpStage::BlockIR)
    return print(m);
  optimizeForHost(m, **tm);
  if (stage == DumpStage::OptimizedIR)
    return print(m);
  auto text = emitForHost(m, **tm, true);
  if (!text.ok())
    return text.status();
  return std::string(text->begin(), text->end());
}

} // namespace

Expected<std::string> dumpIr(std::string_view ir, const ModuleInfo &info, DumpStage stage, std::string &log) {
  auto tm = hostTargetMachine(); // initialises LLVM's host target
  if (!tm.ok())
    return tm.status();
  llvm::LLVMContext context;
  llvm::SMDiagnostic diag;
  auto m = llvm::parseAssemblyString(llvm::StringRef(ir.data(), ir.size()), diag, context);
  if (!m) {
    std::string msg = fmt::format("{}:{}: {}", diag.getLineNo(), diag.getColumnNo(), diag.getMessage().str());
    log += msg + "\n";
    return report(CUDA_ERROR_INVALID_PTX, "cpu jit: bad kernel IR: " + msg);
  }
  return runStages(*m, info, stage, log);
}

Expected<std::string> dumpPtx(std::string_view ptx, DumpStage stage, std::string &log) {
#ifdef CUVIRT_HAVE_PTX_LOWER
  auto tm = hostTargetMachine();
  if (!tm.ok())
    return tm.status();
  ptx::TargetHooks hooks = jit::hostTargetHooks(**tm);
  llvm::LLVMContext context;
  auto lowered = ptx::lower(ptx, context, hooks, log);
  if (!lowered.ok())
    return lowered.status();
  ptx::Lowered l = lowered.take();
  auto out = runStages(*l.module, l.info, stage, log);
  l.module.reset();
  return out;
#else
  (void)ptx;
  (void)stage;
  log += "the PTX front end (cuvirt_ptx_llvm) is not built\n";
  return report(CUDA_ERROR_NOT_SUPPORTED, "cpu jit: built without the PTX front end");
#endif
}

} // namespace cuvirt::cpu::jit
