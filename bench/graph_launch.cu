// Graph replay against direct launches of the same work, in one process:
// a chain of small kernels, launched one by one or captured once and
// replayed with cudaGraphLaunch. Prints microseconds per kernel for both.
//   nvcc -O2 -arch=sm_75 bench/graph_launch.cu -o /tmp/graph_launch
//   LD_LIBRARY_PATH=build/shims /tmp/graph_launch
#include <chrono>
#include <cstdio>
#include <cuda_runtime.h>

__global__ void bump(int *x) { x[threadIdx.x] += 1; }

int main() {
  const int chain = 20, reps = 200;
  int *d;
  cudaStream_t s;
  if (cudaMalloc(&d, 32 * sizeof(int)) != cudaSuccess || cudaStreamCreate(&s) != cudaSuccess)
    return 1;
  cudaMemset(d, 0, 32 * sizeof(int));
  auto run = [&](auto &&body) {
    body(); // warm up (JIT compilation)
    cudaStreamSynchronize(s);
    auto t0 = std::chrono::steady_clock::now();
    for (int r = 0; r < reps; ++r)
      body();
    cudaStreamSynchronize(s);
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
           (reps * chain);
  };
  double direct = run([&] {
    for (int k = 0; k < chain; ++k)
      bump<<<1, 32, 0, s>>>(d);
  });
  cudaGraph_t g;
  cudaGraphExec_t e;
  cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal);
  for (int k = 0; k < chain; ++k)
    bump<<<1, 32, 0, s>>>(d);
  cudaStreamEndCapture(s, &g);
  if (cudaGraphInstantiate(&e, g, 0) != cudaSuccess)
    return 1;
  double graph = run([&] { cudaGraphLaunch(e, s); });
  int h = 0;
  cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost);
  const int want = 2 * (reps + 1) * chain;
  std::printf("direct launches: %.2f us/kernel, graph replay: %.2f us/kernel (ratio %.2f)%s\n", direct, graph,
              direct / graph, h == want ? "" : " WRONG RESULT");
  return h == want ? 0 : 1;
}
