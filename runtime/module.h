// Module loading, shared by the driver API and cudart's hidden interface.
#pragma once
#include "intercept/image/image.h"
#include "runtime/runtime.h"

namespace cuvirt {

/// Loads an image onto `device`. `owner` is the context that frees it
/// (null for libraries, which are context-independent).
Expected<Module *> loadModule(Device *device, Context *owner, const image::Image &img, bool isLibrary,
                              std::string &log);
Expected<Module *> checkModule(const void *handle);
/// The backend's compiled kernel, compiling the module on first use.
Expected<BackendKernel *> compiledKernel(Function *f);
Status functionAttribute(int *pi, CUfunction_attribute attrib, Function *f);
Status setFunctionAttribute(Function *f, CUfunction_attribute attrib, int value);

} // namespace cuvirt
