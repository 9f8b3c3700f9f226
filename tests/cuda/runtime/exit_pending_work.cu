// Returning from main with work still queued (a slow host function, async
// copies, live streams, events and allocations, no cudaDeviceSynchronize):
// the process must exit normally, with status 0, without hanging or crashing.
#include "check.h"
#include <atomic>
#include <chrono>
#include <thread>

static std::atomic<int> done{0};
static void CUDART_CB slow(void *) {
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  done.store(1);
}

int main() {
  CHECK(cudaSetDevice(0));
  cudaStream_t s, nb;
  CHECK(cudaStreamCreate(&s));
  CHECK(cudaStreamCreateWithFlags(&nb, cudaStreamNonBlocking));
  const size_t n = 8 << 20;
  char *h = nullptr, *d = nullptr;
  CHECK(cudaMallocHost(&h, n));
  CHECK(cudaMalloc(&d, n));
  cudaEvent_t ev;
  CHECK(cudaEventCreate(&ev));
  CHECK(cudaLaunchHostFunc(s, slow, nullptr));
  CHECK(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, s));
  CHECK(cudaMemcpyAsync(h, d, n, cudaMemcpyDeviceToHost, s));
  CHECK(cudaEventRecord(ev, s));
  CHECK(cudaStreamWaitEvent(nb, ev, 0));
  CHECK(cudaMemsetAsync(d, 1, n, nb));
  EXPECT(cudaStreamQuery(s) == cudaErrorNotReady, "the slow host function already finished?");
  PASSED("exit_pending_work"); // printed before exit; the runner checks the exit status
  return 0;
}
