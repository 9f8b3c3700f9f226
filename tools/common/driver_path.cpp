#include "tools/common/driver_path.h"
#include <climits>
#include <cstdlib>
#include <unistd.h>

namespace cuvirt::tools {

std::string findDriver(const char *) {
  if (const char *env = std::getenv("CUVIRT_DRIVER"))
    return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0)
    return "";
  self[n] = '\0';
  std::string dir(self);
  dir = dir.substr(0, dir.rfind('/'));
  // build/tools/<tool>/ → build/shims; prefix/bin → prefix/lib/cuvirt.
  for (const char *rel : {"/../../shims/libcuda.so.1", "/../shims/libcuda.so.1",
                          "/../lib/cuvirt/libcuda.so.1", "/../lib/x86_64-linux-gnu/cuvirt/libcuda.so.1"}) {
    std::string candidate = dir + rel;
    char resolved[PATH_MAX];
    if (realpath(candidate.c_str(), resolved) != nullptr && access(resolved, R_OK) == 0)
      return resolved;
  }
  return "";
}

} // namespace cuvirt::tools
