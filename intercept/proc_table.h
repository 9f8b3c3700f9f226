// cuGetProcAddress's table: (name, requested version, per-thread flag) ->
// entry point, generated from the toolkit's cudaTypedefs.h (proc_table.cpp).
#pragma once
#include "cuvirt_api.h"
#include <cstddef>
#include <optional>
#include <string_view>
#include <type_traits>

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
  std::size_t index = 0; ///< the entry's position in kProcTable, when Found
};

/// The first of Ids whose function type is exactly Pfn (the toolkit's
/// typedef for that name and version), chosen by the compiler.
template <class Pfn, ApiId... Ids> constexpr ApiId pick() {
  constexpr bool ok[] = {std::is_same_v<Pfn, typename ApiTraits<Ids>::Fn>...};
  constexpr ApiId ids[] = {Ids...};
  for (std::size_t i = 0; i < sizeof...(Ids); ++i)
    if (ok[i])
      return ids[i];
  return ApiId(~0u);
}
template <ApiId Id> constexpr ApiId matched() {
  static_assert(Id != ApiId(~0u), "a PFN typedef matches no exported symbol");
  return Id;
}

/// Resolves a lookup the way NVIDIA's driver does: the newest ABI of `name`
/// not newer than `version`; the per-thread-default-stream variant if asked
/// for and one exists.
ProcResult lookupProc(std::string_view name, int version, bool perThread);
/// The same, as the index of the entry in kProcTable.
bool procIndex(std::string_view name, int version, bool perThread, std::size_t *index);

} // namespace cuvirt
