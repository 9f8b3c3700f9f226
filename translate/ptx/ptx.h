// The PTX front end's entry points used by the runtime. The parser, the
// checked IR and the LLVM lowering live beside this header.
#pragma once
#include "runtime/module_info.h"
#include "runtime/status.h"
#include <string>
#include <string_view>

namespace cuvirt::ptx {

/// Kernels, parameter layouts and module variables (with initialisers) of a
/// PTX module. Malformed PTX: CUDA_ERROR_INVALID_PTX, with
/// "line:column: message" lines appended to `log`.
Expected<ModuleInfo> moduleInfo(std::string_view text, std::string &log);

} // namespace cuvirt::ptx
