// Modules on the CPU device: PTX compiled by the JIT, lazily per kernel.
#include "runtime/log.h"
#include "translate/cpu/cpu_backend.h"
#include "translate/cpu/jit/cache.h"
#include <cstdlib>
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
    for (const auto &k : info_->kernels)
      if (k.name == name)
        shared = k.staticSharedBytes;
    std::lock_guard lock(mutex_);
    auto &slot = kernels_[name];
    if (!slot)
      slot = std::make_unique<CpuKernel>(*fn, shared);
    return slot.get();
  }

private:
  std::mutex mutex_; ///< kernels_
  const ModuleInfo *info_;
  std::unique_ptr<LazyModule> lazy_;
  std::unordered_map<std::string, std::unique_ptr<CpuKernel>> kernels_;
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
  return std::unique_ptr<BackendModule>(
      std::make_unique<CpuModule>(source.ptx, source.info, std::move(options)));
}

} // namespace cuvirt::cpu
