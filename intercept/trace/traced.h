// The trace layer's wrappers (instantiated by the generated api_trace.cpp).
// Each times the next layer's call and records it, arguments decoded.
#pragma once
#include "cuvirt_api.h"
#include "intercept/dispatch.h"
#include "intercept/trace/record.h"
#include <tuple>

namespace cuvirt::trace {

/// The next layer of each site: site i < kApiCount is exported symbol i,
/// site kApiCount + j is cuGetProcAddress entry j.
extern AnyFn g_next[];

/// Decodes what needs more than the argument types (kernel names, bytes
/// copied, images) and writes the record out.
void emit(Record &rec, ApiId id, const void *const *argv);

Record &threadRecord();

template <ApiId Id, class Fn> struct Wrap;
template <ApiId Id, class... A> struct Wrap<Id, CUresult (*)(A...)> {
  template <unsigned Site> static CUresult call(A... args) {
    auto next = reinterpret_cast<CUresult (*)(A...)>(g_next[Site]);
    const Clock::time_point start = Clock::now();
    const CUresult r = next(args...);
    Record &rec = threadRecord();
    rec.clear();
    rec.end = Clock::now();
    rec.start = start;
    rec.site = Site;
    rec.result = r;
    [[maybe_unused]] const bool ok = r == CUDA_SUCCESS;
    [[maybe_unused]] std::size_t i = 0;
    ((rec.args.emplace_back(ApiTraits<Id>::args[i++], showArg(args, ok))), ...);
    const void *argv[sizeof...(A) + 1] = {reinterpret_cast<const void *>(&args)..., nullptr};
    emit(rec, Id, argv);
    return r;
  }
};

template <ApiId Id> AnyFn symbolWrapper() {
  return reinterpret_cast<AnyFn>(
      &Wrap<Id, typename ApiTraits<Id>::Fn>::template call<static_cast<unsigned>(Id)>);
}

template <unsigned I, ApiId Id> AnyFn procWrapper() {
  return reinterpret_cast<AnyFn>(&Wrap<Id, typename ApiTraits<Id>::Fn>::template call<kApiCount + I>);
}

extern const AnyFn kTraceWrappers[kApiCount];
extern const AnyFn kTraceProcWrappers[];

} // namespace cuvirt::trace
