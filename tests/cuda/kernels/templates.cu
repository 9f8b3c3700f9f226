// One templated kernel (and a templated device functor) instantiated for
// int, float and double.
#include "check.h"
#include <math.h>
#include <vector>

template <typename T> struct Poly {
  T a, b, c;
  __host__ __device__ T operator()(T x) const { return (a * x + b) * x + c; }
};

template <typename T, int UNROLL> __global__ void apply(const T *in, T *out, int n, Poly<T> p) {
  int i = (blockIdx.x * blockDim.x + threadIdx.x) * UNROLL;
#pragma unroll
  for (int u = 0; u < UNROLL; ++u)
    if (i + u < n)
      out[i + u] = p(in[i + u]);
}

template <typename T, int UNROLL> static void run(const char *name, Poly<T> p, double tol) {
  const int n = 10007;
  std::vector<T> in(n), out(n);
  for (int i = 0; i < n; ++i)
    in[i] = (T)(i % 100) - (T)50;
  T *din, *dout;
  CHECK(cudaMalloc(&din, n * sizeof(T)));
  CHECK(cudaMalloc(&dout, n * sizeof(T)));
  CHECK(cudaMemcpy(din, in.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  int threads = (n + UNROLL - 1) / UNROLL;
  apply<T, UNROLL><<<(threads + 127) / 128, 128>>>(din, dout, n, p);
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(out.data(), dout, n * sizeof(T), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    double want = (double)p(in[i]);
    EXPECT(fabs((double)out[i] - want) <= tol * (1 + fabs(want)), "%s: out[%d] = %g, want %g", name, i,
           (double)out[i], want);
  }
  CHECK(cudaFree(din));
  CHECK(cudaFree(dout));
}

int main() {
  run<int, 1>("int", Poly<int>{3, -7, 11}, 0);
  run<float, 4>("float", Poly<float>{0.5f, 1.25f, -3.0f}, 1e-6);
  run<double, 2>("double", Poly<double>{1.0 / 3, 2.0 / 7, -1e-3}, 1e-15);
  PASSED("templates");
  return 0;
}
