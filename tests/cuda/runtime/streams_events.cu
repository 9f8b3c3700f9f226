// Streams, events and host functions: ordering, timing, cross-stream waits,
// legacy/per-thread default stream semantics, real concurrency. No kernels.
//
// Host functions never call CUDA. Every wait in a host function has a timeout,
// so a wrong implementation fails with a message instead of hanging.
#include "check.h"
#include <atomic>
#include <chrono>
#include <mutex>
#include <string.h>
#include <thread>
#include <vector>

using Clock = std::chrono::steady_clock;

static void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Wait until flag becomes nonzero, up to timeout_ms. Returns whether it did.
static bool wait_for(const std::atomic<int> &flag, int timeout_ms) {
  auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!flag.load()) {
    if (Clock::now() > end)
      return false;
    sleep_ms(1);
  }
  return true;
}

// ---- host function helpers --------------------------------------------------
struct Sleep {
  int ms;
};
static void CUDART_CB host_sleep(void *arg) { sleep_ms(((Sleep *)arg)->ms); }

struct SleepThenSet {
  int ms;
  std::atomic<int> *flag;
};
static void CUDART_CB host_sleep_then_set(void *arg) {
  auto *a = (SleepThenSet *)arg;
  sleep_ms(a->ms);
  a->flag->store(1);
}

struct Observe {
  std::atomic<int> *src;
  std::atomic<int> seen;
};
static void CUDART_CB host_observe(void *arg) {
  auto *o = (Observe *)arg;
  o->seen.store(o->src->load() + 100); // +100: distinguishes "ran" from "never ran"
}

struct Gate {
  std::atomic<int> open{0};
  std::atomic<int> entered{0};
  std::atomic<int> timed_out{0};
};
static void CUDART_CB host_wait_gate(void *arg) {
  auto *g = (Gate *)arg;
  g->entered.store(1);
  if (!wait_for(g->open, 10000))
    g->timed_out.store(1);
}

static void CUDART_CB host_set(void *arg) { ((std::atomic<int> *)arg)->store(1); }

// ordering log
static std::mutex log_mu;
static std::vector<int> order_log;
struct Tag {
  int id;
};
static void CUDART_CB host_log(void *arg) {
  std::lock_guard<std::mutex> g(log_mu);
  order_log.push_back(((Tag *)arg)->id);
}
static std::atomic<int> callback_bad_status{0};
static void CUDART_CB stream_callback_log(cudaStream_t, cudaError_t status, void *arg) {
  if (status != cudaSuccess)
    callback_bad_status.store(1);
  host_log(arg);
}

// ---- tests --------------------------------------------------------------------
static void stream_creation() {
  int least = 0, greatest = 0;
  CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  EXPECT(greatest <= least, "priority range least %d greatest %d", least, greatest);
  cudaStream_t s1, s2, s3, s4;
  CHECK(cudaStreamCreate(&s1));
  CHECK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  CHECK(cudaStreamCreateWithPriority(&s3, cudaStreamDefault, least));
  CHECK(cudaStreamCreateWithPriority(&s4, cudaStreamNonBlocking, greatest));
  unsigned f = 99;
  CHECK(cudaStreamGetFlags(s1, &f));
  EXPECT(f == cudaStreamDefault, "s1 flags %u", f);
  CHECK(cudaStreamGetFlags(s2, &f));
  EXPECT(f == cudaStreamNonBlocking, "s2 flags %u", f);
  int prio = 12345;
  CHECK(cudaStreamGetPriority(s3, &prio));
  EXPECT(prio == least, "s3 priority %d, want %d", prio, least);
  CHECK(cudaStreamGetPriority(s4, &prio));
  EXPECT(prio == greatest, "s4 priority %d, want %d", prio, greatest);
  CHECK(cudaStreamGetFlags(s4, &f));
  EXPECT(f == cudaStreamNonBlocking, "s4 flags %u", f);
  for (cudaStream_t s : {s1, s2, s3, s4}) {
    CHECK(cudaStreamQuery(s)); // empty stream: done
    CHECK(cudaStreamSynchronize(s));
    CHECK(cudaStreamDestroy(s));
  }
}

static void copies_in_order() {
  const size_t n = 1 << 20;
  unsigned char *h = nullptr, *out = nullptr, *a = nullptr, *b = nullptr;
  CHECK(cudaMallocHost(&h, n));
  CHECK(cudaMallocHost(&out, n));
  CHECK(cudaMalloc(&a, n));
  CHECK(cudaMalloc(&b, n));
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  for (size_t i = 0; i < n; ++i)
    h[i] = (unsigned char)(i * 13);
  // Each step depends on the previous one; a reordering shows in the result.
  CHECK(cudaMemcpyAsync(a, h, n, cudaMemcpyHostToDevice, s));
  CHECK(cudaMemsetAsync(a, 1, n / 2, s));
  CHECK(cudaMemcpyAsync(b, a, n, cudaMemcpyDeviceToDevice, s));
  CHECK(cudaMemsetAsync(a, 2, n, s));
  CHECK(cudaMemsetAsync(b + n - 16, 3, 16, s));
  CHECK(cudaMemcpyAsync(out, b, n, cudaMemcpyDeviceToHost, s));
  CHECK(cudaMemcpyAsync(h, a, 64, cudaMemcpyDeviceToHost, s));
  CHECK(cudaStreamSynchronize(s));
  for (size_t i = 0; i < n; ++i) {
    unsigned char want = i < n / 2 ? 1 : i >= n - 16 ? 3 : (unsigned char)(i * 13);
    EXPECT(out[i] == want, "in-order async copies: byte %zu = %d, want %d", i, out[i], want);
  }
  for (int i = 0; i < 64; ++i)
    EXPECT(h[i] == 2, "last copy: byte %d = %d", i, h[i]);
  CHECK(cudaStreamDestroy(s));
  CHECK(cudaFree(a));
  CHECK(cudaFree(b));
  CHECK(cudaFreeHost(h));
  CHECK(cudaFreeHost(out));
}

static void event_timing() {
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  cudaEvent_t e0, e1, nt;
  CHECK(cudaEventCreate(&e0));
  CHECK(cudaEventCreate(&e1));
  CHECK(cudaEventCreateWithFlags(&nt, cudaEventDisableTiming));
  CHECK(cudaEventQuery(e0)); // never recorded: complete

  Sleep fifty{50};
  auto t0 = Clock::now();
  CHECK(cudaEventRecord(e0, s));
  CHECK(cudaLaunchHostFunc(s, host_sleep, &fifty));
  CHECK(cudaEventRecord(e1, s));
  CHECK(cudaEventRecord(nt, s));
  CHECK(cudaEventSynchronize(e1));
  double host_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  CHECK(cudaEventQuery(e1));
  float ms = -1;
  CHECK(cudaEventElapsedTime(&ms, e0, e1));
  printf("event elapsed %.3f ms (host measured %.3f ms around a 50 ms host func)\n", ms, host_ms);
  EXPECT(ms >= 40.0f, "elapsed %.3f ms across a 50 ms sleep", ms);
  EXPECT(ms <= host_ms + 5.0, "elapsed %.3f ms exceeds host-measured %.3f ms", ms, host_ms);
  float rev = 0;
  CHECK(cudaEventElapsedTime(&rev, e1, e0));
  EXPECT(rev <= -40.0f, "reversed elapsed %.3f ms", rev);

  CHECK(cudaEventSynchronize(nt));
  EXPECT_ERR(cudaEventElapsedTime(&ms, e0, nt), cudaErrorInvalidResourceHandle);
  EXPECT_ERR(cudaEventElapsedTime(&ms, nt, e1), cudaErrorInvalidResourceHandle);
  (void)cudaGetLastError(); // clear the expected errors

  // Not-yet-complete events: Query and ElapsedTime say NotReady.
  Gate g;
  CHECK(cudaEventRecord(e0, s));
  CHECK(cudaLaunchHostFunc(s, host_wait_gate, &g));
  CHECK(cudaEventRecord(e1, s));
  EXPECT(wait_for(g.entered, 5000), "host func never started");
  EXPECT_ERR(cudaEventQuery(e1), cudaErrorNotReady);
  EXPECT_ERR(cudaEventElapsedTime(&ms, e0, e1), cudaErrorNotReady);
  EXPECT_ERR(cudaStreamQuery(s), cudaErrorNotReady);
  g.open.store(1);
  // cudaErrorNotReady is not an error: it is not recorded as the last error.
  CHECK(cudaGetLastError());
  CHECK(cudaEventSynchronize(e1));
  CHECK(cudaEventQuery(e1));
  CHECK(cudaStreamQuery(s));
  EXPECT(!g.timed_out.load(), "gate host func timed out");
  CHECK(cudaEventElapsedTime(&ms, e0, e1));
  EXPECT(ms >= 0.0f, "elapsed %.3f", ms);

  // Blocking-sync events: cudaEventSynchronize sleeps instead of spinning,
  // same semantics.
  cudaEvent_t bs;
  CHECK(cudaEventCreateWithFlags(&bs, cudaEventBlockingSync));
  std::atomic<int> flag{0};
  SleepThenSet slow{30, &flag};
  CHECK(cudaLaunchHostFunc(s, host_sleep_then_set, &slow));
  CHECK(cudaEventRecordWithFlags(bs, s, cudaEventRecordDefault));
  CHECK(cudaEventSynchronize(bs));
  EXPECT(flag.load() == 1, "cudaEventSynchronize(blocking-sync event) returned before the work before it");
  CHECK(cudaEventDestroy(bs));

  CHECK(cudaEventDestroy(e0));
  CHECK(cudaEventDestroy(e1));
  CHECK(cudaEventDestroy(nt));
  CHECK(cudaStreamDestroy(s));
}

static void stream_wait_event() {
  cudaStream_t a, b;
  CHECK(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
  CHECK(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
  cudaEvent_t ev;
  CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
  std::atomic<int> done{0};
  SleepThenSet slow{100, &done};
  Observe obs{&done, {0}};
  CHECK(cudaLaunchHostFunc(a, host_sleep_then_set, &slow));
  CHECK(cudaEventRecord(ev, a));
  CHECK(cudaStreamWaitEvent(b, ev, 0));
  CHECK(cudaLaunchHostFunc(b, host_observe, &obs));
  CHECK(cudaStreamSynchronize(b));
  int seen = obs.seen.load();
  CHECK(cudaStreamSynchronize(a));
  EXPECT(seen == 101, "stream B's host func ran before stream A's side effect (saw %d, want 101)", seen);

  // Waiting on a never-recorded event is a no-op.
  cudaEvent_t fresh;
  CHECK(cudaEventCreate(&fresh));
  CHECK(cudaStreamWaitEvent(b, fresh, 0));
  CHECK(cudaStreamSynchronize(b));
  CHECK(cudaEventDestroy(fresh));
  CHECK(cudaEventDestroy(ev));
  CHECK(cudaStreamDestroy(a));
  CHECK(cudaStreamDestroy(b));
}

static void host_func_order() {
  cudaStream_t s;
  CHECK(cudaStreamCreate(&s));
  order_log.clear();
  std::vector<Tag> tags(40);
  Sleep tiny{1};
  for (int i = 0; i < 40; ++i) {
    tags[i].id = i;
    if (i % 2)
      CHECK(cudaStreamAddCallback(s, stream_callback_log, &tags[i], 0));
    else
      CHECK(cudaLaunchHostFunc(s, host_log, &tags[i]));
    if (i % 7 == 0)
      CHECK(cudaLaunchHostFunc(s, host_sleep, &tiny));
  }
  CHECK(cudaStreamSynchronize(s));
  EXPECT(order_log.size() == 40, "%zu of 40 host functions ran", order_log.size());
  for (int i = 0; i < 40; ++i)
    EXPECT(order_log[i] == i, "host function %d ran at position %d", order_log[i], i);
  EXPECT(!callback_bad_status.load(), "a stream callback got a non-success status");
  CHECK(cudaStreamDestroy(s));
}

// Legacy default stream: it waits for all work in blocking streams, and
// blocking streams wait for it; non-blocking streams are exempt.
static void legacy_default_stream() {
  cudaStream_t blocking;
  CHECK(cudaStreamCreate(&blocking));
  {
    std::atomic<int> flag{0};
    SleepThenSet slow{100, &flag};
    Observe obs{&flag, {0}};
    CHECK(cudaLaunchHostFunc(blocking, host_sleep_then_set, &slow));
    CHECK(cudaLaunchHostFunc(cudaStreamLegacy, host_observe, &obs));
    CHECK(cudaStreamSynchronize(cudaStreamLegacy));
    int seen = obs.seen.load();
    CHECK(cudaStreamSynchronize(blocking)); // `slow` must outlive its host func
    EXPECT(seen == 101, "legacy default stream did not wait for a blocking stream (saw %d, want 101)", seen);
  }
  {
    std::atomic<int> flag{0};
    SleepThenSet slow{100, &flag};
    Observe obs{&flag, {0}};
    CHECK(cudaLaunchHostFunc(cudaStreamLegacy, host_sleep_then_set, &slow));
    CHECK(cudaLaunchHostFunc(blocking, host_observe, &obs));
    CHECK(cudaStreamSynchronize(blocking));
    int seen = obs.seen.load();
    CHECK(cudaStreamSynchronize(cudaStreamLegacy));
    EXPECT(seen == 101, "blocking stream did not wait for the legacy default stream (saw %d, want 101)",
           seen);
  }
  {
    cudaStream_t nb;
    CHECK(cudaStreamCreateWithFlags(&nb, cudaStreamNonBlocking));
    Gate g;
    std::atomic<int> ran{0};
    CHECK(cudaLaunchHostFunc(nb, host_wait_gate, &g));
    EXPECT(wait_for(g.entered, 5000), "non-blocking stream's host func never started");
    CHECK(cudaLaunchHostFunc(cudaStreamLegacy, host_set, &ran));
    bool ok = wait_for(ran, 3000);
    g.open.store(1);
    CHECK(cudaStreamSynchronize(nb));
    CHECK(cudaStreamSynchronize(cudaStreamLegacy));
    EXPECT(ok, "legacy default stream waited for a non-blocking stream");
    EXPECT(!g.timed_out.load(), "gate timed out");
    CHECK(cudaStreamDestroy(nb));
  }
  CHECK(cudaStreamDestroy(blocking));
}

// Each host thread's per-thread default stream is independent of the others'.
// `stream` is cudaStreamPerThread, or 0 when built with
// --default-stream per-thread (where 0 means the per-thread stream).
static void per_thread_default_stream(cudaStream_t stream, const char *what) {
  Gate g;
  std::atomic<int> ran{0};
  std::atomic<int> other_ok{0};
  CHECK(cudaLaunchHostFunc(stream, host_wait_gate, &g));
  EXPECT(wait_for(g.entered, 5000), "%s: host func never started", what);
  std::thread t([&] {
    CHECK(cudaLaunchHostFunc(stream, host_set, &ran));
    CHECK(cudaStreamSynchronize(stream));
    other_ok.store(ran.load());
  });
  bool ok = wait_for(other_ok, 3000);
  g.open.store(1);
  t.join();
  CHECK(cudaStreamSynchronize(stream));
  EXPECT(ok, "%s: another thread's per-thread stream waited for this thread's", what);
  EXPECT(!g.timed_out.load(), "%s: gate timed out", what);

  // Within one thread, the per-thread stream is ordered.
  std::atomic<int> flag{0};
  SleepThenSet slow{30, &flag};
  Observe obs{&flag, {0}};
  CHECK(cudaLaunchHostFunc(stream, host_sleep_then_set, &slow));
  CHECK(cudaLaunchHostFunc(stream, host_observe, &obs));
  CHECK(cudaStreamSynchronize(stream));
  EXPECT(obs.seen.load() == 101, "%s: per-thread stream out of order", what);
}

// Two streams, each running a host func that waits for the other to start:
// only a really concurrent implementation lets both finish without timing out.
struct Rendezvous {
  std::atomic<int> *mine, *other;
  std::atomic<int> ok{0};
};
static void CUDART_CB host_rendezvous(void *arg) {
  auto *r = (Rendezvous *)arg;
  r->mine->store(1);
  r->ok.store(wait_for(*r->other, 5000) ? 1 : 0);
}
static void concurrency() {
  cudaStream_t s1, s2;
  CHECK(cudaStreamCreateWithFlags(&s1, cudaStreamNonBlocking));
  CHECK(cudaStreamCreateWithFlags(&s2, cudaStreamNonBlocking));
  std::atomic<int> started1{0}, started2{0};
  Rendezvous r1{&started1, &started2}, r2{&started2, &started1};
  CHECK(cudaLaunchHostFunc(s1, host_rendezvous, &r1));
  CHECK(cudaLaunchHostFunc(s2, host_rendezvous, &r2));
  CHECK(cudaStreamSynchronize(s1));
  CHECK(cudaStreamSynchronize(s2));
  EXPECT(
      r1.ok.load() && r2.ok.load(),
      "host funcs on two streams did not run concurrently (stream1 saw stream2: %d, stream2 saw stream1: %d)",
      r1.ok.load(), r2.ok.load());
  CHECK(cudaStreamDestroy(s1));
  CHECK(cudaStreamDestroy(s2));
}

static void device_synchronize_waits_for_all() {
  cudaStream_t s[3];
  std::atomic<int> flags[3];
  SleepThenSet slow[3];
  for (int i = 0; i < 3; ++i) {
    flags[i].store(0);
    slow[i] = {20 * (i + 1), &flags[i]};
    CHECK(cudaStreamCreateWithFlags(&s[i], cudaStreamNonBlocking));
    CHECK(cudaLaunchHostFunc(s[i], host_sleep_then_set, &slow[i]));
  }
  CHECK(cudaDeviceSynchronize());
  for (int i = 0; i < 3; ++i)
    EXPECT(flags[i].load() == 1, "cudaDeviceSynchronize returned before stream %d finished", i);
  for (int i = 0; i < 3; ++i)
    CHECK(cudaStreamDestroy(s[i]));
}

int main() {
  CHECK(cudaSetDevice(0));
  stream_creation();
  copies_in_order();
  event_timing();
  stream_wait_event();
  host_func_order();
  legacy_default_stream();
  per_thread_default_stream(cudaStreamPerThread, "cudaStreamPerThread");
#ifdef CUDA_API_PER_THREAD_DEFAULT_STREAM
  per_thread_default_stream(0, "stream 0 under --default-stream per-thread");
#endif
  concurrency();
  device_synchronize_waits_for_all();
  CHECK(cudaGetLastError());
#ifdef CUDA_API_PER_THREAD_DEFAULT_STREAM
  PASSED("streams_events (per-thread default stream)");
#else
  PASSED("streams_events");
#endif
  return 0;
}
