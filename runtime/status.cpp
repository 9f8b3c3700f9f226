#include "runtime/status.h"
#include "runtime/log.h"
#include <cstdlib>
#include <spdlog/sinks/stdout_sinks.h>

namespace cuvirt {

spdlog::logger &log() {
  static spdlog::logger *logger = [] {
    auto *l = new spdlog::logger("cuvirt", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    l->set_pattern("cuvirt: %v");
    const char *env = std::getenv("CUVIRT_LOG");
    l->set_level(env ? spdlog::level::from_str(env) : spdlog::level::warn);
    l->flush_on(spdlog::level::trace);
    return l; // never destroyed: logging stays valid during exit-time teardown
  }();
  return *logger;
}

namespace {
// Errors may be reported from exit handlers after this thread's storage is
// gone: the trivially destructible flag says so, and the message is dropped.
thread_local bool t_messageGone = false;
struct LastMessage {
  std::string text;
  ~LastMessage() { t_messageGone = true; }
};
thread_local LastMessage t_lastMessage;

bool isBadInput(CUresult code) {
  switch (code) {
  case CUDA_ERROR_INVALID_IMAGE:
  case CUDA_ERROR_INVALID_PTX:
  case CUDA_ERROR_NO_BINARY_FOR_GPU:
  case CUDA_ERROR_UNSUPPORTED_PTX_VERSION:
  case CUDA_ERROR_ILLEGAL_ADDRESS:
  case CUDA_ERROR_LAUNCH_FAILED:
  case CUDA_ERROR_ASSERT:
    return true;
  default:
    return false;
  }
}
} // namespace

Status report(CUresult code, std::string message) {
  log().log(isBadInput(code) ? spdlog::level::warn : spdlog::level::debug, "{}", message);
  if (!t_messageGone)
    t_lastMessage.text = std::move(message);
  return {code};
}

const std::string &lastErrorMessage() {
  static const std::string none;
  return t_messageGone ? none : t_lastMessage.text;
}

} // namespace cuvirt
