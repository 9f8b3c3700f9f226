// 2D 5-point stencil on a 4096^2 grid (interior points; the border is copied).
#include "common.h"
#include <vector>

__global__ void stencil(const float *in, float *out, int n) {
  int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= n || y >= n)
    return;
  size_t i = (size_t)y * n + x;
  if (x == 0 || y == 0 || x == n - 1 || y == n - 1) {
    out[i] = in[i];
    return;
  }
  out[i] = 0.5f * in[i] + 0.125f * (in[i - 1] + in[i + 1] + in[i - n] + in[i + n]);
}

static void stencil_cpp(const float *in, float *out, int n) {
#pragma omp parallel for schedule(static)
  for (int y = 0; y < n; ++y) {
    const float *r = in + (size_t)y * n;
    float *o = out + (size_t)y * n;
    if (y == 0 || y == n - 1) {
      for (int x = 0; x < n; ++x)
        o[x] = r[x];
      continue;
    }
    o[0] = r[0];
#pragma omp simd
    for (int x = 1; x < n - 1; ++x)
      o[x] = 0.5f * r[x] + 0.125f * (r[x - 1] + r[x + 1] + r[x - n] + r[x + n]);
    o[n - 1] = r[n - 1];
  }
}

int main() {
  const int n = 4096;
  const size_t bytes = (size_t)n * n * sizeof(float);
  std::vector<float> in((size_t)n * n), out((size_t)n * n), ref((size_t)n * n);
  for (size_t i = 0; i < in.size(); ++i)
    in[i] = float(i % 97) * 0.25f;
  float *din, *dout;
  CK(cudaMalloc(&din, bytes));
  CK(cudaMalloc(&dout, bytes));
  CK(cudaMemcpy(din, in.data(), bytes, cudaMemcpyHostToDevice));
  dim3 block(32, 8), grid(n / 32, n / 8);
  auto cuda = [&] {
    stencil<<<grid, block>>>(din, dout, n);
    CK(cudaDeviceSynchronize());
  };
  auto cpp = [&] { stencil_cpp(in.data(), ref.data(), n); };
  compare("stencil", 30, cuda, cpp);
  CK(cudaMemcpy(out.data(), dout, bytes, cudaMemcpyDeviceToHost));
  check("stencil", out.data(), ref.data(), out.size(), 1e-6f);
  return 0;
}
