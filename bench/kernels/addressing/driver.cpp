// Experiment: runs the JIT's block functions for saxpy and the stencil (as the
// JIT optimises them, and after rebase.py) over their grids with OpenMP, in
// the same process as the plain C++ loops. Shows what GEP addressing gains.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

struct BlockEnv { // translate/cpu/kernel_abi.h
  uint32_t gridDim[3], blockDim[3], blockIdx[3], dynamicSharedBytes;
  uint8_t *shared;
  void *const *params;
  void *launch;
  uint32_t smid;
};
using BlockFn = void (*)(BlockEnv *);
extern "C" void saxpy_jit(BlockEnv *), saxpy_rebased(BlockEnv *);
extern "C" void stencil_jit(BlockEnv *), stencil_rebased(BlockEnv *);

template <class F> double best_ms(F f) {
  double best = 1e30;
  for (int r = 0; r < 15; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    best = std::min(best,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

void grid(BlockFn f, uint32_t gx, uint32_t gy, uint32_t bx, uint32_t by, void *const *params) {
#pragma omp parallel
  {
    BlockEnv e{{gx, gy, 1}, {bx, by, 1}, {0, 0, 0}, 0, nullptr, params, nullptr, 0};
#pragma omp for schedule(static)
    for (long b = 0; b < long(gx) * gy; ++b) {
      e.blockIdx[0] = uint32_t(b % gx), e.blockIdx[1] = uint32_t(b / gx);
      f(&e);
    }
  }
}

int main() {
  { // saxpy, 2^24 floats, 256 threads a block
    int n = 1 << 24;
    float a = 0.5f;
    std::vector<float> x(n, 1.0f), y(n, 0.0f);
    uint64_t px = uint64_t(x.data()), py = uint64_t(y.data());
    void *params[] = {&n, &a, &px, &py};
    auto run = [&](BlockFn f) { return best_ms([&] { grid(f, n / 256, 1, 256, 1, params); }); };
    double j = run(saxpy_jit), r = run(saxpy_rebased);
    double c = best_ms([&] {
#pragma omp parallel for simd schedule(static)
      for (int i = 0; i < n; ++i)
        y[i] = a * x[i] + y[i];
    });
    std::printf("saxpy:   JIT as is %7.2f ms, rebased %7.2f ms, C++ %7.2f ms  (C++/rebased %.2f)\n", j, r, c,
                c / r);
  }
  { // 5-point stencil, 4096^2, 32x8 blocks
    int n = 4096;
    std::vector<float> in(size_t(n) * n), o1(in.size()), o2(in.size()), o3(in.size());
    for (size_t i = 0; i < in.size(); ++i)
      in[i] = float(i % 97);
    uint64_t pin = uint64_t(in.data()), pout = 0;
    void *params[] = {&pin, &pout, &n};
    auto run = [&](BlockFn f, std::vector<float> &o) {
      pout = uint64_t(o.data());
      return best_ms([&] { grid(f, n / 32, n / 8, 32, 8, params); });
    };
    double j = run(stencil_jit, o1), r = run(stencil_rebased, o2);
    double c = best_ms([&] {
#pragma omp parallel for schedule(static)
      for (int y = 1; y < n - 1; ++y) {
        const float *row = &in[size_t(y) * n];
        float *o = &o3[size_t(y) * n];
#pragma omp simd
        for (int x = 1; x < n - 1; ++x)
          o[x] = 0.5f * row[x] + 0.125f * (row[x - 1] + row[x + 1] + row[x - n] + row[x + n]);
      }
    });
    size_t i = size_t(100) * n + 100;
    if (o1 != o2 || o1[i] != o3[i]) {
      std::fprintf(stderr, "FAIL: stencil results differ\n");
      return 1;
    }
    std::printf("stencil: JIT as is %7.2f ms, rebased %7.2f ms, C++ %7.2f ms  (C++/rebased %.2f)\n", j, r, c,
                c / r);
  }
}
