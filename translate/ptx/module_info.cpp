// Placeholder until the parser lands: reports every module as unsupported.
#include "translate/ptx/ptx.h"

namespace cuvirt::ptx {
Expected<ModuleInfo> moduleInfo(std::string_view, std::string &log) {
  log += "PTX front end not built yet\n";
  return error(CUDA_ERROR_INVALID_PTX, "PTX front end not built yet");
}
} // namespace cuvirt::ptx
