// The C library's dlopen, for cuvirt's own loads (preload.cpp replaces the
// process's dlopen when cuvirt is preloaded; this one is never redirected).
#include "shims/preload.h"
#include <dlfcn.h>

namespace cuvirt {

void *realDlopen(const char *file, int mode) {
  using DlopenFn = void *(*)(const char *, int);
  static DlopenFn real = reinterpret_cast<DlopenFn>(dlsym(RTLD_NEXT, "dlopen"));
  return real != nullptr ? real(file, mode) : nullptr;
}

} // namespace cuvirt
