// Where kernels' printf and assert text goes: this process's stdout/stderr,
// or the OutputSink of the launch running on this thread (cuvirtd forwards
// a session's text to its client).
#pragma once
#include "runtime/backend.h"
#include <string_view>

namespace cuvirt::cpu {

/// Kernel text written on this thread goes to `sink` (null: stdout/stderr)
/// while the scope lives.
class KernelOutputScope {
public:
  explicit KernelOutputScope(OutputSink *sink);
  ~KernelOutputScope();
  KernelOutputScope(const KernelOutputScope &) = delete;
  KernelOutputScope &operator=(const KernelOutputScope &) = delete;

private:
  OutputSink *outer_;
};

/// Writes kernel text: fd 1 is printf output, fd 2 assertion messages.
void writeKernelOutput(int fd, std::string_view text);

} // namespace cuvirt::cpu
