// A kernel that writes far outside any allocation: the next synchronising
// call reports cudaErrorIllegalAddress, and the error is sticky (every later
// call keeps returning it). The program passes if it saw that, and did not crash.
#include "check.h"

__global__ void scribble(int *p, long long offset) { p[offset + threadIdx.x] = 0xdead; }

int main() {
  int *d;
  CHECK(cudaMalloc(&d, 1024));
  scribble<<<1, 1>>>(d, 0); // in bounds: fine
  CHECK_LAUNCH();

  // 1 TiB past the allocation.
  scribble<<<1, 32>>>(d, (1LL << 40) / (long long)sizeof(int));
  CHECK(cudaGetLastError()); // launching is fine; executing is not
  EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
  EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorIllegalAddress);
  int h = 0;
  EXPECT_ERR(cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost), cudaErrorIllegalAddress);
  void *p;
  EXPECT_ERR(cudaMalloc(&p, 16), cudaErrorIllegalAddress);
  EXPECT_ERR(cudaGetLastError(), cudaErrorIllegalAddress);
  // cudaGetLastError/cudaPeekAtLastError are cudart's own bookkeeping (no
  // driver call; checked with cuvirt-trace), so whether the sticky error
  // survives cudaGetLastError is cudart's business, not the driver's: not
  // asserted here. Every later driver call must still fail:
  scribble<<<1, 1>>>(d, 0);
  EXPECT_ERR(cudaGetLastError(), cudaErrorIllegalAddress);
  printf("saw cudaErrorIllegalAddress, sticky\n");
  PASSED("out_of_bounds");
  return 0;
}
