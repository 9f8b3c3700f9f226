// Recursion through __device__ functions (needs a real call stack):
// factorial, naive Fibonacci, and mutual recursion, with run-time depths.
#include "check.h"

__device__ __noinline__ long long factorial(int n) { return n <= 1 ? 1 : n * factorial(n - 1); }
__device__ __noinline__ int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
__device__ __noinline__ bool is_odd(unsigned n);
__device__ __noinline__ bool is_even(unsigned n) { return n == 0 ? true : is_odd(n - 1); }
__device__ __noinline__ bool is_odd(unsigned n) { return n == 0 ? false : is_even(n - 1); }

__global__ void recurse(const int *n, long long *fact, int *fibs, int *parity) {
  int t = threadIdx.x;
  fact[t] = factorial(n[t]);
  fibs[t] = fib(n[t]);
  parity[t] = is_even((unsigned)n[t] * 7) ? 1 : 0;
}

static long long h_fact(int n) { return n <= 1 ? 1 : n * h_fact(n - 1); }
static int h_fib(int n) { return n < 2 ? n : h_fib(n - 1) + h_fib(n - 2); }

int main() {
  const int T = 21;
  int n[T];
  for (int i = 0; i < T; ++i)
    n[i] = i;
  int *dn, *dfib, *dpar;
  long long *dfact;
  CHECK(cudaMalloc(&dn, sizeof n));
  CHECK(cudaMalloc(&dfib, sizeof n));
  CHECK(cudaMalloc(&dpar, sizeof n));
  CHECK(cudaMalloc(&dfact, T * sizeof(long long)));
  CHECK(cudaMemcpy(dn, n, sizeof n, cudaMemcpyHostToDevice));
  CHECK(cudaDeviceSetLimit(cudaLimitStackSize, 16 * 1024));
  recurse<<<1, T>>>(dn, dfact, dfib, dpar);
  CHECK_LAUNCH();
  long long fact[T];
  int fibs[T], par[T];
  CHECK(cudaMemcpy(fact, dfact, sizeof fact, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(fibs, dfib, sizeof fibs, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(par, dpar, sizeof par, cudaMemcpyDeviceToHost));
  for (int i = 0; i < T; ++i) {
    EXPECT(fact[i] == h_fact(i), "factorial(%d) = %lld, want %lld", i, fact[i], h_fact(i));
    EXPECT(fibs[i] == h_fib(i), "fib(%d) = %d, want %d", i, fibs[i], h_fib(i));
    EXPECT(par[i] == ((i * 7) % 2 == 0), "is_even(%d) = %d", i * 7, par[i]);
  }
  CHECK(cudaFree(dn));
  CHECK(cudaFree(dfib));
  CHECK(cudaFree(dpar));
  CHECK(cudaFree(dfact));
  PASSED("recursion");
  return 0;
}
