// PTX text -> ast.h. Reports the first error as "line:column: message" in
// `log` and CUDA_ERROR_INVALID_PTX; never throws.
#pragma once
#include "runtime/status.h"
#include "translate/ptx/ast.h"
#include <string>
#include <string_view>

namespace cuvirt::ptx {

Expected<Module> parse(std::string_view text, std::string &log);

/// Appends "line:col: message\n" to `log` and returns CUDA_ERROR_INVALID_PTX.
Status invalidPtx(std::string &log, SrcLoc loc, std::string_view message);

} // namespace cuvirt::ptx
