// Which backends provide this process's devices, in device order.
#include "runtime/backend.h"
#include "runtime/log.h"
#include <cstdlib>
#include <sstream>

namespace cuvirt {

// The remote backend lives in remote/client; a build without it gets this.
__attribute__((weak)) std::unique_ptr<Backend> makeRemoteBackend() {
  log().error("the remote backend is not part of this build");
  return nullptr;
}

std::vector<std::string> backendNames() {
  // CUVIRT_BACKEND=remote,cpu lists backends in device order; with only
  // CUVIRT_REMOTE set, the remote servers' devices are the devices.
  const char *env = std::getenv("CUVIRT_BACKEND");
  std::string spec = env != nullptr && *env != '\0' ? env : (std::getenv("CUVIRT_REMOTE") ? "remote" : "cpu");
  std::vector<std::string> names;
  std::stringstream in(spec);
  for (std::string name; std::getline(in, name, ',');)
    if (!name.empty())
      names.push_back(name);
  return names;
}

std::unique_ptr<Backend> makeBackend(const std::string &name) {
  if (name == "cpu")
    return makeCpuBackend();
  if (name == "remote")
    return makeRemoteBackend();
  log().error("unknown backend '{}' in CUVIRT_BACKEND (known: cpu, remote)", name);
  return nullptr;
}

} // namespace cuvirt
