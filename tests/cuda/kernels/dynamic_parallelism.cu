// Device-side launches (CUDA dynamic parallelism, -rdc=true -lcudadevrt):
// children with their own grids, blocks, dynamic shared memory and by-value
// parameters; launches into device-created streams; recursion several
// levels deep; a tail launch that must see what earlier children wrote; a
// faulting child reported to the host.
#include "../common/check.h"
#include <vector>

struct Params {
  int scale;
  double offset;
  char tag;
};

__global__ void fill(int *out, int base, Params p) {
  extern __shared__ int tile[];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  tile[threadIdx.x] = (base + i) * p.scale + int(p.offset) + p.tag;
  __syncthreads();
  out[base + i] = tile[blockDim.x - 1 - threadIdx.x];
}

// Each parent block launches one child grid over its own slice.
__global__ void parent(int *out, int slice) {
  if (threadIdx.x != 0)
    return;
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  Params p{3, 7.9, 'a'};
  fill<<<slice / 32, 32, 32 * sizeof(int), s>>>(out, blockIdx.x * slice, p);
  cudaStreamDestroy(s);
}

// Sum of [lo, hi) by halving: each level launches two children until the
// range is small; depth is recorded per leaf.
__global__ void treeSum(const int *in, unsigned long long *sum, int lo, int hi, int depth, int *maxDepth) {
  if (hi - lo <= 64) {
    unsigned long long s = 0;
    for (int i = lo + int(threadIdx.x); i < hi; i += blockDim.x)
      s += in[i];
    atomicAdd(sum, s);
    if (threadIdx.x == 0)
      atomicMax(maxDepth, depth);
    return;
  }
  if (threadIdx.x == 0) {
    int mid = lo + (hi - lo) / 2;
    treeSum<<<1, 32>>>(in, sum, lo, mid, depth + 1, maxDepth);
    treeSum<<<1, 32>>>(in, sum, mid, hi, depth + 1, maxDepth);
  }
}

__global__ void produce(int *buf, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    buf[i] = i * 2;
}
__global__ void consume(const int *buf, int n, long long *total) {
  long long s = 0;
  for (int i = 0; i < n; ++i)
    s += buf[i];
  *total = s;
}
// The tail launch runs after the parent and everything it launched before.
__global__ void tailParent(int *buf, int n, long long *total) {
  if (threadIdx.x == 0 && blockIdx.x == 0) {
    consume<<<1, 1, 0, cudaStreamTailLaunch>>>(buf, n, total);
    produce<<<(n + 127) / 128, 128>>>(buf, n);
  }
}

__global__ void faulty(int *p) { p[threadIdx.x] = 1; }
__global__ void faultyParent() {
  if (threadIdx.x == 0)
    faulty<<<1, 32>>>(reinterpret_cast<int *>(16));
}

int main() {
  const int blocks = 6, slice = 128, n = blocks * slice;
  int *out;
  CHECK(cudaMalloc(&out, n * sizeof(int)));
  CHECK(cudaMemset(out, 0, n * sizeof(int)));
  parent<<<blocks, 64>>>(out, slice);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  std::vector<int> h(n);
  CHECK(cudaMemcpy(h.data(), out, n * sizeof(int), cudaMemcpyDeviceToHost));
  for (int i = 0; i < n; ++i) {
    int mirrored = i / 32 * 32 + 31 - i % 32; // the child reverses each 32-thread tile
    int want = mirrored * 3 + 7 + 'a';
    EXPECT(h[i] == want, "parent/child fill: out[%d] = %d, want %d", i, h[i], want);
  }

  const int m = 1000;
  std::vector<int> in(m);
  unsigned long long want = 0;
  for (int i = 0; i < m; ++i)
    want += in[i] = (i * 7919) % 1000;
  int *din, *dDepth;
  unsigned long long *dSum;
  CHECK(cudaMalloc(&din, m * sizeof(int)));
  CHECK(cudaMalloc(&dSum, sizeof *dSum));
  CHECK(cudaMalloc(&dDepth, sizeof *dDepth));
  CHECK(cudaMemcpy(din, in.data(), m * sizeof(int), cudaMemcpyHostToDevice));
  CHECK(cudaMemset(dSum, 0, sizeof *dSum));
  CHECK(cudaMemset(dDepth, 0, sizeof *dDepth));
  treeSum<<<1, 32>>>(din, dSum, 0, m, 0, dDepth);
  CHECK(cudaDeviceSynchronize());
  unsigned long long sum = 0;
  int depth = 0;
  CHECK(cudaMemcpy(&sum, dSum, sizeof sum, cudaMemcpyDeviceToHost));
  CHECK(cudaMemcpy(&depth, dDepth, sizeof depth, cudaMemcpyDeviceToHost));
  EXPECT(sum == want, "recursive tree sum %llu, want %llu", sum, want);
  EXPECT(depth == 4, "recursion reached depth %d, want 4 (1000 -> 62-element leaves)", depth);

  int *buf;
  long long *total, got = 0;
  CHECK(cudaMalloc(&buf, m * sizeof(int)));
  CHECK(cudaMalloc(&total, sizeof *total));
  CHECK(cudaMemset(buf, 0, m * sizeof(int)));
  tailParent<<<2, 32>>>(buf, m, total);
  CHECK(cudaDeviceSynchronize());
  CHECK(cudaMemcpy(&got, total, sizeof got, cudaMemcpyDeviceToHost));
  EXPECT(got == 999LL * 1000, "tail launch saw a total of %lld, want %lld", got, 999LL * 1000);

  faultyParent<<<1, 32>>>();
  cudaError_t e = cudaDeviceSynchronize();
  EXPECT(e == cudaErrorIllegalAddress, "a faulting child grid: %s, want cudaErrorIllegalAddress",
         cudaGetErrorName(e));
  PASSED("dynamic_parallelism");
}
