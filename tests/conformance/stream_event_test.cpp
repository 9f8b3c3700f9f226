#include "conformance.h"
#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace {
void CUDA_CB sleepFor(void *ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(*static_cast<int *>(ms)));
}
void CUDA_CB appendTo(void *arg) {
  auto *p = static_cast<std::pair<std::vector<int> *, int> *>(arg);
  p->first->push_back(p->second);
}
void CUDA_CB setFlag(void *flag) { static_cast<std::atomic<int> *>(flag)->store(1); }
void CUDA_CB readFlag(void *arg) {
  auto *p = static_cast<std::pair<std::atomic<int> *, int *> *>(arg);
  *p->second = p->first->load();
}
} // namespace

TEST_CASE("work on a stream runs in order; query and synchronize") {
  ContextFixture f;
  CUstream s = nullptr;
  REQUIRE(cuStreamCreate(&s, 0) == CUDA_SUCCESS);
  std::vector<int> order;
  std::pair<std::vector<int> *, int> args[5];
  int ms = 30;
  CHECK(cuLaunchHostFunc(s, sleepFor, &ms) == CUDA_SUCCESS);
  for (int i = 0; i < 5; ++i) {
    args[i] = {&order, i};
    CHECK(cuLaunchHostFunc(s, appendTo, &args[i]) == CUDA_SUCCESS);
  }
  CHECK(cuStreamQuery(s) == CUDA_ERROR_NOT_READY);
  CHECK(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(cuStreamQuery(s) == CUDA_SUCCESS);
  CHECK(order == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(cuStreamDestroy(s) == CUDA_SUCCESS);
  CHECK(cuStreamSynchronize(s) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuStreamDestroy(s) == CUDA_ERROR_INVALID_HANDLE);
}

TEST_CASE("events time real work and order streams") {
  ContextFixture f;
  CUstream a = nullptr, b = nullptr;
  REQUIRE(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  REQUIRE(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  CUevent start = nullptr, stop = nullptr, untimed = nullptr;
  REQUIRE(cuEventCreate(&start, CU_EVENT_DEFAULT) == CUDA_SUCCESS);
  REQUIRE(cuEventCreate(&stop, CU_EVENT_BLOCKING_SYNC) == CUDA_SUCCESS);
  REQUIRE(cuEventCreate(&untimed, CU_EVENT_DISABLE_TIMING) == CUDA_SUCCESS);
  float elapsed = -1;
  CHECK(cuEventElapsedTime(&elapsed, start, stop) == CUDA_ERROR_INVALID_HANDLE); // never recorded
  CHECK(cuEventQuery(start) == CUDA_SUCCESS);                                    // never recorded: complete

  std::atomic<int> flag{0};
  int seen = -1;
  std::pair<std::atomic<int> *, int *> readArgs{&flag, &seen};
  int ms = 40;
  CHECK(cuEventRecord(start, a) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(a, sleepFor, &ms) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(a, setFlag, &flag) == CUDA_SUCCESS);
  CHECK(cuEventRecord(stop, a) == CUDA_SUCCESS);
  CHECK(cuEventRecord(untimed, a) == CUDA_SUCCESS);
  // b waits for a's event: it must see the flag a set before it.
  CHECK(cuStreamWaitEvent(b, stop, 0) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(b, readFlag, &readArgs) == CUDA_SUCCESS);
  CHECK(cuEventQuery(stop) == CUDA_ERROR_NOT_READY);
  CHECK(cuEventSynchronize(stop) == CUDA_SUCCESS);
  CHECK(cuEventElapsedTime(&elapsed, start, stop) == CUDA_SUCCESS);
  CHECK(elapsed >= 35.0f);
  CHECK(elapsed < 5000.0f);
  CHECK(cuEventSynchronize(untimed) == CUDA_SUCCESS);
  CHECK(cuEventElapsedTime(&elapsed, start, untimed) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuStreamSynchronize(b) == CUDA_SUCCESS);
  CHECK(seen == 1);
  for (CUevent e : {start, stop, untimed})
    CHECK(cuEventDestroy(e) == CUDA_SUCCESS);
  CHECK(cuEventQuery(start) == CUDA_ERROR_INVALID_HANDLE);
  CHECK(cuStreamDestroy(a) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(b) == CUDA_SUCCESS);
}

TEST_CASE("the legacy default stream waits for blocking streams, not for non-blocking ones") {
  ContextFixture f;
  CUstream blocking = nullptr, nonBlocking = nullptr;
  REQUIRE(cuStreamCreate(&blocking, CU_STREAM_DEFAULT) == CUDA_SUCCESS);
  REQUIRE(cuStreamCreate(&nonBlocking, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  std::atomic<int> blockingDone{0}, nonBlockingDone{0};
  int seenBlocking = -1, seenNonBlocking = -1;
  std::pair<std::atomic<int> *, int *> a{&blockingDone, &seenBlocking}, b{&nonBlockingDone, &seenNonBlocking};
  // The non-blocking stream's work takes far longer: the legacy stream's
  // work must run after the blocking stream's and long before it.
  int shortMs = 50, longMs = 1500;
  CHECK(cuLaunchHostFunc(blocking, sleepFor, &shortMs) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(blocking, setFlag, &blockingDone) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(nonBlocking, sleepFor, &longMs) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(nonBlocking, setFlag, &nonBlockingDone) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(CU_STREAM_LEGACY, readFlag, &a) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(CU_STREAM_LEGACY, readFlag, &b) == CUDA_SUCCESS);
  CHECK(cuStreamSynchronize(CU_STREAM_LEGACY) == CUDA_SUCCESS);
  CHECK(seenBlocking == 1);
  CHECK(seenNonBlocking == 0);
  CHECK(cuCtxSynchronize() == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(blocking) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(nonBlocking) == CUDA_SUCCESS);
}

TEST_CASE("streams really run concurrently") {
  ContextFixture f;
  CUstream a = nullptr, b = nullptr;
  REQUIRE(cuStreamCreate(&a, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  REQUIRE(cuStreamCreate(&b, CU_STREAM_NON_BLOCKING) == CUDA_SUCCESS);
  // Each waits (bounded) for the other to have started: only concurrent
  // execution lets both see the other.
  static std::atomic<int> started{0};
  static std::atomic<int> sawOther{0};
  started = 0;
  sawOther = 0;
  auto rendezvous = [](void *) {
    started.fetch_add(1);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (started.load() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
    if (started.load() >= 2)
      sawOther.fetch_add(1);
  };
  CHECK(cuLaunchHostFunc(a, rendezvous, nullptr) == CUDA_SUCCESS);
  CHECK(cuLaunchHostFunc(b, rendezvous, nullptr) == CUDA_SUCCESS);
  CHECK(cuCtxSynchronize() == CUDA_SUCCESS);
  CHECK(sawOther.load() == 2);
  CHECK(cuStreamDestroy(a) == CUDA_SUCCESS);
  CHECK(cuStreamDestroy(b) == CUDA_SUCCESS);
}

TEST_CASE("stream properties and callbacks") {
  ContextFixture f;
  CUstream s = nullptr;
  REQUIRE(cuStreamCreateWithPriority(&s, CU_STREAM_NON_BLOCKING, -1) == CUDA_SUCCESS);
  int priority = 0;
  unsigned flags = 0;
  CHECK(cuStreamGetPriority(s, &priority) == CUDA_SUCCESS);
  CHECK(priority == -1);
  CHECK(cuStreamGetFlags(s, &flags) == CUDA_SUCCESS);
  CHECK(flags == CU_STREAM_NON_BLOCKING);
  CUcontext ctx = nullptr;
  CHECK(cuStreamGetCtx(s, &ctx) == CUDA_SUCCESS);
  CHECK(ctx == f.ctx);
  static CUresult status = CUDA_ERROR_UNKNOWN;
  static CUstream seenStream = nullptr;
  auto cb = [](CUstream h, CUresult st, void *) {
    status = st;
    seenStream = h;
  };
  CHECK(cuStreamAddCallback(s, cb, nullptr, 0) == CUDA_SUCCESS);
  CHECK(cuStreamAddCallback(s, cb, nullptr, 1) == CUDA_ERROR_INVALID_VALUE);
  CHECK(cuStreamSynchronize(s) == CUDA_SUCCESS);
  CHECK(status == CUDA_SUCCESS);
  CHECK(seenStream == s);
  CHECK(cuStreamDestroy(s) == CUDA_SUCCESS);
}
