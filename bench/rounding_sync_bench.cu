// Two costs on cuvirt's CPU device (or any device), each against its plain
// counterpart in the same run: (1) directed-rounding arithmetic (__fadd_rz,
// __fmul_ru: out-of-line helpers that set the rounding mode) against the
// same kernel with round-to-nearest, 2^22 floats; (2) a cooperative grid's
// this_grid().sync(), per sync, for a grid that fills the device.
#include <chrono>
#include <cooperative_groups.h>
#include <cstdio>
#include <cstdlib>

namespace cg = cooperative_groups;

__global__ void nearest(const float *x, float *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    y[i] = x[i] * 1.0001f + 0.3333f;
}

__global__ void directed(const float *x, float *y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    y[i] = __fadd_rz(__fmul_ru(x[i], 1.0001f), 0.3333f);
}

__global__ void syncs(int rounds, unsigned *counter) {
  cg::grid_group g = cg::this_grid();
  for (int r = 0; r < rounds; ++r) {
    if (threadIdx.x == 0)
      atomicAdd(counter, 1u);
    g.sync();
  }
}

#define CK(x)                                                                                                \
  do {                                                                                                       \
    cudaError_t e = (x);                                                                                     \
    if (e != cudaSuccess) {                                                                                  \
      std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e));                                           \
      std::exit(1);                                                                                          \
    }                                                                                                        \
  } while (0)

template <class F> double best(F f) {
  double b = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    CK(cudaDeviceSynchronize());
    b = std::min(b, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  return b;
}

int main() {
  const int n = 1 << 22;
  float *x, *y;
  CK(cudaMalloc(&x, n * sizeof(float)));
  CK(cudaMalloc(&y, n * sizeof(float)));
  CK(cudaMemset(x, 0, n * sizeof(float)));
  const int tb = 256, blocks = (n + tb - 1) / tb;
  double rn = best([&] { nearest<<<blocks, tb>>>(x, y, n); });
  double rd = best([&] { directed<<<blocks, tb>>>(x, y, n); });
  std::printf("2^22 floats: round-to-nearest %.2f ms, __fmul_ru+__fadd_rz %.2f ms (%.1fx)\n", rn, rd,
              rd / rn);

  int sms = 0, perSm = 0;
  CK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  CK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, syncs, 128, 0));
  unsigned *counter;
  CK(cudaMalloc(&counter, sizeof(unsigned)));
  for (int grid : {sms, perSm * sms}) {
    auto run = [&](int rounds) {
      void *args[] = {&rounds, &counter};
      return best([&] { CK(cudaLaunchCooperativeKernel((void *)syncs, grid, 128, args, 0, 0)); });
    };
    double t1 = run(1), t101 = run(101);
    std::printf("cooperative grid of %d blocks x 128 threads: %.1f us per this_grid().sync()\n", grid,
                (t101 - t1) * 1000.0 / 100);
  }
  return 0;
}
