// Helpers for the API implementations (cuvirt::api::*).
#pragma once
#include "runtime/status.h"

namespace cuvirt {

/// CUDA_ERROR_NOT_SUPPORTED, with a one-time warning naming the function.
CUresult notSupported(const char *function);

/// True while a _ptds/_ptsz entry point runs: a NULL stream then means the
/// calling thread's per-thread default stream instead of the legacy one.
bool perThreadDefaultStream();

class PerThreadDefaultStreamScope {
public:
  PerThreadDefaultStreamScope();
  ~PerThreadDefaultStreamScope();
  PerThreadDefaultStreamScope(const PerThreadDefaultStreamScope &) = delete;
  PerThreadDefaultStreamScope &operator=(const PerThreadDefaultStreamScope &) = delete;

private:
  bool previous_;
};

} // namespace cuvirt
