// y = a*x + y with a grid-stride loop and a 1D grid smaller than the data.
#include "check.h"
#include <math.h>
#include <vector>

__global__ void saxpy(int n, float a, const float *__restrict__ x, float *__restrict__ y) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    y[i] = a * x[i] + y[i];
}

int main() {
  const int n = 1 << 20;
  const float a = 2.5f;
  std::vector<float> x(n), y(n), out(n);
  for (int i = 0; i < n; ++i) {
    x[i] = (float)(i % 1000) * 0.001f;
    y[i] = (float)(i % 77);
  }
  float *dx, *dy;
  CHECK(cudaMalloc(&dx, n * sizeof(float)));
  CHECK(cudaMalloc(&dy, n * sizeof(float)));
  CHECK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  saxpy<<<64, 128>>>(n, a, dx, dy);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    float want = fmaf(a, x[i], y[i]); // the device may contract to an fma
    float alt = a * x[i] + y[i];
    EXPECT(out[i] == want || out[i] == alt || fabsf(out[i] - want) <= 1e-6f * fabsf(want),
           "y[%d] = %.9g, want %.9g", i, out[i], want);
  }
  CHECK(cudaFree(dx));
  CHECK(cudaFree(dy));
  PASSED("saxpy");
  return 0;
}
