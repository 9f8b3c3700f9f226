// A device assert inside a function kept out of line (__noinline__, and a
// recursive one): the failure still becomes cudaErrorAssert with CUDA's
// message on stderr (the runner greps for it), never a refused module.
#undef NDEBUG
#include "check.h"
#include <assert.h>

__device__ __noinline__ void check_positive(int v) { assert(v > 0); }

__device__ int depth_sum(int v, int depth) {
  assert(depth < 64);
  return depth == 0 ? v : v + depth_sum(v, depth - 1);
}

__global__ void check_values(const int *v, int *out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    check_positive(v[i]);
    out[i] = depth_sum(v[i], i % 4);
  }
}

int main() {
  const int n = 64;
  int h[n], r[n];
  for (int i = 0; i < n; ++i)
    h[i] = i + 1;
  int *d, *out;
  CHECK(cudaMalloc(&d, sizeof h));
  CHECK(cudaMalloc(&out, sizeof h));
  CHECK(cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));
  check_values<<<2, 32>>>(d, out, n); // every assert holds
  CHECK_LAUNCH();
  CHECK(cudaMemcpy(r, out, sizeof r, cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i)
    if (r[i] != h[i] * (i % 4 + 1)) {
      printf("FAILED: out[%d] = %d, want %d\n", i, r[i], h[i] * (i % 4 + 1));
      return 1;
    }
  h[13] = 0; // trips check_positive
  CHECK(cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));
  fflush(stdout);
  check_values<<<2, 32>>>(d, out, n);
  EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorAssert);
  EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorAssert); // sticky
  printf("saw cudaErrorAssert, sticky\n");
  PASSED("device_assert_noinline");
  return 0;
}
