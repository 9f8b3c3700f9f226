// Entry overhead: a trivial driver call through cuvirt's exported
// libcuda.so.1 (symbol -> dispatch table -> implementation) against a direct
// call of the same implementation, linked into this program, in one run.
#include "cuvirt_api.h"
#include <chrono>
#include <cstdio>
#include <dlfcn.h>

namespace {
using GetCurrent = CUresult (*)(CUcontext *);

template <class F> double nsPerCall(F &&f, int n) {
  // The best of several rounds: the machine is shared and noisy.
  double best = 1e30;
  for (int round = 0; round < 7; ++round) {
    auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i)
      f();
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
  }
  return best;
}
} // namespace

int main(int argc, char **argv) {
  const char *driver = argc > 1 ? argv[1] : "libcuda.so.1";
  void *lib = dlopen(driver, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::fprintf(stderr, "cannot load %s: %s\n", driver, dlerror());
    return 1;
  }
  auto init = reinterpret_cast<CUresult (*)(unsigned)>(dlsym(lib, "cuInit"));
  auto exported = reinterpret_cast<GetCurrent>(dlsym(lib, "cuCtxGetCurrent"));
  void *(*getProc)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *) = nullptr;
  *reinterpret_cast<void **>(&getProc) = dlsym(lib, "cuGetProcAddress_v2");
  if (init == nullptr || exported == nullptr || getProc == nullptr || init(0) != CUDA_SUCCESS ||
      cuvirt::api::cuInit(0) != CUDA_SUCCESS) {
    std::fprintf(stderr, "cannot initialise the driver\n");
    return 1;
  }
  GetCurrent viaProc = nullptr;
  getProc("cuCtxGetCurrent", reinterpret_cast<void **>(&viaProc), 13000, 0, nullptr);
  const int n = 5'000'000;
  CUcontext c;
  volatile CUresult sink = CUDA_SUCCESS;
  double direct = nsPerCall([&] { sink = cuvirt::api::cuCtxGetCurrent(&c); }, n);
  double symbol = nsPerCall([&] { sink = exported(&c); }, n);
  double proc = nsPerCall([&] { sink = viaProc(&c); }, n);
  (void)sink;
  std::printf("cuCtxGetCurrent: direct %.2f ns, exported symbol %.2f ns (+%.2f ns), "
              "cuGetProcAddress pointer %.2f ns (+%.2f ns)\n",
              direct, symbol, symbol - direct, proc, proc - direct);
  return 0;
}
