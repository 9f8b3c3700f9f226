// Modules and libraries: loading images, kernels, module variables.
#include "runtime/module.h"
#include "cuvirt_api.h"
#include "intercept/image/image.h"
#include "runtime/api_support.h"
#include "runtime/link.h"
#include "runtime/log.h"
#include "runtime/runtime.h"
#include "translate/ptx/ptx.h"
#include <cctype>
#include <cstring>

namespace cuvirt {
namespace {

int deviceArch(Device *d) {
  const auto &a = d->props().attributes;
  return a[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR] * 10 +
         a[CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR];
}

/// The best entry of a kind: the newest arch the device claims, else the
/// oldest newer one (the CPU can JIT any PTX, whatever it targets).
const image::Entry *pick(const image::Image &img, image::EntryKind kind, int arch) {
  const image::Entry *below = nullptr, *above = nullptr;
  for (const auto &e : img.entries) {
    if (e.kind != kind)
      continue;
    if (e.arch <= arch) {
      if (below == nullptr || e.arch > below->arch)
        below = &e;
    } else if (above == nullptr || e.arch < above->arch) {
      above = &e;
    }
  }
  return below != nullptr ? below : above;
}

Status initialiseGlobals(Module *m) {
  Device *d = m->device;
  for (const auto &g : m->info.globals) {
    if (g.isExtern)
      continue;
    auto address = allocateDevice(d, m->context, std::max<std::uint64_t>(g.size, 1), MemKind::Device);
    if (!address)
      return address.status();
    {
      auto *rt = *runtime();
      std::unique_lock lock(rt->allocationsMutex);
      rt->allocations[*address].global = true;
    }
    m->globals[g.name] = {*address, static_cast<std::size_t>(g.size)};
  }
  for (const auto &g : m->info.globals) {
    auto it = m->globals.find(g.name);
    if (it == m->globals.end())
      continue;
    std::vector<std::uint8_t> bytes(g.size, 0);
    std::memcpy(bytes.data(), g.init.data(), std::min<std::size_t>(g.init.size(), bytes.size()));
    for (const auto &r : g.relocations) {
      auto target = m->globals.find(r.symbol);
      if (target == m->globals.end()) {
        // A device function's address: the backend writes it when it loads
        // the module (the CPU device compiles such functions then).
        log().debug("module variable {}: address of {} is left to the backend", g.name, r.symbol);
        continue;
      }
      std::uint64_t value = target->second.address + r.addend;
      if (r.offset + sizeof value <= bytes.size())
        std::memcpy(bytes.data() + r.offset, &value, sizeof value);
    }
    CopyOp op;
    op.dst = it->second.address;
    op.src = reinterpret_cast<std::uint64_t>(bytes.data());
    op.srcHost = true;
    op.widthBytes = bytes.size();
    CUVIRT_TRY(d->backend->copyNow(op));
  }
  return {};
}

/// The sm_NN of a PTX module's .target directive (fallback if absent).
int ptxTarget(std::string_view ptx, int fallback) {
  auto at = ptx.find(".target");
  if (at == std::string_view::npos)
    return fallback;
  auto sm = ptx.find("sm_", at);
  if (sm == std::string_view::npos || sm > ptx.find('\n', at))
    return fallback;
  int value = 0;
  for (std::size_t i = sm + 3; i < ptx.size() && std::isdigit(static_cast<unsigned char>(ptx[i])); ++i)
    value = value * 10 + (ptx[i] - '0');
  return value != 0 ? value : fallback;
}

void freeGlobals(Module *m) {
  for (auto &[name, g] : m->globals)
    (void)freeDevice(g.address);
  m->globals.clear();
}

} // namespace

Expected<Module *> loadModule(Device *device, Context *owner, const image::Image &img, bool isLibrary,
                              std::string &log) {
  const int arch = deviceArch(device);
  const image::Entry *ptx = pick(img, image::EntryKind::Ptx, arch);
  const image::Entry *cubin = pick(img, image::EntryKind::Cubin, arch);
  image::Entry linked; // nvcc -rdc=true: the objects' PTX, linked here
  if (ptx == nullptr && !img.prelinked.empty()) {
    auto text = link::linkPrelinked(img.prelinked, arch, log);
    if (text) {
      linked.data = text.take();
      linked.arch = ptxTarget(linked.data, arch);
      ptx = &linked;
    } else {
      cuvirt::log().debug("device-linked image: its objects' PTX does not link: {}", lastErrorMessage());
    }
  }
  auto m = std::make_unique<Module>();
  m->context = owner;
  m->device = device;
  m->isLibrary = isLibrary;
  if (ptx != nullptr) {
    auto info = ptx::moduleInfo(ptx->data, log);
    if (!info)
      return info.status();
    m->info = info.take();
    m->ptx = ptx->data;
    m->codeArch = ptxTarget(ptx->data, arch);
  } else if (cubin != nullptr) {
    auto info =
        image::cubinInfo({reinterpret_cast<const std::uint8_t *>(cubin->data.data()), cubin->data.size()});
    if (!info)
      return info.status();
    m->info = info.take();
    m->codeArch = cubin->arch;
  } else {
    return error(CUDA_ERROR_NO_BINARY_FOR_GPU, "the image holds neither PTX nor a cubin");
  }
  if (cubin != nullptr)
    m->cubin = cubin->data;
  CUVIRT_TRY(initialiseGlobals(m.get()));
  ModuleSource source;
  source.ptx = m->ptx;
  source.cubin = m->cubin;
  source.info = &m->info;
  for (auto &[name, g] : m->globals)
    source.globals.emplace_back(name, g.address);
  auto backend = device->backend->loadModule(source, log);
  if (!backend) {
    freeGlobals(m.get());
    return backend.status();
  }
  m->backend = backend.take();
  auto *rt = *runtime();
  for (const auto &k : m->info.kernels) {
    auto f = std::make_unique<Function>();
    f->module = m.get();
    f->info = &k;
    f->maxDynamicSharedBytes = static_cast<int>(
        std::max<std::int64_t>(0, (std::int64_t(48) << 10) - static_cast<std::int64_t>(k.staticSharedBytes)));
    rt->functions.add(f.get());
    m->functions.emplace(k.name, std::move(f));
  }
  Module *raw = m.release();
  rt->modules.add(raw);
  if (owner != nullptr) {
    std::lock_guard lock(owner->mutex);
    owner->modules.insert(raw);
  }
  return raw;
}

namespace {
std::mutex g_instancesMutex;

Expected<Module *> instanceOn(Module *library, Device *device) {
  Module *root = library->root != nullptr ? library->root : library;
  if (root->device == device)
    return root;
  std::lock_guard lock(g_instancesMutex);
  if (auto it = root->instances.find(device); it != root->instances.end())
    return it->second;
  image::Image img;
  auto add = [&](image::EntryKind kind, const std::string &data) {
    image::Entry e;
    e.kind = kind;
    e.arch = root->codeArch;
    e.data = data;
    img.entries.push_back(std::move(e));
  };
  if (!root->ptx.empty())
    add(image::EntryKind::Ptx, root->ptx);
  if (!root->cubin.empty())
    add(image::EntryKind::Cubin, root->cubin);
  std::string log;
  auto m = loadModule(device, nullptr, img, true, log);
  if (!m)
    return m.status();
  (*m)->root = root;
  root->instances[device] = *m;
  return *m;
}
} // namespace

Expected<Function *> functionOnDevice(Function *f, Device *device) {
  if (f->module->device == device)
    return f;
  if (!f->module->isLibrary)
    return error(CUDA_ERROR_INVALID_HANDLE, "function {} was loaded in a context of another device",
                 f->info->name);
  auto m = instanceOn(f->module, device);
  if (!m)
    return m.status();
  auto it = (*m)->functions.find(f->info->name);
  if (it == (*m)->functions.end())
    return error(CUDA_ERROR_NOT_FOUND, "kernel {} is missing on device {}", f->info->name, device->ordinal);
  return it->second.get();
}

void destroyModule(Module *m) {
  auto *rt = *runtime();
  {
    std::map<Device *, Module *> instances;
    {
      std::lock_guard lock(g_instancesMutex);
      instances.swap(m->instances);
    }
    for (auto &[device, instance] : instances)
      destroyModule(instance);
  }
  rt->modules.remove(m);
  for (auto &[name, f] : m->functions)
    rt->functions.remove(f.get());
  if (m->context != nullptr) {
    (void)synchronizeContext(m->context);
    std::lock_guard lock(m->context->mutex);
    m->context->modules.erase(m);
  } else {
    // A library's kernels may be queued in any context on its device; its
    // code and variables must outlive them (numba unloads right after an
    // asynchronous launch).
    // Queues are drained directly: an unload is no capture-unsafe call.
    for (Context *c : rt->contexts.snapshot()) {
      if (c->device != m->device || !rt->contexts.contains(c))
        continue;
      std::vector<std::shared_ptr<Stream>> streams;
      {
        std::lock_guard lock(c->mutex);
        for (auto &[s, owner] : c->streams)
          streams.push_back(owner);
      }
      for (auto &s : streams)
        s->queue->synchronize();
    }
  }
  freeGlobals(m);
  delete m;
}

Expected<Function *> checkFunction(const void *handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  Function *f = (*rt)->functions.find(handle);
  if (f == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid function/kernel handle {}", handle);
  return f;
}

Expected<Module *> checkModule(const void *handle) {
  auto rt = runtime();
  if (!rt)
    return rt.status();
  Module *m = (*rt)->modules.find(handle);
  if (m == nullptr)
    return error(CUDA_ERROR_INVALID_HANDLE, "invalid module/library handle {}", handle);
  return m;
}

Expected<BackendKernel *> compiledKernel(Function *f) {
  if (BackendKernel *k = f->compiled.load(std::memory_order_acquire))
    return k;
  std::lock_guard lock(f->module->backendMutex);
  auto k = f->module->backend->kernel(f->info->name);
  if (!k)
    return k.status();
  f->compiled.store(*k, std::memory_order_release);
  return *k;
}

namespace {

/// Copies `log` into a caller's JIT log buffer option, NUL-terminated.
void writeLog(const std::string &log, unsigned n, CUjit_option *options, void **values,
              CUjit_option bufferOpt, CUjit_option sizeOpt) {
  char *buffer = nullptr;
  std::size_t size = 0;
  for (unsigned i = 0; i < n; ++i) {
    if (options[i] == bufferOpt)
      buffer = static_cast<char *>(values[i]);
    else if (options[i] == sizeOpt)
      size = reinterpret_cast<std::uintptr_t>(values[i]);
  }
  if (buffer == nullptr || size == 0)
    return;
  std::size_t count = std::min(log.size(), size - 1);
  std::memcpy(buffer, log.data(), count);
  buffer[count] = '\0';
  for (unsigned i = 0; i < n; ++i)
    if (options[i] == sizeOpt)
      values[i] = reinterpret_cast<void *>(static_cast<std::uintptr_t>(count));
}

Status moduleLoad(CUmodule *module, Expected<image::Image> img, unsigned n, CUjit_option *options,
                  void **values) {
  if (module == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto c = requireContext();
  if (!c)
    return c.status();
  if (!img)
    return img.status();
  std::string log;
  auto m = loadModule((*c)->device, *c, *img, false, log);
  if (options != nullptr && values != nullptr) {
    writeLog(m ? "" : log, n, options, values, CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
    writeLog(m ? log : "", n, options, values, CU_JIT_INFO_LOG_BUFFER, CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES);
  }
  if (!m) {
    if (!log.empty())
      cuvirt::log().warn("module load failed:\n{}", log);
    return m.status();
  }
  *module = reinterpret_cast<CUmodule>(*m);
  return {};
}

Status libraryLoad(CUlibrary *library, Expected<image::Image> img, unsigned n, CUjit_option *options,
                   void **values) {
  if (library == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto rt = runtime();
  if (!rt)
    return rt.status();
  if (!img)
    return img.status();
  // Libraries are context-independent: they live on the device until
  // unloaded (cudart loads them before any context exists).
  Context *c = currentContext();
  Device *device = c != nullptr ? c->device : (*rt)->devices.front().get();
  std::string log;
  auto m = loadModule(device, nullptr, *img, true, log);
  if (options != nullptr && values != nullptr)
    writeLog(m ? "" : log, n, options, values, CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES);
  if (!m) {
    if (!log.empty())
      cuvirt::log().warn("library load failed:\n{}", log);
    return m.status();
  }
  *library = reinterpret_cast<CUlibrary>(*m);
  return {};
}

Status getGlobal(CUdeviceptr *dptr, size_t *bytes, const void *handle, const char *name) {
  if (name == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = checkModule(handle);
  if (!m)
    return m.status();
  // A library's variables live on the device of the current context.
  if (Context *c = currentContext(); c != nullptr && (*m)->isLibrary) {
    m = instanceOn(*m, c->device);
    if (!m)
      return m.status();
  }
  auto it = (*m)->globals.find(std::string_view(name));
  if (it == (*m)->globals.end())
    return error(CUDA_ERROR_NOT_FOUND, "no module variable named {}", name);
  if (dptr != nullptr)
    *dptr = it->second.address;
  if (bytes != nullptr)
    *bytes = it->second.size;
  return {};
}

Status getFunction(Function **out, const void *handle, const char *name) {
  if (out == nullptr || name == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = checkModule(handle);
  if (!m)
    return m.status();
  auto it = (*m)->functions.find(std::string_view(name));
  if (it == (*m)->functions.end())
    return error(CUDA_ERROR_NOT_FOUND, "no kernel named {}", name);
  *out = it->second.get();
  return {};
}

Status paramInfo(const void *handle, size_t index, size_t *offset, size_t *size) {
  auto f = checkFunction(handle);
  if (!f)
    return f.status();
  const auto &params = (*f)->info->params;
  if (index >= params.size())
    return error(CUDA_ERROR_INVALID_VALUE, "kernel {} has {} parameters, not {}", (*f)->info->name,
                 params.size(), index + 1);
  if (offset != nullptr)
    *offset = params[index].offset;
  if (size != nullptr)
    *size = params[index].size;
  return {};
}

} // namespace

Status functionAttribute(int *pi, CUfunction_attribute attrib, Function *f) {
  const KernelInfo &k = *f->info;
  const auto &a = f->module->device->props().attributes;
  switch (attrib) {
  case CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK:
    *pi = k.maxThreadsPerBlock ? static_cast<int>(k.maxThreadsPerBlock)
                               : a[CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK];
    return {};
  case CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES:
    *pi = static_cast<int>(k.staticSharedBytes);
    return {};
  case CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES: {
    // The module's user .const bank, as a GPU reports it for each kernel.
    std::uint64_t bytes = 0;
    for (const auto &g : f->module->info.globals)
      if (g.space == GlobalInfo::Space::Const && !g.isExtern)
        bytes += g.size;
    *pi = static_cast<int>(std::min<std::uint64_t>(bytes, INT32_MAX));
    return {};
  }
  case CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES:
    *pi = static_cast<int>(k.localBytes);
    return {};
  case CU_FUNC_ATTRIBUTE_NUM_REGS:
    *pi = k.numRegs ? static_cast<int>(k.numRegs) : 32;
    return {};
  case CU_FUNC_ATTRIBUTE_PTX_VERSION:
    *pi = f->module->codeArch;
    return {};
  case CU_FUNC_ATTRIBUTE_BINARY_VERSION:
    // PTX is compiled for the device, as a GPU driver's JIT does.
    *pi = f->module->ptx.empty() ? f->module->codeArch : deviceArch(f->module->device);
    return {};
  case CU_FUNC_ATTRIBUTE_CACHE_MODE_CA:
    *pi = 0;
    return {};
  case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
    *pi = f->maxDynamicSharedBytes;
    return {};
  case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
    *pi = f->preferredCarveout;
    return {};
  case CU_FUNC_ATTRIBUTE_CLUSTER_SIZE_MUST_BE_SET:
  case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
  case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    *pi = 0;
    return {};
  case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    *pi = f->clusterWidth;
    return {};
  case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    *pi = f->clusterHeight;
    return {};
  case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    *pi = f->clusterDepth;
    return {};
  default:
    return error(CUDA_ERROR_INVALID_VALUE, "unknown function attribute {}", static_cast<int>(attrib));
  }
}

Status setFunctionAttribute(Function *f, CUfunction_attribute attrib, int value) {
  const auto &a = f->module->device->props().attributes;
  switch (attrib) {
  case CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES:
    if (value < 0 || value + static_cast<std::int64_t>(f->info->staticSharedBytes) >
                         a[CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN])
      return error(CUDA_ERROR_INVALID_VALUE, "dynamic shared memory of {} bytes exceeds the device's limit",
                   value);
    f->maxDynamicSharedBytes = value;
    return {};
  case CU_FUNC_ATTRIBUTE_PREFERRED_SHARED_MEMORY_CARVEOUT:
    if (value < -1 || value > 100)
      return CUDA_ERROR_INVALID_VALUE;
    f->preferredCarveout = value;
    return {};
  case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_WIDTH:
    f->clusterWidth = value;
    return {};
  case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_HEIGHT:
    f->clusterHeight = value;
    return {};
  case CU_FUNC_ATTRIBUTE_REQUIRED_CLUSTER_DEPTH:
    f->clusterDepth = value;
    return {};
  case CU_FUNC_ATTRIBUTE_NON_PORTABLE_CLUSTER_SIZE_ALLOWED:
  case CU_FUNC_ATTRIBUTE_CLUSTER_SCHEDULING_POLICY_PREFERENCE:
    return {};
  default:
    return error(CUDA_ERROR_INVALID_VALUE, "function attribute {} cannot be set", static_cast<int>(attrib));
  }
}

namespace api {

CUresult cuModuleLoadData(CUmodule *module, const void *image) {
  return moduleLoad(module, image::parseFromMemory(image), 0, nullptr, nullptr);
}

CUresult cuModuleLoadDataEx(CUmodule *module, const void *image, unsigned int numOptions,
                            CUjit_option *options, void **optionValues) {
  return moduleLoad(module, image::parseFromMemory(image), numOptions, options, optionValues);
}

CUresult cuModuleLoadFatBinary(CUmodule *module, const void *fatCubin) {
  return moduleLoad(module, image::parseFromMemory(fatCubin), 0, nullptr, nullptr);
}

CUresult cuModuleLoad(CUmodule *module, const char *fname) {
  if (fname == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return moduleLoad(module, image::parseFile(fname), 0, nullptr, nullptr);
}

CUresult cuModuleUnload(CUmodule hmod) {
  auto m = checkModule(hmod);
  if (!m)
    return m.status();
  destroyModule(*m);
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name) {
  return getFunction(reinterpret_cast<Function **>(hfunc), hmod, name);
}

CUresult cuModuleGetGlobal_v2(CUdeviceptr *dptr, size_t *bytes, CUmodule hmod, const char *name) {
  return getGlobal(dptr, bytes, hmod, name);
}

CUresult cuModuleGetFunctionCount(unsigned int *count, CUmodule mod) {
  if (count == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = checkModule(mod);
  if (!m)
    return m.status();
  *count = static_cast<unsigned>((*m)->functions.size());
  return CUDA_SUCCESS;
}

CUresult cuModuleEnumerateFunctions(CUfunction *functions, unsigned int numFunctions, CUmodule mod) {
  if (functions == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = checkModule(mod);
  if (!m)
    return m.status();
  unsigned i = 0;
  for (auto &[name, f] : (*m)->functions) {
    if (i == numFunctions)
      break;
    functions[i++] = reinterpret_cast<CUfunction>(f.get());
  }
  return CUDA_SUCCESS;
}

CUresult cuLibraryLoadData(CUlibrary *library, const void *code, CUjit_option *jitOptions,
                           void **jitOptionsValues, unsigned int numJitOptions, CUlibraryOption *, void **,
                           unsigned int) {
  return libraryLoad(library, image::parseFromMemory(code), numJitOptions, jitOptions, jitOptionsValues);
}

CUresult cuLibraryLoadFromFile(CUlibrary *library, const char *fileName, CUjit_option *jitOptions,
                               void **jitOptionsValues, unsigned int numJitOptions, CUlibraryOption *,
                               void **, unsigned int) {
  if (fileName == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  return libraryLoad(library, image::parseFile(fileName), numJitOptions, jitOptions, jitOptionsValues);
}

CUresult cuLibraryUnload(CUlibrary library) {
  auto m = checkModule(library);
  if (!m)
    return m.status();
  destroyModule(*m);
  return CUDA_SUCCESS;
}

CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name) {
  return getFunction(reinterpret_cast<Function **>(pKernel), library, name);
}

CUresult cuLibraryGetModule(CUmodule *pMod, CUlibrary library) {
  if (pMod == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = checkModule(library);
  if (!m)
    return m.status();
  *pMod = reinterpret_cast<CUmodule>(*m);
  return CUDA_SUCCESS;
}

CUresult cuLibraryGetGlobal(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
  return getGlobal(dptr, bytes, library, name);
}

CUresult cuLibraryGetManaged(CUdeviceptr *dptr, size_t *bytes, CUlibrary library, const char *name) {
  return getGlobal(dptr, bytes, library, name);
}

CUresult cuLibraryGetKernelCount(unsigned int *count, CUlibrary lib) {
  return api::cuModuleGetFunctionCount(count, reinterpret_cast<CUmodule>(lib));
}

CUresult cuLibraryEnumerateKernels(CUkernel *kernels, unsigned int numKernels, CUlibrary lib) {
  return api::cuModuleEnumerateFunctions(reinterpret_cast<CUfunction *>(kernels), numKernels,
                                         reinterpret_cast<CUmodule>(lib));
}

CUresult cuLibraryGetUnifiedFunction(void **fptr, CUlibrary library, const char *symbol) {
  if (fptr == nullptr || symbol == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto m = checkModule(library);
  if (!m)
    return m.status();
  return error(CUDA_ERROR_NOT_FOUND, "no unified function named {}", symbol);
}

CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel) {
  if (pFunc == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(kernel);
  if (!f)
    return f.status();
  *pFunc = reinterpret_cast<CUfunction>(*f); // kernels and functions are one object here
  return CUDA_SUCCESS;
}

CUresult cuKernelGetLibrary(CUlibrary *pLib, CUkernel kernel) {
  if (pLib == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(kernel);
  if (!f)
    return f.status();
  *pLib = reinterpret_cast<CUlibrary>((*f)->module);
  return CUDA_SUCCESS;
}

CUresult cuFuncGetModule(CUmodule *hmod, CUfunction hfunc) {
  if (hmod == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  *hmod = reinterpret_cast<CUmodule>((*f)->module);
  return CUDA_SUCCESS;
}

CUresult cuFuncGetName(const char **name, CUfunction hfunc) {
  if (name == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  *name = (*f)->info->name.c_str();
  return CUDA_SUCCESS;
}

CUresult cuKernelGetName(const char **name, CUkernel hfunc) {
  return api::cuFuncGetName(name, reinterpret_cast<CUfunction>(hfunc));
}

CUresult cuFuncGetParamInfo(CUfunction func, size_t paramIndex, size_t *paramOffset, size_t *paramSize) {
  return paramInfo(func, paramIndex, paramOffset, paramSize);
}

CUresult cuKernelGetParamInfo(CUkernel kernel, size_t paramIndex, size_t *paramOffset, size_t *paramSize) {
  return paramInfo(kernel, paramIndex, paramOffset, paramSize);
}

CUresult cuFuncGetAttribute(int *pi, CUfunction_attribute attrib, CUfunction hfunc) {
  if (pi == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  return functionAttribute(pi, attrib, *f);
}

CUresult cuKernelGetAttribute(int *pi, CUfunction_attribute attrib, CUkernel kernel, CUdevice dev) {
  if (pi == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  if (auto d = deviceByOrdinal(dev); !d)
    return d.status();
  auto f = checkFunction(kernel);
  if (!f)
    return f.status();
  return functionAttribute(pi, attrib, *f);
}

CUresult cuFuncSetAttribute(CUfunction hfunc, CUfunction_attribute attrib, int value) {
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  return setFunctionAttribute(*f, attrib, value);
}

CUresult cuKernelSetAttribute(CUfunction_attribute attrib, int val, CUkernel kernel, CUdevice dev) {
  if (auto d = deviceByOrdinal(dev); !d)
    return d.status();
  auto f = checkFunction(kernel);
  if (!f)
    return f.status();
  return setFunctionAttribute(*f, attrib, val);
}

CUresult cuFuncSetCacheConfig(CUfunction hfunc, CUfunc_cache config) {
  auto f = checkFunction(hfunc);
  if (!f)
    return f.status();
  (*f)->cacheConfig = config;
  return CUDA_SUCCESS;
}

CUresult cuKernelSetCacheConfig(CUkernel kernel, CUfunc_cache config, CUdevice dev) {
  if (auto d = deviceByOrdinal(dev); !d)
    return d.status();
  return api::cuFuncSetCacheConfig(reinterpret_cast<CUfunction>(kernel), config);
}

CUresult cuFuncSetSharedMemConfig(CUfunction hfunc, CUsharedconfig) {
  auto f = checkFunction(hfunc);
  return f ? CUDA_SUCCESS : f.status().code();
}

CUresult cuFuncIsLoaded(CUfunctionLoadingState *state, CUfunction function) {
  if (state == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  auto f = checkFunction(function);
  if (!f)
    return f.status();
  *state = (*f)->compiled.load() ? CU_FUNCTION_LOADING_STATE_LOADED : CU_FUNCTION_LOADING_STATE_UNLOADED;
  return CUDA_SUCCESS;
}

CUresult cuFuncLoad(CUfunction function) {
  auto f = checkFunction(function);
  if (!f)
    return f.status();
  auto k = compiledKernel(*f);
  return k ? CUDA_SUCCESS : k.status().code();
}

} // namespace api
} // namespace cuvirt
