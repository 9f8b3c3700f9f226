// libFuzzer target for the PTX front end: moduleInfo() and lower() (with
// llvm::verifyModule inside) on arbitrary text. Built and run by
// run_ptx_fuzz.sh; not part of the default build (needs clang).
#include "runtime/log.h"
#include "translate/ptx/lower.h"
#include "translate/ptx/ptx.h"
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  static const bool quiet = [] {
    cuvirt::log().set_level(spdlog::level::off);
    return true;
  }();
  (void)quiet;
  std::string_view text(reinterpret_cast<const char *>(data), size);
  std::string log;
  auto info = cuvirt::ptx::moduleInfo(text, log);
  llvm::LLVMContext ctx;
  cuvirt::ptx::TargetHooks hooks;
  std::string log2;
  auto lowered = cuvirt::ptx::lower(text, ctx, hooks, log2);
  // both entry points agree on what is well-formed, and errors always say where
  if (lowered.ok() && !info.ok())
    __builtin_trap();
  if ((!info.ok() && log.empty()) || (!lowered.ok() && log2.empty()))
    __builtin_trap();
  return 0;
}
