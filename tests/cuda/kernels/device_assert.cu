// A failing device assert: cudaDeviceSynchronize reports cudaErrorAssert, the
// message "... Assertion `...` failed." goes to stderr (the runner greps for
// it), and the error is sticky. The program passes if it saw all that.
#undef NDEBUG
#include <assert.h>
#include "check.h"

__global__ void check_values(const int *v, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) assert(v[i] != 13);
}

int main() {
  const int n = 64;
  int h[n];
  for (int i = 0; i < n; ++i) h[i] = i;  // h[13] == 13 trips the assert
  int *d;
  CHECK(cudaMalloc(&d, sizeof h));
  CHECK(cudaMemcpy(d, h, sizeof h, cudaMemcpyHostToDevice));

  // A passing run first: asserts that hold are silent.
  int *ok;
  CHECK(cudaMalloc(&ok, sizeof h));
  CHECK(cudaMemset(ok, 0, sizeof h));
  check_values<<<2, 32>>>(ok, n);
  CHECK_LAUNCH();

  fflush(stdout);
  check_values<<<2, 32>>>(d, n);
  CHECK(cudaGetLastError());  // the launch itself is fine
  EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorAssert);
  // Sticky: the context is unusable from now on.
  EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorAssert);
  EXPECT_ERR(cudaMemcpy(h, d, sizeof h, cudaMemcpyDeviceToHost), cudaErrorAssert);
  void *p;
  EXPECT_ERR(cudaMalloc(&p, 16), cudaErrorAssert);
  printf("saw cudaErrorAssert, sticky\n");
  PASSED("device_assert");
  return 0;
}
