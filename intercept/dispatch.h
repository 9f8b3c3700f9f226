// The dispatch table: one slot per exported entry point.
//
// The exported symbols and cuGetProcAddress both read it, so a layer (the
// tracer) is put in the chain by swapping slots at start-up and is not in the
// call path at all when off (the Level Zero loader's scheme).
#pragma once
#include "cuvirt_api.h"

namespace cuvirt {

using AnyFn = void (*)();

extern AnyFn g_dispatch[kApiCount];
/// The implementations themselves (the end of the chain), for layers to call.
extern const AnyFn kApiImpls[kApiCount];
extern const char *const kApiNames[kApiCount];

template <ApiId Id> inline typename ApiTraits<Id>::Fn dispatch() {
  return reinterpret_cast<typename ApiTraits<Id>::Fn>(g_dispatch[static_cast<unsigned>(Id)]);
}

} // namespace cuvirt
