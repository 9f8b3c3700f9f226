// Modules on the CPU device: PTX compiled by the JIT, lazily per kernel.
#include "runtime/log.h"
#include "translate/cpu/cpu_backend.h"
#include "translate/cpu/jit/cache.h"
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <unordered_map>

namespace cuvirt::cpu {
namespace {

class CpuModule : public BackendModule {
public:
  CpuModule(const std::string &ptx, const ModuleInfo *info, CompileOptions options) : info_(info) {
    if (!ptx.empty())
      lazy_ = lazyPtxModule(ptx, *info, std::move(options));
  }

  Expected<BackendKernel *> kernel(const std::string &name) override {
    {
      std::lock_guard lock(mutex_);
      if (auto it = kernels_.find(name); it != kernels_.end())
        return it->second.get();
    }
    if (!lazy_)
      return error(CUDA_ERROR_NO_BINARY_FOR_GPU,
                   "kernel {}: the image has no PTX, and the CPU device cannot run a cubin", name);
    // Compiles outside mutex_: another kernel of the module may compile at
    // the same time (the lazy module serialises each kernel's own compile).
    std::string log;
    auto fn = lazy_->kernel(name, log);
    if (!fn.ok()) {
      cuvirt::log().warn("JIT compilation of {} failed:\n{}", name, log);
      return fn.status();
    }
    std::uint32_t shared = 0;
    const KernelInfo *kernelInfo = nullptr;
    for (const auto &k : info_->kernels)
      if (k.name == name) {
        shared = k.staticSharedBytes;
        kernelInfo = &k;
      }
    std::lock_guard lock(mutex_);
    auto &slot = kernels_[name];
    if (!slot) {
      slot = std::make_unique<CpuKernel>(*fn, shared);
      slot->module = this;
      slot->moduleInfo = info_;
      slot->info = kernelInfo;
    }
    return slot.get();
  }

  /// Writes the addresses of the device functions (and kernels) that module
  /// variables are initialised with (`.global .u64 ops[2] = {f, g};`,
  /// vtables) into the variables, which the runtime allocated and left 0
  /// there. Done at load so the host (cudaMemcpyFromSymbol) sees them too.
  /// Modules without such variables compile nothing here.
  void fillFunctionAddresses(const ModuleSource &source) {
    if (!lazy_)
      return;
    std::unordered_map<std::string_view, std::uint64_t> vars;
    for (const auto &[name, address] : source.globals)
      vars.emplace(name, address);
    std::unordered_map<std::string, std::uint64_t> addresses;
    std::vector<std::string> targets;
    for (const auto &g : info_->globals)
      for (const auto &r : g.relocations) {
        if (vars.count(r.symbol) || addresses.count(r.symbol))
          continue;
        // A kernel's address is its NUL-terminated name, as `mov.u64 %rd,
        // kernel` gives it (the device runtime's launches resolve it).
        if (std::any_of(info_->kernels.begin(), info_->kernels.end(),
                        [&](const KernelInfo &k) { return k.name == r.symbol; })) {
          const std::string &name = kernelNames_.emplace_back(r.symbol);
          addresses[r.symbol] = reinterpret_cast<std::uint64_t>(name.c_str());
        } else {
          targets.push_back(r.symbol);
        }
      }
    if (!targets.empty()) {
      std::string log;
      auto fns = lazy_->functionAddresses(targets, log);
      if (fns.ok())
        addresses.merge(*fns);
      else // as before this existed: the slots stay 0 (a call through one faults)
        cuvirt::log().warn("function addresses in module variables left 0: {}\n{}", lastErrorMessage(), log);
    }
    for (const auto &g : info_->globals) {
      auto var = vars.find(g.name);
      if (var == vars.end())
        continue;
      for (const auto &r : g.relocations) {
        auto fn = addresses.find(r.symbol);
        if (fn == addresses.end() || r.offset + sizeof(std::uint64_t) > g.size) {
          if (!vars.count(r.symbol))
            cuvirt::log().debug("module variable {}: {} is not a device function here; left 0", g.name,
                                r.symbol);
          continue;
        }
        const std::uint64_t value = fn->second + std::uint64_t(r.addend);
        std::memcpy(reinterpret_cast<void *>(var->second + r.offset), &value, sizeof value);
      }
    }
  }

private:
  std::mutex mutex_; ///< kernels_
  const ModuleInfo *info_;
  std::unique_ptr<LazyModule> lazy_;
  std::unordered_map<std::string, std::unique_ptr<CpuKernel>> kernels_;
  std::deque<std::string> kernelNames_; ///< kernels' addresses in module variables
};

} // namespace

Expected<std::unique_ptr<BackendModule>> CpuDevice::loadModule(const ModuleSource &source, std::string &) {
  CompileOptions options;
  for (const auto &[name, address] : source.globals)
    options.globals.emplace(name, address);
  options.cacheDir = jit::defaultCacheDir();
  // Compilation waits for each kernel's first launch: cudart loads every
  // image of a program at start-up, and libraries (CUB, CuPy) hold hundreds
  // of kernels of which a program runs a few.
  auto module = std::make_unique<CpuModule>(source.ptx, source.info, std::move(options));
  module->fillFunctionAddresses(source);
  return std::unique_ptr<BackendModule>(std::move(module));
}

} // namespace cuvirt::cpu
