// printf from device code. Output is compared line by line with
// device_printf.expected by the runner (--expect-stdout). A single thread
// prints, so the order is defined.
#include "check.h"

__global__ void say(int i, float f, double d, const char *s) {
  printf("hello from the device\n");
  printf("int %d unsigned %u negative %d hex %x\n", i, (unsigned)i * 2, -i, 255);
  printf("long %ld long long %lld\n", (long)1 << 40, -(1LL << 50));
  printf("float %.3f double %.6f exp %e\n", f, d, 12345.678);
  printf("string '%s' char '%c' percent %%\n", s, 'Z');
  printf("width [%5d] [%-5d] [%05d]\n", 42, 42, 42);
  for (int k = 0; k < 3; ++k)
    printf("loop %d of %d\n", k, 3);
}

__global__ void one_line(int launch) {
  // 32 threads, one prints: the others must not
  if (threadIdx.x == 5)
    printf("launch %d: thread %d of %d says hi\n", launch, threadIdx.x, blockDim.x);
}

int main() {
  const char msg[] = "device string";
  char *ds;
  CHECK(cudaMalloc(&ds, sizeof msg));
  CHECK(cudaMemcpy(ds, msg, sizeof msg, cudaMemcpyHostToDevice));
  printf("host: before launch\n");
  fflush(stdout);
  say<<<1, 1>>>(7, 2.5f, 1.0 / 3.0, ds);
  CHECK_LAUNCH();
  fflush(stdout);
  for (int b = 0; b < 3; ++b) {
    one_line<<<1, 32>>>(b);
    CHECK_LAUNCH();
    fflush(stdout);
  }
  printf("host: after sync\n");
  CHECK(cudaFree(ds));
  PASSED("device_printf");
  return 0;
}
