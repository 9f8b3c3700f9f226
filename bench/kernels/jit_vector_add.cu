// JIT time: the first launch + sync of vectorAdd (the PTX is compiled then,
// or loaded from CUVIRT_JIT_CACHE), after the context is already set up.
#include "common.h"
#include <vector>

__global__ void vectorAdd(const float *a, const float *b, float *c, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    c[i] = a[i] + b[i];
}

int main() {
  const int n = 1 << 16;
  std::vector<float> a(n), b(n), c(n);
  for (int i = 0; i < n; ++i)
    a[i] = float(i), b[i] = 2.0f * float(i);
  float *da, *db, *dc;
  CK(cudaMalloc(&da, n * sizeof(float)));
  CK(cudaMalloc(&db, n * sizeof(float)));
  CK(cudaMalloc(&dc, n * sizeof(float)));
  CK(cudaMemcpy(da, a.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(db, b.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  auto launch = [&] {
    vectorAdd<<<(n + 255) / 256, 256>>>(da, db, dc, n);
    CK(cudaDeviceSynchronize());
  };
  double first = time_ms(launch), second = time_ms(launch);
  CK(cudaMemcpy(c.data(), dc, n * sizeof(float), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i)
    if (c[i] != 3.0f * float(i)) {
      std::fprintf(stderr, "FAIL vectorAdd at %d\n", i);
      return 1;
    }
  std::printf("RESULT jit first_launch_ms=%.3f second_launch_ms=%.3f\n", first, second);
  return 0;
}
