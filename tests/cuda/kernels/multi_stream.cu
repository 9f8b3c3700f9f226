// Kernels on several streams at once, with copies interleaved per stream, a
// cross-stream event dependency, and a proof of concurrency: two kernels that
// each wait (with a bounded spin) for a flag set by the other.
#include "check.h"
#include <vector>

__global__ void bump(int *data, int n, int add) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += blockDim.x * gridDim.x)
    data[i] = data[i] * 2 + add;
}

// Sets my flag, then spins until the other kernel's flag is set (or gives up).
__global__ void handshake(volatile int *mine, volatile int *other, int *ok) {
  *mine = 1;
  __threadfence_system();
  long long spins = 0;
  while (*other == 0 && spins < 200000000LL)
    ++spins;
  *ok = *other;
}

int main() {
  const int S = 4, n = 1 << 18;
  cudaStream_t s[S];
  std::vector<int *> d(S), h(S);
  for (int k = 0; k < S; ++k) {
    CHECK(cudaStreamCreateWithFlags(&s[k], cudaStreamNonBlocking));
    CHECK(cudaMalloc(&d[k], n * sizeof(int)));
    CHECK(cudaMallocHost(&h[k], n * sizeof(int)));
    for (int i = 0; i < n; ++i)
      h[k][i] = i + k;
  }
  for (int k = 0; k < S; ++k) {
    CHECK(cudaMemcpyAsync(d[k], h[k], n * sizeof(int), cudaMemcpyHostToDevice, s[k]));
    for (int r = 0; r < 3; ++r)
      bump<<<32, 128, 0, s[k]>>>(d[k], n, k + r);
    CHECK(cudaGetLastError());
    CHECK(cudaMemcpyAsync(h[k], d[k], n * sizeof(int), cudaMemcpyDeviceToHost, s[k]));
  }
  for (int k = 0; k < S; ++k)
    CHECK(cudaStreamSynchronize(s[k]));
  for (int k = 0; k < S; ++k)
    for (int i = 0; i < n; ++i) {
      int v = i + k;
      for (int r = 0; r < 3; ++r)
        v = v * 2 + k + r;
      EXPECT(h[k][i] == v, "stream %d element %d = %d, want %d", k, i, h[k][i], v);
    }

  // Cross-stream dependency: stream 1 consumes what stream 0 produced.
  cudaEvent_t ev;
  CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  CHECK(cudaMemsetAsync(d[0], 0, n * sizeof(int), s[0]));
  bump<<<32, 128, 0, s[0]>>>(d[0], n, 5);
  CHECK(cudaEventRecord(ev, s[0]));
  CHECK(cudaStreamWaitEvent(s[1], ev, 0));
  CHECK(cudaMemcpyAsync(d[1], d[0], n * sizeof(int), cudaMemcpyDeviceToDevice, s[1]));
  bump<<<32, 128, 0, s[1]>>>(d[1], n, 1);
  CHECK(cudaMemcpyAsync(h[1], d[1], n * sizeof(int), cudaMemcpyDeviceToHost, s[1]));
  CHECK(cudaStreamSynchronize(s[1]));
  for (int i = 0; i < n; ++i)
    EXPECT(h[1][i] == 11, "dependent stream element %d = %d, want 11", i, h[1][i]);

  // Concurrency handshake.
  int *flags;
  CHECK(cudaMalloc(&flags, 4 * sizeof(int)));
  CHECK(cudaMemset(flags, 0, 4 * sizeof(int)));
  CHECK(cudaDeviceSynchronize());
  handshake<<<1, 1, 0, s[2]>>>(flags, flags + 1, flags + 2);
  handshake<<<1, 1, 0, s[3]>>>(flags + 1, flags, flags + 3);
  CHECK(cudaGetLastError());
  CHECK(cudaDeviceSynchronize());
  int f[4];
  CHECK(cudaMemcpy(f, flags, sizeof f, cudaMemcpyDeviceToHost));
  EXPECT(f[2] == 1 && f[3] == 1, "kernels on two streams did not run concurrently (saw %d, %d)", f[2], f[3]);

  CHECK(cudaEventDestroy(ev));
  CHECK(cudaFree(flags));
  for (int k = 0; k < S; ++k) {
    CHECK(cudaStreamDestroy(s[k]));
    CHECK(cudaFree(d[k]));
    CHECK(cudaFreeHost(h[k]));
  }
  PASSED("multi_stream");
  return 0;
}
