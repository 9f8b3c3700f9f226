// Finding cuvirt's libcuda.so.1 from a tool's own location.
#pragma once
#include <string>

namespace cuvirt::tools {
/// $CUVIRT_DRIVER, else the build tree's shims/libcuda.so.1 or an installed
/// lib/cuvirt/libcuda.so.1 relative to the running executable. "" if none.
std::string findDriver(const char *argv0);
} // namespace cuvirt::tools
