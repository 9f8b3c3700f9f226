// Managed memory the way programs use it, run locally and on cuvirtd
// (remote/README.md: the host copy is exchanged at launches and
// synchronisation points, as on devices without concurrent managed access).
// Also: device attributes a remote device reports for mapped/managed memory,
// kernel printf reaching this process, and event timing.
#include "check.h"
#include <cstring>
#include <vector>

__global__ void scale(float *x, int n, float a) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    x[i] = x[i] * a + 1.0f;
}

__global__ void gather(const int *idx, const float *src, float *dst, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n)
    dst[i] = src[idx[i]];
}

__global__ void spin(unsigned long long cycles, int *out) {
  long long start = clock64();
  while (clock64() - start < (long long)cycles) {
  }
  *out = 1;
}

int main() {
  int dev = 0, concurrent = -1, managedOk = -1, canMap = -1;
  CHECK(cudaGetDevice(&dev));
  CHECK(cudaDeviceGetAttribute(&managedOk, cudaDevAttrManagedMemory, dev));
  CHECK(cudaDeviceGetAttribute(&concurrent, cudaDevAttrConcurrentManagedAccess, dev));
  CHECK(cudaDeviceGetAttribute(&canMap, cudaDevAttrCanMapHostMemory, dev));
  EXPECT(managedOk == 1, "managedMemory = %d", managedOk);
  // A remote device: managed memory without concurrent access, no mapped host memory.
  EXPECT(concurrent == 0 || canMap == 1, "concurrentManagedAccess %d with canMapHostMemory %d", concurrent,
         canMap);

  // 1. Host writes, kernel changes, host reads after cudaDeviceSynchronize.
  const int n = 3 << 18; // 3 MiB of floats: several exchange pieces
  float *x = nullptr;
  CHECK(cudaMallocManaged(&x, n * sizeof(float)));
  for (int i = 0; i < n; ++i)
    x[i] = float(i % 1000);
  scale<<<(n + 255) / 256, 256>>>(x, n, 2.0f);
  CHECK_LAUNCH();
  for (int i = 0; i < n; ++i)
    if (x[i] != float(i % 1000) * 2.0f + 1.0f) {
      EXPECT(false, "after one kernel: x[%d] = %f", i, x[i]);
      break;
    }

  // 2. Only part of it changes on the host; two kernels back to back.
  x[5] = 100.0f;
  x[n - 1] = -4.0f;
  scale<<<(n + 255) / 256, 256>>>(x, n, 0.5f);
  scale<<<(n + 255) / 256, 256>>>(x, n, 2.0f);
  CHECK(cudaDeviceSynchronize());
  EXPECT(x[5] == (100.0f * 0.5f + 1.0f) * 2.0f + 1.0f, "x[5] = %f", x[5]);
  EXPECT(x[n - 1] == (-4.0f * 0.5f + 1.0f) * 2.0f + 1.0f, "x[n-1] = %f", x[n - 1]);
  EXPECT(x[7] == ((7.0f * 2.0f + 1.0f) * 0.5f + 1.0f) * 2.0f + 1.0f, "x[7] = %f", x[7]);

  // 3. A stream, an event, managed inputs and outputs mixed with device memory.
  const int m = 4096;
  int *idx = nullptr;
  float *out = nullptr, *src = nullptr;
  CHECK(cudaMallocManaged(&idx, m * sizeof(int)));
  CHECK(cudaMallocManaged(&out, m * sizeof(float)));
  CHECK(cudaMalloc(&src, m * sizeof(float)));
  std::vector<float> h(m);
  for (int i = 0; i < m; ++i) {
    h[i] = float(i) * 0.25f;
    idx[i] = (i * 7) % m;
  }
  cudaStream_t s;
  cudaEvent_t done;
  CHECK(cudaStreamCreate(&s));
  CHECK(cudaEventCreate(&done));
  CHECK(cudaMemcpyAsync(src, h.data(), m * sizeof(float), cudaMemcpyHostToDevice, s));
  gather<<<m / 256, 256, 0, s>>>(idx, src, out, m);
  CHECK(cudaGetLastError());
  CHECK(cudaEventRecord(done, s));
  CHECK(cudaEventSynchronize(done));
  for (int i = 0; i < m; ++i)
    if (out[i] != h[(i * 7) % m]) {
      EXPECT(false, "gather: out[%d] = %f, want %f", i, out[i], h[(i * 7) % m]);
      break;
    }

  // 4. cudaMemcpy / cudaMemset into managed memory are seen by the host.
  CHECK(cudaMemcpy(out, src, m * sizeof(float), cudaMemcpyDeviceToDevice));
  CHECK(cudaDeviceSynchronize()); // device-to-device copies do not wait
  EXPECT(out[10] == h[10], "managed after cudaMemcpy: %f", out[10]);
  CHECK(cudaMemset(idx, 0, m * sizeof(int)));
  CHECK(cudaDeviceSynchronize());
  EXPECT(idx[100] == 0, "managed after cudaMemset: %d", idx[100]);
  // ... and host changes are seen by cudaMemcpy from managed memory.
  for (int i = 0; i < m; ++i)
    out[i] = float(-i);
  std::vector<float> back(m);
  CHECK(cudaMemcpy(back.data(), out, m * sizeof(float), cudaMemcpyDefault));
  EXPECT(back[77] == -77.0f, "cudaMemcpy from managed: %f", back[77]);

  // 5. Freed and allocated again: fresh memory, no stale host copy.
  CHECK(cudaFree(x));
  CHECK(cudaMallocManaged(&x, n * sizeof(float)));
  x[0] = 3.0f;
  scale<<<1, 32>>>(x, 32, 1.0f);
  CHECK_LAUNCH();
  EXPECT(x[0] == 4.0f && x[1] == 1.0f, "reallocated: x[0] = %f, x[1] = %f", x[0], x[1]);

  // 6. Event timing measures the device's work: a kernel that runs about
  // 20 ms between two events, and two events with nothing between them.
  int clockKhz = 0;
  CHECK(cudaDeviceGetAttribute(&clockKhz, cudaDevAttrClockRate, dev));
  cudaEvent_t a, b, c;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  CHECK(cudaEventCreate(&c));
  int *flag;
  CHECK(cudaMalloc(&flag, sizeof(int)));
  CHECK(cudaEventRecord(a, s));
  spin<<<1, 1, 0, s>>>((unsigned long long)clockKhz * 20, flag);
  CHECK(cudaEventRecord(b, s));
  CHECK(cudaEventRecord(c, s));
  CHECK(cudaEventSynchronize(c));
  float ms = -1, gap = -1;
  CHECK(cudaEventElapsedTime(&ms, a, b));
  CHECK(cudaEventElapsedTime(&gap, b, c));
  EXPECT(ms >= 15.0f && ms < 2000.0f, "a 20 ms kernel measured %.3f ms", ms);
  EXPECT(gap >= 0.0f && gap < 5.0f, "back-to-back events measured %.3f ms apart", gap);

  printf("managed memory ok\n");
  CHECK(cudaFree(flag));
  CHECK(cudaFree(idx));
  CHECK(cudaFree(out));
  CHECK(cudaFree(src));
  CHECK(cudaFree(x));
  PASSED("managed_remote");
  return 0;
}
