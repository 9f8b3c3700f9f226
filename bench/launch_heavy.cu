// A launch-heavy program: many tiny kernels and synchronisations. Used for
// launch overhead (empty kernel, launch+synchronize and async enqueue) and
// for the whole-program cost of tracing.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

__global__ void empty() {}
__global__ void bump(int *p) { atomicAdd(p, 1); }

int main(int argc, char **argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 20000;
  int *counter = nullptr;
  cudaMalloc(&counter, sizeof(int));
  cudaMemset(counter, 0, sizeof(int));
  empty<<<1, 1>>>(); // compile before timing
  cudaDeviceSynchronize();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) {
    empty<<<1, 1>>>();
    cudaDeviceSynchronize();
  }
  auto t1 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i)
    bump<<<1, 32>>>(counter);
  auto t2 = std::chrono::steady_clock::now();
  cudaDeviceSynchronize();
  int h = 0;
  cudaMemcpy(&h, counter, sizeof h, cudaMemcpyDeviceToHost);
  auto us = [](auto a, auto b) { return std::chrono::duration<double, std::micro>(b - a).count(); };
  std::printf("launch+synchronize: %.2f us per empty kernel\n", us(t0, t1) / n);
  std::printf("async enqueue: %.2f us per launch\n", us(t1, t2) / n);
  if (h != n * 32) {
    std::fprintf(stderr, "counter %d, expected %d\n", h, n * 32);
    return 1;
  }
  return 0;
}
