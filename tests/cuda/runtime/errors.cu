// Error reporting: failures are reported with the right code, never crash,
// and non-sticky errors leave the process working.
#include "check.h"
#include <stdint.h>
#include <string.h>

int main() {
  CHECK(cudaSetDevice(0));
  CHECK(cudaGetLastError());

  // Impossible allocation: reported, recorded as the last error, and then the
  // process keeps working.
  void *p = (void *)0x1;
  EXPECT_ERR(cudaMalloc(&p, (size_t)1 << 50), cudaErrorMemoryAllocation);
  EXPECT_ERR(cudaPeekAtLastError(), cudaErrorMemoryAllocation); // peek does not clear
  EXPECT_ERR(cudaPeekAtLastError(), cudaErrorMemoryAllocation);
  EXPECT_ERR(cudaGetLastError(), cudaErrorMemoryAllocation); // get clears
  CHECK(cudaGetLastError());
  CHECK(cudaPeekAtLastError());
  void *ok = nullptr;
  CHECK(cudaMalloc(&ok, 1 << 20));
  CHECK(cudaMemset(ok, 0, 1 << 20));
  CHECK(cudaDeviceSynchronize());

  // cudaMallocHost of an impossible size too.
  void *h = nullptr;
  EXPECT_ERR(cudaMallocHost(&h, (size_t)1 << 50), cudaErrorMemoryAllocation);
  (void)cudaGetLastError();

  // Freeing what was never allocated.
  int local = 0;
  EXPECT_ERR(cudaFree(&local), cudaErrorInvalidValue);
  EXPECT_ERR(cudaFree((void *)0x12345678), cudaErrorInvalidValue);
  EXPECT_ERR(cudaFree((char *)ok + 16), cudaErrorInvalidValue); // interior pointer
  (void)cudaGetLastError();
  void *freed = nullptr;
  CHECK(cudaMalloc(&freed, 256));
  CHECK(cudaFree(freed));
  EXPECT_ERR(cudaFree(freed), cudaErrorInvalidValue); // double free
  EXPECT_ERR(cudaFreeHost(&local), cudaErrorInvalidValue);
  (void)cudaGetLastError();

  // Null pointers in copies.
  char buf[64] = {};
  EXPECT_ERR(cudaMemcpy(nullptr, buf, sizeof buf, cudaMemcpyHostToDevice), cudaErrorInvalidValue);
  EXPECT_ERR(cudaMemcpy(buf, nullptr, sizeof buf, cudaMemcpyDeviceToHost), cudaErrorInvalidValue);
  EXPECT_ERR(cudaMemset(nullptr, 0, 64), cudaErrorInvalidValue);
  CHECK(cudaMemcpy(ok, buf, 0, cudaMemcpyHostToDevice)); // zero bytes: fine
  (void)cudaGetLastError();
  EXPECT_ERR(cudaMalloc(nullptr, 16), cudaErrorInvalidValue);
  EXPECT_ERR(cudaMemcpy(buf, ok, sizeof buf, (cudaMemcpyKind)42), cudaErrorInvalidMemcpyDirection);
  (void)cudaGetLastError();

  // Devices that do not exist.
  int count = 0;
  CHECK(cudaGetDeviceCount(&count));
  EXPECT_ERR(cudaSetDevice(99), cudaErrorInvalidDevice);
  EXPECT_ERR(cudaSetDevice(count), cudaErrorInvalidDevice);
  EXPECT_ERR(cudaSetDevice(-1), cudaErrorInvalidDevice);
  int dev = -1;
  CHECK(cudaGetDevice(&dev));
  EXPECT(dev == 0, "failed cudaSetDevice changed the device to %d", dev);
  EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidDevice);
  CHECK(cudaGetLastError());

  // Destroyed handles: reported, no crash. (Real CUDA documents these as
  // undefined, but returns cudaErrorInvalidResourceHandle or
  // cudaErrorContextIsDestroyed; cuvirt validates handles.)
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  CHECK(cudaStreamDestroy(s));
  cudaError_t e = EXPECT_ANY_ERR(cudaStreamDestroy(s));
  printf("cudaStreamDestroy(destroyed stream) -> %s\n", cudaGetErrorName(e));
  e = EXPECT_ANY_ERR(cudaStreamSynchronize(s));
  printf("cudaStreamSynchronize(destroyed stream) -> %s\n", cudaGetErrorName(e));
  e = EXPECT_ANY_ERR(cudaStreamQuery(s));
  printf("cudaStreamQuery(destroyed stream) -> %s\n", cudaGetErrorName(e));
  cudaEvent_t ev;
  CHECK(cudaEventCreate(&ev));
  CHECK(cudaEventDestroy(ev));
  e = EXPECT_ANY_ERR(cudaEventRecord(ev, 0));
  printf("cudaEventRecord(destroyed event) -> %s\n", cudaGetErrorName(e));
  e = EXPECT_ANY_ERR(cudaEventSynchronize(ev));
  printf("cudaEventSynchronize(destroyed event) -> %s\n", cudaGetErrorName(e));
  cudaEvent_t live;
  CHECK(cudaEventCreate(&live));
  CHECK(cudaStreamCreate(&s));
  cudaStream_t dead = s;
  CHECK(cudaStreamDestroy(s));
  e = EXPECT_ANY_ERR(cudaEventRecord(live, dead));
  printf("cudaEventRecord(event, destroyed stream) -> %s\n", cudaGetErrorName(e));
  EXPECT_ERR(cudaEventElapsedTime(nullptr, live, live), cudaErrorInvalidValue);
  CHECK(cudaEventDestroy(live));
  (void)cudaGetLastError();

  // Invalid arguments to otherwise fine calls.
  EXPECT_ERR(cudaStreamCreateWithFlags(&s, 0x80), cudaErrorInvalidValue);
  EXPECT_ERR(cudaEventCreateWithFlags(&ev, 0x80), cudaErrorInvalidValue);
  EXPECT_ERR(cudaHostAlloc(&h, 64, 0x80), cudaErrorInvalidValue);
  EXPECT_ERR(cudaMemcpy(buf, (char *)ok + (1 << 20) - 8, 64, cudaMemcpyDeviceToHost),
             cudaErrorInvalidValue); // runs past the end of the allocation
  (void)cudaGetLastError();

  // Error names and strings.
  EXPECT(strcmp(cudaGetErrorName(cudaErrorMemoryAllocation), "cudaErrorMemoryAllocation") == 0,
         "cudaGetErrorName = %s", cudaGetErrorName(cudaErrorMemoryAllocation));
  EXPECT(strcmp(cudaGetErrorName(cudaSuccess), "cudaSuccess") == 0, "%s", cudaGetErrorName(cudaSuccess));
  EXPECT(strlen(cudaGetErrorString(cudaErrorInvalidDevice)) > 0, "empty error string");

  // After all that, everything still works.
  CHECK(cudaGetLastError());
  char back[64];
  memset(buf, 0x77, sizeof buf);
  CHECK(cudaMemcpy(ok, buf, sizeof buf, cudaMemcpyHostToDevice));
  CHECK(cudaMemcpy(back, ok, sizeof back, cudaMemcpyDeviceToHost));
  EXPECT(memcmp(buf, back, sizeof buf) == 0, "copy after errors differs");
  CHECK(cudaStreamCreate(&s));
  CHECK(cudaStreamSynchronize(s));
  CHECK(cudaStreamDestroy(s));
  CHECK(cudaFree(ok));
  CHECK(cudaDeviceSynchronize());
  PASSED("errors");
  return 0;
}
