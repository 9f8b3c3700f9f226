// saxpy, y = a*x + y, on 2^24 floats.
#include "common.h"
#include <vector>

__global__ void saxpy(int n, float a, const float *x, float *y) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    y[i] = a * x[i] + y[i];
}

static void saxpy_cpp(int n, float a, const float *x, float *y) {
#pragma omp parallel for simd schedule(static)
  for (int i = 0; i < n; ++i)
    y[i] = a * x[i] + y[i];
}

int main() {
  const int n = 1 << 24;
  const float a = 0.5f;
  std::vector<float> x(n), y(n), ref(n), out(n);
  for (int i = 0; i < n; ++i)
    x[i] = float(i % 1000) * 1e-3f, y[i] = float(i % 7);
  float *dx, *dy;
  CK(cudaMalloc(&dx, n * sizeof(float)));
  CK(cudaMalloc(&dy, n * sizeof(float)));
  CK(cudaMemcpy(dx, x.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CK(cudaMemcpy(dy, y.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  ref = y;
  auto cuda = [&] {
    saxpy<<<(n + 255) / 256, 256>>>(n, a, dx, dy);
    CK(cudaDeviceSynchronize());
  };
  auto cpp = [&] { saxpy_cpp(n, a, x.data(), ref.data()); };
  // Check one step from identical inputs first.
  cuda();
  cpp();
  CK(cudaMemcpy(out.data(), dy, n * sizeof(float), cudaMemcpyDeviceToHost));
  check("saxpy", out.data(), ref.data(), n, 1e-6f);
  compare("saxpy", 40, cuda, cpp);
  return 0;
}
