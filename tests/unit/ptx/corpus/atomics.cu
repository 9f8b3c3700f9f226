// Every atomic family on global and shared memory, several scopes.
__global__ void atomics(int *i, unsigned *u, unsigned long long *ull, float *f, double *d, long long *ll) {
  __shared__ int s[4];
  __shared__ unsigned long long s64;
  if (threadIdx.x == 0) { s[0] = s[1] = s[2] = s[3] = 0; s64 = 0; }
  __syncthreads();
  atomicAdd(i, 1);
  atomicSub(i + 1, 2);
  atomicMin(i + 2, (int)threadIdx.x);
  atomicMax(i + 3, (int)threadIdx.x);
  atomicInc(u, 17u);
  atomicDec(u + 1, 9u);
  atomicAnd(u + 2, 0xF0u);
  atomicOr(u + 3, 1u << (threadIdx.x & 31));
  atomicXor(u + 4, threadIdx.x);
  int old = atomicExch(i + 4, (int)threadIdx.x);
  atomicCAS(i + 5, old, old + 1);
  atomicCAS(ull, 0ull, 1ull + threadIdx.x);
  atomicAdd(ull + 1, 3ull);
  atomicMin(ll, (long long)threadIdx.x - 5);
  atomicMax(ull + 2, (unsigned long long)threadIdx.x);
  atomicAdd(f, 1.5f);
  atomicExch(f + 1, 2.0f);
  atomicAdd(d, 0.25);
  atomicAdd(&s[0], 1);
  atomicMax(&s[1], (int)threadIdx.x);
  atomicCAS(&s64, 0ull, 5ull);
  atomicAdd_block(i + 6, 1);
  atomicAdd_system(i + 7, 1);
  atomicCAS_block(i + 8, 0, 1);
  __threadfence_block();
  __threadfence();
  __threadfence_system();
  __syncthreads();
  if (threadIdx.x == 0) { i[9] = s[0]; i[10] = s[1]; ull[3] = s64; }
}
__global__ void reductions(int *p, unsigned *q) {
  // results unused: nvcc emits red.* instead of atom.*
  atomicAdd(p, 1);
  atomicOr(q, 2u);
  atomicMin(p + 1, -3);
}
