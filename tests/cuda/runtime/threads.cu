// Many host threads using the runtime at once: allocation, copies, streams,
// events and host functions, each thread checking its own data.
#include "check.h"
#include <atomic>
#include <string.h>
#include <thread>
#include <vector>

static std::atomic<int> host_funcs_run{0};
static void CUDART_CB count(void *) { host_funcs_run.fetch_add(1); }

static void worker(int id, int rounds) {
  CHECK(cudaSetDevice(0));
  cudaStream_t s;
  CHECK(cudaStreamCreateWithFlags(&s, id % 2 ? cudaStreamNonBlocking : cudaStreamDefault));
  cudaEvent_t ev;
  CHECK(cudaEventCreate(&ev));
  for (int r = 0; r < rounds; ++r) {
    size_t n = 4096 + 977 * (size_t)(id * rounds + r);
    unsigned char *h = nullptr, *back = nullptr, *d = nullptr, *d2 = nullptr;
    CHECK(cudaMallocHost(&h, n));
    CHECK(cudaMallocHost(&back, n));
    CHECK(cudaMalloc(&d, n));
    CHECK(cudaMalloc(&d2, n));
    for (size_t i = 0; i < n; ++i)
      h[i] = (unsigned char)(i * (id + 3) + r);
    memset(back, 0, n);
    CHECK(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, s));
    CHECK(cudaMemcpyAsync(d2, d, n, cudaMemcpyDeviceToDevice, s));
    CHECK(cudaLaunchHostFunc(s, count, nullptr));
    CHECK(cudaMemcpyAsync(back, d2, n, cudaMemcpyDeviceToHost, s));
    CHECK(cudaEventRecord(ev, s));
    CHECK(cudaEventSynchronize(ev));
    for (size_t i = 0; i < n; ++i)
      if (back[i] != (unsigned char)(i * (id + 3) + r))
        FAIL("thread %d round %d: byte %zu = %d, want %d", id, r, i, back[i],
             (unsigned char)(i * (id + 3) + r));
    CHECK(cudaFree(d));
    CHECK(cudaFree(d2));
    CHECK(cudaFreeHost(h));
    CHECK(cudaFreeHost(back));
  }
  CHECK(cudaEventDestroy(ev));
  CHECK(cudaStreamDestroy(s));
}

int main() {
  const int T = 8, rounds = 25;
  CHECK(cudaSetDevice(0));
  std::vector<std::thread> ts;
  for (int i = 0; i < T; ++i)
    ts.emplace_back(worker, i, rounds);
  for (auto &t : ts)
    t.join();
  CHECK(cudaDeviceSynchronize());
  EXPECT(host_funcs_run.load() == T * rounds, "%d host functions ran, want %d", host_funcs_run.load(),
         T * rounds);
  // The runtime's context is shared by all threads: one thread's allocation
  // is usable from another.
  int *shared_buf = nullptr;
  CHECK(cudaMalloc(&shared_buf, sizeof(int)));
  std::thread t([&] {
    int v = 4242;
    CHECK(cudaMemcpy(shared_buf, &v, sizeof v, cudaMemcpyHostToDevice));
  });
  t.join();
  int v = 0;
  CHECK(cudaMemcpy(&v, shared_buf, sizeof v, cudaMemcpyDeviceToHost));
  EXPECT(v == 4242, "value written by another thread: %d", v);
  CHECK(cudaFree(shared_buf));
  PASSED("threads");
  return 0;
}
