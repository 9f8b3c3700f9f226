// A program with a known sequence of CUDA calls, for cuvirt-trace's tests.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CHECK(x)                                                                                             \
  do {                                                                                                       \
    cudaError_t e = (x);                                                                                     \
    if (e != cudaSuccess) {                                                                                  \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e));                \
      return 1;                                                                                              \
    }                                                                                                        \
  } while (0)

template <typename T> __global__ void scaleKernel(T *data, T factor, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    data[i] *= factor;
}

int main(int argc, char **argv) {
  const int n = 1024;
  float *device = nullptr, *pinned = nullptr;
  CHECK(cudaMalloc(&device, n * sizeof(float)));
  CHECK(cudaMallocHost(&pinned, n * sizeof(float)));
  for (int i = 0; i < n; ++i)
    pinned[i] = float(i);
  CHECK(cudaMemcpy(device, pinned, n * sizeof(float), cudaMemcpyHostToDevice));
  cudaStream_t stream;
  CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cudaEvent_t start, stop;
  CHECK(cudaEventCreate(&start));
  CHECK(cudaEventCreate(&stop));
  CHECK(cudaEventRecord(start, stream));
  scaleKernel<float><<<4, 256, 0, stream>>>(device, 2.0f, n);
  cudaError_t launch = cudaGetLastError(); // kernels may not run on every backend
  CHECK(cudaMemcpyAsync(pinned, device, n * sizeof(float), cudaMemcpyDeviceToHost, stream));
  CHECK(cudaEventRecord(stop, stream));
  CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  CHECK(cudaEventElapsedTime(&ms, start, stop));
  // A failing call, so the trace shows an error result.
  void *huge = nullptr;
  if (cudaMalloc(&huge, size_t(1) << 50) != cudaErrorMemoryAllocation) {
    std::fprintf(stderr, "an impossible allocation did not fail\n");
    return 1;
  }
  CHECK(cudaStreamDestroy(stream));
  CHECK(cudaEventDestroy(start));
  CHECK(cudaEventDestroy(stop));
  CHECK(cudaFree(device));
  CHECK(cudaFreeHost(pinned));
  if (argc > 1 && std::atoi(argv[1]) == 1) {
    std::fflush(stdout);
    volatile int *null = nullptr;
    *null = 1; // crash: the trace so far must survive
  }
  std::printf("trace_app done (launch: %s)\n", cudaGetErrorName(launch));
  return 0;
}
