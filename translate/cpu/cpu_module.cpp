// Modules on the CPU device: PTX compiled by the JIT, lazily per module.
#include "runtime/log.h"
#include "translate/cpu/cpu_backend.h"
#include "translate/cpu/jit/cache.h"
#include <cstdlib>
#include <unordered_map>

namespace cuvirt::cpu {
namespace {

class CpuModule : public BackendModule {
public:
  CpuModule(std::string ptx, const ModuleInfo *info, CompileOptions options)
      : ptx_(std::move(ptx)), info_(info), options_(std::move(options)) {}

  Expected<BackendKernel *> kernel(const std::string &name) override {
    std::lock_guard lock(mutex_);
    if (auto it = kernels_.find(name); it != kernels_.end())
      return it->second.get();
    if (ptx_.empty())
      return error(CUDA_ERROR_NO_BINARY_FOR_GPU,
                   "kernel {}: the image has no PTX, and the CPU device cannot run a cubin", name);
    if (!compiled_) {
      std::string log;
      auto compiled = compilePtx(ptx_, options_, log);
      if (!compiled.ok()) {
        cuvirt::log().warn("JIT compilation failed:\n{}", log);
        return compiled.status();
      }
      compiled_ = compiled.take();
    }
    BlockFn fn = compiled_->kernel(name);
    if (fn == nullptr)
      return error(CUDA_ERROR_NOT_FOUND, "kernel {} is not in the compiled module", name);
    std::uint32_t shared = 0;
    for (const auto &k : info_->kernels)
      if (k.name == name)
        shared = k.staticSharedBytes;
    auto &slot = kernels_[name];
    slot = std::make_unique<CpuKernel>(fn, shared);
    return slot.get();
  }

private:
  std::mutex mutex_;
  std::string ptx_;
  const ModuleInfo *info_;
  CompileOptions options_;
  std::unique_ptr<CompiledModule> compiled_;
  std::unordered_map<std::string, std::unique_ptr<CpuKernel>> kernels_;
};

} // namespace

Expected<std::unique_ptr<BackendModule>> CpuDevice::loadModule(const ModuleSource &source, std::string &) {
  CompileOptions options;
  for (const auto &[name, address] : source.globals)
    options.globals.emplace(name, address);
  options.cacheDir = jit::defaultCacheDir();
  // Compilation waits for the first launch: cudart loads every image of a
  // program at start-up, most of which may never run.
  return std::unique_ptr<BackendModule>(
      std::make_unique<CpuModule>(source.ptx, source.info, std::move(options)));
}

} // namespace cuvirt::cpu
