// The dispatcher of block functions with barriers or warp collectives. Each
// round runs every waiting thread up to its next barrier/collective/exit; a
// round in which all threads agree (the ordinary case) uses the region's
// vectorisable loop, any other mix the generic loop that switches per thread.
#include "translate/cpu/jit/block_runtime.h"
#include <chrono>
#include <cstdlib>
#include <memory>
#include <pthread.h>
#include <thread>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

namespace cuvirt::cpu::jit {
namespace {

constexpr std::size_t alignUp(std::size_t v, std::size_t a) { return (v + a - 1) / a * a; }

// One block runs at a time per worker thread, so a grow-only buffer per thread
// holds the per-thread frames without a malloc per block.
struct Scratch {
  std::unique_ptr<std::uint8_t, decltype(&std::free)> data{nullptr, &std::free};
  std::size_t size = 0;
  std::uint8_t *get(std::size_t bytes) {
    if (bytes > size) {
      std::size_t want = alignUp(std::max<std::size_t>(bytes, 64 * 1024), 4096);
      data.reset(static_cast<std::uint8_t *>(std::aligned_alloc(64, want)));
      size = data ? want : 0;
    }
    return data.get();
  }
};
thread_local Scratch scratch;

void evalBarRed(const KernelDesc &d, const std::int32_t *state, CollSlot *coll, std::uint32_t n) {
  std::uint64_t popc = 0;
  bool all = true, any = false;
  for (std::uint32_t t = 0; t < n; ++t) {
    std::int32_t s = state[t] & ~kParked;
    if (s >= d.numResume)
      continue;
    std::int32_t k = d.kinds[s];
    if (k < kBarRedPopc || k > kBarRedOr)
      continue;
    bool p = coll[t].pred != 0;
    popc += p;
    all = all && p;
    any = any || p;
  }
  for (std::uint32_t t = 0; t < n; ++t) {
    std::int32_t s = state[t] & ~kParked;
    if (s >= d.numResume)
      continue;
    std::int32_t k = d.kinds[s];
    if (k == kBarRedPopc)
      coll[t].result = popc;
    else if (k == kBarRedAnd)
      coll[t].result = all;
    else if (k == kBarRedOr)
      coll[t].result = any;
  }
}

// Clears the parked bits and returns the state every thread that has not
// exited holds, -1 if they differ, kExit if all have exited. Runs once per
// round of a mixed block (e.g. warp 0's shuffles after the other warps have
// returned): four lanes at a time.
std::int32_t liveAgreement(std::int32_t *state, std::uint32_t n) {
  std::uint32_t t = 0;
  std::int32_t first = kExit;
  while (t < n && first == kExit) { // kExit has no parked bit
    state[t] &= ~kParked;
    first = state[t++];
  }
  if (first == kExit)
    return kExit;
  bool differ = false;
#ifdef __SSE2__
  const __m128i park = _mm_set1_epi32(~kParked), ex = _mm_set1_epi32(kExit), ag = _mm_set1_epi32(first);
  __m128i ok = _mm_set1_epi32(-1);
  for (; t + 4 <= n; t += 4) {
    auto *p = reinterpret_cast<__m128i *>(state + t);
    __m128i v = _mm_and_si128(_mm_loadu_si128(p), park);
    _mm_storeu_si128(p, v);
    ok = _mm_and_si128(ok, _mm_or_si128(_mm_cmpeq_epi32(v, ag), _mm_cmpeq_epi32(v, ex)));
  }
  differ = _mm_movemask_epi8(ok) != 0xffff;
#endif
  for (; t < n; ++t) {
    state[t] &= ~kParked;
    differ = differ || (state[t] != kExit && state[t] != first);
  }
  return differ ? -1 : first;
}

// Bit l set when lane l of a warp (`lanes` of them from s) is in state `st`.
std::uint32_t lanesIn(const std::int32_t *s, std::uint32_t lanes, std::int32_t st) {
  std::uint32_t m = 0, l = 0;
#ifdef __SSE2__
  const __m128i v = _mm_set1_epi32(st);
  for (; l + 4 <= lanes; l += 4) {
    __m128i eq = _mm_cmpeq_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i *>(s + l)), v);
    m |= std::uint32_t(_mm_movemask_ps(_mm_castsi128_ps(eq))) << l;
  }
#endif
  for (; l < lanes; ++l)
    m |= std::uint32_t(s[l] == st) << l;
  return m;
}

} // namespace
} // namespace cuvirt::cpu::jit

using namespace cuvirt::cpu::jit;

// isspacep.local: a thread's local memory is its slot in this worker's frame
// buffer, or (for out-of-line device functions) the worker's own stack.
extern "C" __attribute__((visibility("default"))) bool cuvirt_cpu_islocal(std::uint64_t addr) {
  auto within = [addr](const void *begin, std::size_t size) {
    return addr - reinterpret_cast<std::uintptr_t>(begin) < size;
  };
  if (scratch.data && within(scratch.data.get(), scratch.size))
    return true;
  thread_local std::pair<void *, std::size_t> stack = [] {
    std::pair<void *, std::size_t> s{nullptr, 0};
    pthread_attr_t attr;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &s.first, &s.second);
      pthread_attr_destroy(&attr);
    }
    return s;
  }();
  return stack.second != 0 && within(stack.first, stack.second);
}

extern "C" __attribute__((visibility("default"))) void cuvirt_cpu_jit_run(cuvirt::cpu::BlockEnv *env,
                                                                          const KernelDesc *desc) {
  const KernelDesc &d = *desc;
  std::uint32_t n = env->blockDim[0] * env->blockDim[1] * env->blockDim[2];
  std::size_t frameBytes = alignUp(std::size_t(n) * std::size_t(d.frameBytes), 64);
  // state[n]: the lockstep flag; state[n + 1]: 1 + the last live thread (fastLive regions)
  std::size_t stateBytes = alignUp((std::size_t(n) + 2) * 4, 64);
  std::uint8_t *base = scratch.get(frameBytes + stateBytes + std::size_t(n) * sizeof(CollSlot));
  if (!base)
    std::abort(); // out of memory for the block's frames: nothing sensible to return
  std::uint8_t *frame = base;
  auto *state = reinterpret_cast<std::int32_t *>(base + frameBytes);
  auto *coll = reinterpret_cast<CollSlot *>(base + frameBytes + stateBytes);

  // state[n] != 0 while every round has been a fast one (all threads from
  // one resume point to one other): loop counters are then the same in
  // every thread (see blockify's loop rounds).
  state[n] = 1;
  // Threads at and past liveEnd have exited (an exit is final): the scans of
  // mixed rounds stop there (warp 0's shuffles after warps 1-7 returned scan
  // 32 states, not 256).
  std::uint32_t liveEnd = n;
  std::int32_t s = d.fast[0](env, frame, state, coll);
  for (;;) {
    if (s == kExit)
      return;
    if (s >= 0 && s < d.numResume) {
      // Every thread stopped at the same point: evaluate it, resume them all.
      std::int32_t k = d.kinds[s];
      if (isWarpKind(k) && d.shfl[3 * s] < 0) // inline shuffles: the region reads the lanes itself
        evalWarpCollectives(d, state, coll, n, frame);
      else if (k >= kBarRedPopc && k <= kBarRedOr)
        evalBarRed(d, state, coll, n);
      s = d.fast[s](env, frame, state, coll);
      continue;
    }
    // A mix: threads in a loop round run first (they wait for nothing), then
    // warp collectives, block barriers only once every thread is at one (or
    // has exited).
    state[n] = 0;
    std::int32_t agreed = liveAgreement(state, liveEnd);
    if (agreed == kExit)
      return; // every thread has exited
    if (agreed >= 0) {
      // The threads still running agree: as above, skipping the exited ones.
      std::int32_t k = d.kinds[agreed];
      while (liveEnd > 0 && state[liveEnd - 1] == kExit)
        --liveEnd;
      if (isWarpKind(k) && d.shfl[3 * agreed] >= 0) {
        for (std::uint32_t w = 0; w * 32 < liveEnd; ++w)
          coll[w * 32].pad = lanesIn(state + w * 32, std::min(32u, n - w * 32), agreed);
      } else if (isWarpKind(k)) {
        evalWarpCollectives(d, state, coll, n, frame);
      } else if (k >= kBarRedPopc && k <= kBarRedOr) {
        evalBarRed(d, state, coll, n);
      }
      state[n + 1] = std::int32_t(liveEnd);
      s = d.fastLive[agreed](env, frame, state, coll);
      continue;
    }
    bool inLoop = false;
    for (std::uint32_t t = 0; t < n && !inLoop; ++t)
      inLoop = state[t] != kExit && d.kinds[state[t]] == kLoop;
    if (inLoop) {
      for (std::uint32_t t = 0; t < n; ++t)
        if (state[t] != kExit && d.kinds[state[t]] != kLoop)
          state[t] |= kParked;
      s = d.generic(env, frame, state, coll);
      continue;
    }
    bool pendingWarp = false, live = false;
    for (std::uint32_t t = 0; t < n; ++t) {
      std::int32_t st = state[t];
      if (st >= 0 && st < d.numResume && isWarpKind(d.kinds[st]))
        pendingWarp = true;
      if (st != kExit)
        live = true;
    }
    if (!live)
      return;
    if (pendingWarp) {
      evalWarpCollectives(d, state, coll, n, frame, /*deferUnready=*/true);
      for (std::uint32_t t = 0; t < n; ++t)
        if (state[t] >= 0 && state[t] < d.numResume && !isWarpKind(d.kinds[state[t]]))
          state[t] |= kParked;
    } else {
      for (std::uint32_t t = 0; t < n; ++t)
        if (state[t] != kExit)
          state[t] &= ~kParked;
      evalBarRed(d, state, coll, n);
    }
    s = d.generic(env, frame, state, coll);
  }
}

extern "C" __attribute__((visibility("default"))) bool cuvirt_cpu_jit_uniform64(const std::uint64_t *p,
                                                                                std::uint64_t n) {
  // Runs once per loop round: eight independent lanes, so it vectorises.
  const std::uint64_t v = p[0];
  std::uint64_t d[8] = {};
  std::uint64_t t = 0;
  for (; t + 8 <= n; t += 8)
    for (int k = 0; k < 8; ++k)
      d[k] |= p[t + std::uint64_t(k)] ^ v;
  for (; t < n; ++t)
    d[0] |= p[t] ^ v;
  return (d[0] | d[1] | d[2] | d[3] | d[4] | d[5] | d[6] | d[7]) == 0;
}

extern "C" __attribute__((visibility("default"))) std::uint64_t cuvirt_cpu_jit_globaltimer() {
  return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count());
}

extern "C" __attribute__((visibility("default"))) std::uint32_t cuvirt_cpu_jit_nsmid() {
  static const std::uint32_t n = std::max(1u, std::thread::hardware_concurrency());
  return n;
}
