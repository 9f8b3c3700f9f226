// Conformance tests: CUDA driver API semantics, black-box through the
// exported libcuda.so.1, one file per API group. They run against whatever
// device the driver exposes (CUVIRT_BACKEND selects it), so every backend
// gets the same checks.
#define DOCTEST_CONFIG_IMPLEMENT
#include "conformance.h"

int main(int argc, char **argv) {
  if (cuInit(0) != CUDA_SUCCESS) {
    std::fprintf(stderr, "cuInit failed: no device to test\n");
    return 1;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
