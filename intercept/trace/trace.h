// cuvirt's trace layer: when CUVIRT_TRACE is set, every driver entry point is
// wrapped (the dispatch table's slots swapped), and the end of the chain is
// either cuvirt's runtime or, with CUVIRT_TRACE_NATIVE, NVIDIA's real driver.
// When tracing is off, nothing of this is in the call path.
#pragma once
#include "runtime/cuda_internal.h"
#include <string>

namespace cuvirt::trace {

struct Options {
  enum class Format { Text, JsonLines, Chrome };
  Format format = Format::Text;
  std::string output;        ///< "" = stderr
  std::string only, exclude; ///< comma-separated glob patterns of API names
  bool summary = true;       ///< print the summary at exit
  bool summaryOnly = false;  ///< print nothing but the summary
  std::string dumpImages;    ///< directory, "" = off
  std::string native;        ///< path of NVIDIA's driver, "auto", or "" for cuvirt's runtime
};

/// Options from the CUVIRT_TRACE_* environment variables (see docs/TRACE.md).
Options optionsFromEnvironment();

/// Puts the trace layer into the dispatch table. Returns false (with a
/// message on stderr) if the native driver cannot be loaded.
bool install(const Options &options);

/// Where NVIDIA's real libcuda.so.1 is, skipping cuvirt's own copies and the
/// toolkit's stub; "" if there is none.
std::string findNativeDriver();

} // namespace cuvirt::trace
