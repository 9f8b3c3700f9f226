// Local arrays with dynamic indexing, recursion, non-inlined calls.
__device__ __noinline__ int fib(int n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }
__device__ __noinline__ long long fact(int n) { return n <= 1 ? 1 : n * fact(n - 1); }
__device__ __noinline__ void fill(int *a, int n, int seed) { for (int i = 0; i < n; ++i) a[i] = seed * i ^ (i >> 1); }
__global__ void locals(int *out, int k) {
  int buf[64];
  float fb[7];
  fill(buf, 64, threadIdx.x);
  for (int i = 0; i < 7; ++i) fb[i] = buf[(i * k) & 63] * 0.5f;
  out[threadIdx.x] = buf[k & 63] + fib(k & 15) + (int)fact(k & 7) + (int)fb[k % 7];
}
__device__ __noinline__ void sortLocal(int *a, int n) {
  for (int i = 1; i < n; ++i) { int v = a[i], j = i - 1; while (j >= 0 && a[j] > v) { a[j + 1] = a[j]; --j; } a[j + 1] = v; }
}
__global__ void sorter(int *data) {
  int a[16];
  for (int i = 0; i < 16; ++i) a[i] = data[threadIdx.x * 16 + i];
  sortLocal(a, 16);
  for (int i = 0; i < 16; ++i) data[threadIdx.x * 16 + i] = a[i];
}
