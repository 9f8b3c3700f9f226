#include "runtime/api_support.h"
#include "runtime/log.h"
#include <mutex>
#include <set>
#include <string>

namespace cuvirt {

CUresult notSupported(const char *function) {
  // Never destroyed: calls may come from atexit handlers.
  static auto *mutex = new std::mutex;
  static auto *warned = new std::set<std::string>;
  {
    std::lock_guard lock(*mutex);
    if (warned->insert(function).second)
      log().warn("{} is not supported by cuvirt yet (returning CUDA_ERROR_NOT_SUPPORTED)", function);
  }
  return CUDA_ERROR_NOT_SUPPORTED;
}

namespace {
thread_local bool t_perThread = false;
} // namespace

bool perThreadDefaultStream() { return t_perThread; }

PerThreadDefaultStreamScope::PerThreadDefaultStreamScope() : previous_(t_perThread) { t_perThread = true; }
PerThreadDefaultStreamScope::~PerThreadDefaultStreamScope() { t_perThread = previous_; }

} // namespace cuvirt
