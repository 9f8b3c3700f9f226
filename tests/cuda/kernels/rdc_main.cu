// Separate compilation (nvcc -rdc=true, two .cu files): a kernel here calls a
// __device__ function and reads a __device__ variable defined in rdc_lib.cu,
// and launches a kernel defined there. cudart registers the device-linked
// image; cuvirt links the objects' PTX the way the driver's JIT would.
#include "check.h"
#include "rdc_lib.h"
#include <vector>

__global__ void rdc_apply(const float *in, float *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = rdc_scale(in[i], i);
}

static void check(const std::vector<float> &in, const std::vector<float> &out, int bias) {
  for (size_t i = 0; i < in.size(); ++i) {
    float want = in[i] * 2.0f + static_cast<float>(i % 5) + bias;
    EXPECT(out[i] == want, "bias %d: out[%zu] = %g, want %g", bias, i, out[i], want);
  }
}

int main() {
  const int n = 1000;
  std::vector<float> in(n), out(n);
  for (int i = 0; i < n; ++i)
    in[i] = i * 0.25f;
  float *din, *dout;
  CHECK(cudaMalloc(&din, n * sizeof(float)));
  CHECK(cudaMalloc(&dout, n * sizeof(float)));
  CHECK(cudaMemcpy(din, in.data(), n * sizeof(float), cudaMemcpyHostToDevice));

  rdc_apply<<<(n + 127) / 128, 128>>>(din, dout, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, n * sizeof(float), cudaMemcpyDeviceToHost));
  check(in, out, 7);

  // The variable is one object across both files: the other file's kernel
  // writes it, this file's host code reads it by symbol.
  rdc_set_bias<<<1, 1>>>(-3);
  CHECK_LAUNCH();
  int bias = 0;
  CHECK(cudaMemcpyFromSymbol(&bias, rdc_bias, sizeof bias));
  EXPECT(bias == -3, "rdc_bias = %d, want -3", bias);
  rdc_apply<<<(n + 127) / 128, 128>>>(din, dout, n);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, n * sizeof(float), cudaMemcpyDeviceToHost));
  check(in, out, -3);

  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
  PASSED("rdc");
  return 0;
}
