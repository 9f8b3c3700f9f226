// cudaMemcpy host<->device on cuvirt's CPU device against plain memcpy, and
// cudaMalloc+cudaFree latency, measured in the same process.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <cuda_runtime.h>
#include <vector>

#define CHECK(x)                                                                                             \
  do {                                                                                                       \
    cudaError_t e = (x);                                                                                     \
    if (e != cudaSuccess) {                                                                                  \
      std::fprintf(stderr, "%s failed: %s\n", #x, cudaGetErrorString(e));                                    \
      std::exit(1);                                                                                          \
    }                                                                                                        \
  } while (0)

template <class F> double bestSeconds(F &&f, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto t1 = std::chrono::steady_clock::now();
    best = std::min(best, std::chrono::duration<double>(t1 - t0).count());
  }
  return best;
}

int main() {
  CHECK(cudaFree(nullptr)); // initialise
  std::printf("%10s %14s %14s %14s %14s %8s\n", "size", "memcpy GB/s", "H2D GB/s", "D2H GB/s", "ratio H2D",
              "D2H");
  for (size_t size = 4096; size <= (size_t(256) << 20); size *= 4) {
    std::vector<char> host(size, 1), other(size, 2);
    void *dev = nullptr;
    CHECK(cudaMalloc(&dev, size));
    CHECK(cudaMemcpy(dev, host.data(), size, cudaMemcpyHostToDevice)); // touch
    const int inner = std::max<int>(1, int((64 << 20) / size));
    const int reps = 5;
    double tm = bestSeconds(
        [&] {
          for (int i = 0; i < inner; ++i)
            std::memcpy(other.data(), host.data(), size);
        },
        reps);
    double th = bestSeconds(
        [&] {
          for (int i = 0; i < inner; ++i)
            CHECK(cudaMemcpy(dev, host.data(), size, cudaMemcpyHostToDevice));
        },
        reps);
    double td = bestSeconds(
        [&] {
          for (int i = 0; i < inner; ++i)
            CHECK(cudaMemcpy(other.data(), dev, size, cudaMemcpyDeviceToHost));
        },
        reps);
    const double bytes = double(size) * inner;
    std::printf("%10zu %14.2f %14.2f %14.2f %14.2f %8.2f\n", size, bytes / tm / 1e9, bytes / th / 1e9,
                bytes / td / 1e9, tm / th, tm / td);
    CHECK(cudaFree(dev));
  }
  const int n = 200000;
  double t = bestSeconds(
      [&] {
        for (int i = 0; i < n; ++i) {
          void *p = nullptr;
          CHECK(cudaMalloc(&p, 1024));
          CHECK(cudaFree(p));
        }
      },
      3);
  double tm = bestSeconds(
      [&] {
        for (int i = 0; i < n; ++i) {
          void *p = std::malloc(1024);
          asm volatile("" : : "r"(p) : "memory");
          std::free(p);
        }
      },
      3);
  std::printf("cudaMalloc+cudaFree (1 KiB): %.0f ns per pair (malloc+free: %.0f ns)\n", t / n * 1e9,
              tm / n * 1e9);
  return 0;
}
