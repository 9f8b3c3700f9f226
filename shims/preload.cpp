// libdl interposition, active when libcuda.so.1 is LD_PRELOADed: a program or
// library that dlopens NVIDIA's driver by another name or by an absolute path
// (libcuda.so, /usr/lib/x86_64-linux-gnu/libcuda.so.1, ...) gets cuvirt's.
#include "shims/preload.h"
#include <climits>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <string>
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

namespace {
// The preload is there to catch this program's dlopen of NVIDIA's driver by
// path; it must not follow into programs this one starts: loading cuvirt
// loads LLVM, whose start-up code breaks programs with their own allocator
// (nvcc's cicc, run by CuPy and others). Children that use CUDA still find
// cuvirt by name through LD_LIBRARY_PATH. CUVIRT_KEEP_PRELOAD=1 keeps it.
__attribute__((constructor)) void forgetPreload() {
  const char *list = std::getenv("LD_PRELOAD");
  const char *self = cuvirt::selfPath();
  const char *keep = std::getenv("CUVIRT_KEEP_PRELOAD");
  if (list == nullptr || self == nullptr || (keep != nullptr && *keep == '1'))
    return;
  char selfReal[PATH_MAX];
  if (realpath(self, selfReal) == nullptr)
    return;
  std::string kept;
  bool dropped = false;
  std::string_view rest(list);
  while (!rest.empty()) {
    const auto end = rest.find_first_of(" :");
    const std::string entry(rest.substr(0, end));
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (entry.empty())
      continue;
    char real[PATH_MAX];
    if (realpath(entry.c_str(), real) != nullptr && std::strcmp(real, selfReal) == 0) {
      dropped = true;
      continue;
    }
    kept += (kept.empty() ? "" : " ") + entry;
  }
  if (!dropped)
    return;
  if (kept.empty())
    unsetenv("LD_PRELOAD");
  else
    setenv("LD_PRELOAD", kept.c_str(), 1);
}
} // namespace
