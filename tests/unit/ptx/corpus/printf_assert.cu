// printf, assert, device malloc/free, trap.
#include <cassert>
#include <cstdio>
__global__ void hello(int n, double x, const char *tag) {
  printf("thread %d of %d: %f %s %c %lld\n", threadIdx.x, n, x, tag, 'A' + threadIdx.x % 26, (long long)blockIdx.x);
  assert(n > 0 && "n must be positive");
  if (n > 1000000) __trap();
  if (n == 999999) __brkpt();
}
__global__ void heap(int n, int **out) {
  int *p = (int *)malloc(n * sizeof(int));
  if (!p) { printf("malloc failed\n"); return; }
  for (int i = 0; i < n; ++i) p[i] = i * i;
  out[threadIdx.x] = p;
  if (n < 2) free(p);
}
