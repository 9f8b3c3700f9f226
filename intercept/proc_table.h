// cuGetProcAddress's table: (name, requested version, per-thread flag) ->
// entry point, generated from the toolkit's cudaTypedefs.h (proc_table.cpp).
#pragma once
#include "cuvirt_api.h"
#include <cstddef>
#include <optional>
#include <string_view>

namespace cuvirt {

struct ProcEntry {
  const char *name; ///< the name as requested ("cuMemAlloc")
  int version;      ///< the CUDA version that introduced this ABI
  int perThread;    ///< 1 for the _ptds/_ptsz (per-thread default stream) ABI
  ApiId id;         ///< the exported symbol that implements it
};

extern const ProcEntry kProcTable[];
extern const std::size_t kProcTableSize;

enum class ProcLookup { Found, NotFound, VersionTooLow };

struct ProcResult {
  ProcLookup status;
  ApiId id;
};

/// Resolves a lookup the way NVIDIA's driver does: the newest ABI of `name`
/// not newer than `version`; the per-thread-default-stream variant if asked
/// for and one exists.
ProcResult lookupProc(std::string_view name, int version, bool perThread);

} // namespace cuvirt
