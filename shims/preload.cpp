// libdl interposition, active when libcuda.so.1 is LD_PRELOADed: a program or
// library that dlopens NVIDIA's driver by another name or by an absolute path
// (libcuda.so, /usr/lib/x86_64-linux-gnu/libcuda.so.1, ...) gets cuvirt's.
#include "shims/preload.h"
#include <cstring>
#include <dlfcn.h>
#include <string_view>

namespace cuvirt {
namespace {

/// "libcuda.so", "libcuda.so.1", "libcuda.so.580.65.06", with any directory.
bool namesNvidiaDriver(std::string_view file) {
  auto slash = file.rfind('/');
  std::string_view base = slash == std::string_view::npos ? file : file.substr(slash + 1);
  constexpr std::string_view kStem = "libcuda.so";
  return base.substr(0, kStem.size()) == kStem && (base.size() == kStem.size() || base[kStem.size()] == '.');
}

const char *selfPath() {
  static const char *path = [] {
    Dl_info info{};
    if (dladdr(reinterpret_cast<void *>(&namesNvidiaDriver), &info) == 0 || info.dli_fname == nullptr)
      return static_cast<const char *>(nullptr);
    return static_cast<const char *>(strdup(info.dli_fname));
  }();
  return path;
}

} // namespace

bool redirectsDriverName(const char *file) { return file != nullptr && namesNvidiaDriver(file); }

} // namespace cuvirt

extern "C" __attribute__((visibility("default"))) void *dlopen(const char *file, int mode) {
  if (cuvirt::redirectsDriverName(file)) {
    if (const char *self = cuvirt::selfPath())
      return cuvirt::realDlopen(self, mode);
  }
  return cuvirt::realDlopen(file, mode);
}
