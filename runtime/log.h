// cuvirt's log: spdlog to stderr, "cuvirt: " prefixed, level from CUVIRT_LOG
// (trace, debug, info, warn [default], error, off).
#pragma once
#include <spdlog/spdlog.h>

namespace cuvirt {
spdlog::logger &log();
} // namespace cuvirt
