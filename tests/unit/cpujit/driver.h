// A small launcher for block functions: runs every block of a grid on the
// calling thread, as the backend does on one worker.
#pragma once
#include "runtime/module_info.h"
#include "translate/cpu/jit.h"
#include "translate/cpu/kernel_abi.h"
#include <csetjmp>
#include <cstdint>
#include <string>
#include <vector>

namespace cpujit_test {

struct Dim {
  std::uint32_t x = 1, y = 1, z = 1;
};

/// Set when a kernel called cuvirt_cpu_trap / cuvirt_cpu_assertfail.
extern thread_local int trapped;
extern thread_local std::string assertMessage;

/// Runs a grid; returns false when the kernel trapped or asserted.
bool launch(cuvirt::cpu::BlockFn fn, Dim grid, Dim block, std::vector<void *> params,
            std::uint32_t staticShared = 0, std::uint32_t dynShared = 0);

/// Kernel IR preamble: declarations of the cuvirt.* calls and the kernel attribute #0.
extern const char *const kDecls;

/// A ModuleInfo naming one kernel with its static shared bytes.
cuvirt::ModuleInfo infoFor(const std::string &kernel, std::uint32_t staticShared = 0);

} // namespace cpujit_test
