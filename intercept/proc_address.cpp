// cuGetProcAddress: how cudart finds every driver entry point.
#include "intercept/dispatch.h"
#include "intercept/proc_table.h"
#include "runtime/api_support.h"
#include "runtime/log.h"
#include <algorithm>
#include <cstring>

namespace cuvirt {

bool procIndex(std::string_view name, int version, bool perThread, std::size_t *index) {
  ProcResult r = lookupProc(name, version, perThread);
  if (r.status != ProcLookup::Found)
    return false;
  *index = r.index;
  return true;
}

ProcResult lookupProc(std::string_view name, int version, bool perThread) {
  const ProcEntry *begin = kProcTable, *end = kProcTable + kProcTableSize;
  // The table is sorted by (name, perThread, version).
  auto lo =
      std::lower_bound(begin, end, name, [](const ProcEntry &e, std::string_view n) { return e.name < n; });
  auto hi =
      std::upper_bound(lo, end, name, [](std::string_view n, const ProcEntry &e) { return n < e.name; });
  if (lo == hi)
    return {ProcLookup::NotFound, ApiId(0)};
  auto newest = [&](int pt) -> const ProcEntry * {
    const ProcEntry *best = nullptr;
    for (auto *e = lo; e != hi; ++e)
      if (e->perThread == pt && e->version <= version)
        best = e;
    return best;
  };
  const ProcEntry *e = perThread ? newest(1) : nullptr;
  if (e == nullptr)
    e = newest(0);
  if (e == nullptr)
    return {ProcLookup::VersionTooLow, ApiId(0)};
  return {ProcLookup::Found, e->id, static_cast<std::size_t>(e - begin)};
}

namespace {
CUresult getProcAddress(const char *symbol, void **pfn, int version, cuuint64_t flags,
                        CUdriverProcAddressQueryResult *status) {
  if (status != nullptr)
    *status = CU_GET_PROC_ADDRESS_SYMBOL_NOT_FOUND;
  if (symbol == nullptr || pfn == nullptr)
    return CUDA_ERROR_INVALID_VALUE;
  *pfn = nullptr;
  const bool perThread = (flags & CU_GET_PROC_ADDRESS_PER_THREAD_DEFAULT_STREAM) != 0;
  ProcResult r = lookupProc(symbol, version, perThread);
  log().trace("cuGetProcAddress({}, {}, {}) -> {}", symbol, version, flags,
              r.status == ProcLookup::Found ? kApiNames[static_cast<unsigned>(r.id)] : "not found");
  if (r.status == ProcLookup::NotFound) {
    // A name the toolkit's typedefs do not list: an exported symbol of that
    // exact name still resolves.
    for (unsigned i = 0; i < kApiCount; ++i)
      if (std::strcmp(kApiNames[i], symbol) == 0) {
        r = {ProcLookup::Found, ApiId(i)};
        break;
      }
  }
  if (r.status == ProcLookup::VersionTooLow) {
    if (status != nullptr)
      *status = CU_GET_PROC_ADDRESS_VERSION_NOT_SUFFICIENT;
    return CUDA_ERROR_NOT_FOUND;
  }
  if (r.status == ProcLookup::NotFound)
    return CUDA_ERROR_NOT_FOUND;
  *pfn = reinterpret_cast<void *>(g_dispatch[static_cast<unsigned>(r.id)]);
  if (status != nullptr)
    *status = CU_GET_PROC_ADDRESS_SUCCESS;
  return CUDA_SUCCESS;
}
} // namespace

namespace api {
CUresult cuGetProcAddress_v2(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags,
                             CUdriverProcAddressQueryResult *symbolStatus) {
  return getProcAddress(symbol, pfn, cudaVersion, flags, symbolStatus);
}
CUresult cuGetProcAddress(const char *symbol, void **pfn, int cudaVersion, cuuint64_t flags) {
  return getProcAddress(symbol, pfn, cudaVersion, flags, nullptr);
}
} // namespace api

} // namespace cuvirt
